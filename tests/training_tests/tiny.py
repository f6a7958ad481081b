"""A tiny real model and a hand-built dataset with a pattern to learn, for trainer tests.

The data: every user walks the item cycle 1, 2, ..., N_ITEMS, 1, ... from its own start, so the
next item is always the last item + 1. The model: a bigram (the last item's embedding scored
against every item), which can learn that rule in a few epochs.
"""

from __future__ import annotations

import torch
from torch import nn

from tuner.data.dataset import SequentialDataset, Split
from tuner.models.base import Batch, SequentialRecommender

N_ITEMS = 12  # real items; ids 1..N_ITEMS, 0 is padding
N_USERS = 16
WALK = 9  # items per user: 7 training targets, one valid, one test
L = 4  # sequence length


class Bigram(SequentialRecommender):
    """Scores items by the dot product with the last item's embedding; CE or BPR loss."""

    def __init__(self, n_item_ids: int, dim: int = 8, loss_type: str = "CE", loss_scale: float = 1.0):
        super().__init__()
        self.items = nn.Embedding(n_item_ids, dim, padding_idx=0)
        self.out = nn.Embedding(n_item_ids, dim)
        self.loss_type = loss_type
        self.needs_negative = loss_type == "BPR"
        self.loss_scale = loss_scale  # inf makes a run whose loss is not finite
        self.seen_batches: list[Batch] = []  # what the trainer fed it, for inspection
        self.record_batches = False

    def sequence_representation(self, batch: Batch) -> torch.Tensor:
        last = batch.item_seq.gather(1, (batch.item_len - 1).unsqueeze(1)).squeeze(1)  # (B,)
        return self.items(last)  # (B, d)

    def loss(self, batch: Batch) -> torch.Tensor:
        if self.record_batches:
            self.seen_batches.append(batch)
        seq = self.sequence_representation(batch)
        if self.loss_type == "BPR":
            pos = (seq * self.out(batch.target)).sum(-1)
            neg = (seq * self.out(batch.neg_item)).sum(-1)
            loss = -torch.nn.functional.logsigmoid(pos - neg).mean()
        else:
            loss = torch.nn.functional.cross_entropy(seq @ self.out.weight.T, batch.target)
        return loss * self.loss_scale

    def full_sort_scores(self, batch: Batch) -> torch.Tensor:
        return self.sequence_representation(batch) @ self.out.weight.T  # (B, n_item_ids)


def _split(rows: list[tuple[int, list[int], int]]) -> Split:
    seqs = torch.zeros(len(rows), L, dtype=torch.long)
    for i, (_, history, _) in enumerate(rows):
        history = history[-L:]
        seqs[i, : len(history)] = torch.tensor(history)
    return Split(
        user=torch.tensor([r[0] for r in rows]),
        item_seq=seqs,
        item_len=torch.tensor([min(len(r[1]), L) for r in rows]),
        target=torch.tensor([r[2] for r in rows]),
    )


def cycle_dataset(contradicting_valid: bool = False) -> SequentialDataset:
    """Leave-one-out split of the users' walks: all prefixes train, the last two items valid and test.

    ``contradicting_valid`` makes each validation target the item *before* the last one, so the
    better the model learns the training pattern, the worse it validates.
    """
    train, valid, test = [], [], []
    for user in range(1, N_USERS + 1):
        walk = [(user + step) % N_ITEMS + 1 for step in range(WALK)]
        for t in range(1, WALK):
            row = (user, walk[:t], walk[t])
            if t == WALK - 2 and contradicting_valid:
                row = (user, walk[:t], walk[t - 2])
            (test if t == WALK - 1 else valid if t == WALK - 2 else train).append(row)
    return SequentialDataset(
        name="cycle",
        n_user_ids=N_USERS + 1,
        n_item_ids=N_ITEMS + 1,
        n_interactions=N_USERS * WALK,
        train=_split(train),
        valid=_split(valid),
        test=_split(test),
        user_tokens=["[PAD]"] + [str(u) for u in range(1, N_USERS + 1)],
        item_tokens=["[PAD]"] + [str(i) for i in range(1, N_ITEMS + 1)],
    )
