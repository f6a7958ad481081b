"""Training batches: RecBole's shuffling order, every example once, negatives that skip the target."""

from __future__ import annotations

import pytest
import torch

from tuner.data.dataset import Split
from tuner.training.batches import ShuffledBatches


def numbered_split(n: int) -> Split:
    # target i + 1 lets a batch be traced back to its examples
    return Split(
        user=torch.arange(n),
        item_seq=torch.arange(n).unsqueeze(1).repeat(1, 3),
        item_len=torch.full((n,), 3),
        target=torch.arange(n) % 7 + 1,
    )


def test_same_batches_as_a_seeded_torch_dataloader_epoch_after_epoch():
    # RecBole's training DataLoader: shuffle=True with a generator seeded by `seed`, no drop_last.
    n, batch_size, seed = 1000, 96, 2020
    loader = torch.utils.data.DataLoader(
        list(range(n)), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
        collate_fn=lambda rows: rows,
    )
    ours = ShuffledBatches(numbered_split(n), batch_size, seed, n_item_ids=8)
    for _ in range(3):
        expected = [batch for batch in loader]
        got = [batch.user.tolist() for batch in ours.epoch()]
        assert got == expected


def test_every_example_once_per_epoch_with_a_short_last_batch():
    batches = list(ShuffledBatches(numbered_split(10), 4, 1, n_item_ids=8).epoch())
    assert [len(b.user) for b in batches] == [4, 4, 2]
    users = torch.cat([b.user for b in batches])
    assert sorted(users.tolist()) == list(range(10))
    for b in batches:  # rows stay together
        assert torch.equal(b.item_seq[:, 0], b.user) and torch.equal(b.target, b.user % 7 + 1)
        assert b.neg_item is None


def test_negatives_are_uniform_over_real_items_except_the_target():
    n_item_ids = 6  # real items 1..5
    split = Split(
        user=torch.zeros(30000, dtype=torch.long),
        item_seq=torch.ones(30000, 1, dtype=torch.long),
        item_len=torch.ones(30000, dtype=torch.long),
        target=torch.full((30000,), 3),
    )
    batches = ShuffledBatches(split, 30000, 0, n_item_ids=n_item_ids, negatives=True)
    neg = next(batches.epoch()).neg_item
    counts = torch.bincount(neg, minlength=n_item_ids).tolist()
    assert counts[0] == 0 and counts[3] == 0  # never padding, never the positive
    for item in (1, 2, 4, 5):
        assert counts[item] == pytest.approx(30000 / 4, rel=0.05)


def test_negatives_may_be_history_items_as_in_recbole():
    # RecBole's RepeatableSampler excludes only the positive item, so items of the history are drawn too.
    split = Split(
        user=torch.zeros(4000, dtype=torch.long),
        item_seq=torch.tensor([[1, 2]]).repeat(4000, 1),
        item_len=torch.full((4000,), 2),
        target=torch.full((4000,), 3),
    )
    neg = next(ShuffledBatches(split, 4000, 0, n_item_ids=5, negatives=True).epoch()).neg_item
    assert set(neg.tolist()) == {1, 2, 4}
