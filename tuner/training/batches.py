"""Batches cut from a split that already lives on the training device.

The whole split is a handful of (N, L) tensors, so it moves to the device once and every batch is
an ``index_select`` of shuffled indices: no DataLoader, no per-example Python, no host copies.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from tuner.data.dataset import Split
from tuner.models.base import Batch
from tuner.models.losses import sample_negatives


def split_to_device(split: Split, device: torch.device) -> Split:
    """The same examples with contiguous long tensors on ``device``."""
    move = lambda t: t.to(device=device, dtype=torch.long).contiguous()  # noqa: E731
    return Split(move(split.user), move(split.item_seq), move(split.item_len), move(split.target))


def take(split: Split, index: torch.Tensor | slice, neg_item: torch.Tensor | None = None) -> Batch:
    """The examples at ``index`` (a long tensor on the split's device, or a slice) as a :class:`Batch`."""
    if isinstance(index, slice):
        return Batch(split.user[index], split.item_seq[index], split.item_len[index], split.target[index], neg_item)
    return Batch(
        split.user.index_select(0, index),
        split.item_seq.index_select(0, index),  # (B, L)
        split.item_len.index_select(0, index),
        split.target.index_select(0, index),
        neg_item,
    )


def eval_batches(split: Split, batch_size: int) -> Iterator[Batch]:
    """Consecutive batches in split order (evaluation needs no shuffling)."""
    for start in range(0, len(split), batch_size):
        yield take(split, slice(start, start + batch_size))


class ShuffledBatches:
    """Training batches in a new random order every epoch, as RecBole's training DataLoader gives them.

    RecBole's DataLoader shuffles with a CPU ``torch.Generator`` seeded with ``seed``. Each epoch
    torch's DataLoader draws from it a base seed for its iterator, the permutation it uses, and a
    second permutation it throws away (``RandomSampler`` ends with an empty tail slice of one). We
    make the same three draws, so with the same example order our batches hold the same examples
    as RecBole's, epoch after epoch. The last batch may be short.

    With ``negatives=True`` each example also gets one negative item for BPR, uniform over the real
    items except the example's own target: RecBole's ``RepeatableSampler`` (the sampler of
    sequential models) excludes only the positive item, not the rest of the user's history. Drawing
    from ``n_item_ids - 2`` values and stepping over the target gives that distribution without
    RecBole's rejection loop.
    """

    def __init__(self, split: Split, batch_size: int, seed: int, *, n_item_ids: int, negatives: bool = False):
        if negatives and n_item_ids < 3:
            raise ValueError("BPR negative sampling needs at least two real items")
        self.split = split
        self.batch_size = batch_size
        self.n_item_ids = n_item_ids
        self.negatives = negatives
        self.device = split.target.device
        self._order = torch.Generator().manual_seed(seed)  # CPU, like RecBole's DataLoader generator
        self._negative = torch.Generator(device=self.device).manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.split) // self.batch_size)

    def epoch(self) -> Iterator[Batch]:
        n = len(self.split)
        torch.empty((), dtype=torch.int64).random_(generator=self._order)  # DataLoader's iterator seed
        order = torch.randperm(n, generator=self._order)  # (N,)
        torch.randperm(n, generator=self._order)  # RandomSampler's discarded tail
        order = order.to(self.device)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            target = self.split.target.index_select(0, index)
            neg_item = self.sample_negatives(target) if self.negatives else None
            yield take(self.split, index, neg_item)

    def sample_negatives(self, target: torch.Tensor) -> torch.Tensor:
        """(B,) uniform over ``1 .. n_item_ids - 1`` minus each row's target."""
        return sample_negatives(target, self.n_item_ids, self._negative)
