"""Full-sort metrics on rankings computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from tuner.data.dataset import Split
from tuner.errors import ConfigError
from tuner.models.base import Batch, SequentialRecommender
from tuner.training.evaluation import evaluate
from tuner.training.metrics import metric_sums, parse_metric_at_k, target_ranks

ALL = ["recall", "ndcg", "mrr", "hit", "precision"]


class FixedScores(SequentialRecommender):
    """Returns a given score row per user id (a real model with nothing to learn)."""

    def __init__(self, scores: torch.Tensor):
        super().__init__()
        self.register_buffer("scores", scores.clone())

    def sequence_representation(self, batch: Batch) -> torch.Tensor:
        return self.scores[batch.user]

    def loss(self, batch: Batch) -> torch.Tensor:
        return self.scores.sum() * 0

    def full_sort_scores(self, batch: Batch) -> torch.Tensor:
        return self.scores[batch.user].clone()


def run(scores: list[list[float]], targets: list[int], topk: list[int], history: list[list[int]] | None = None):
    n = len(targets)
    seq = torch.tensor(history) if history else torch.ones(n, 1, dtype=torch.long)
    split = Split(
        user=torch.arange(n),
        item_seq=seq,
        item_len=torch.full((n,), seq.shape[1]),
        target=torch.tensor(targets),
    )
    return evaluate(FixedScores(torch.tensor(scores)), split, metrics=ALL, topk=topk, batch_size=2)


# Item 0 is padding; by score the real items rank 2 (0.9), 4 (0.7), 1 (0.5), 5 (0.3), 3 (0.1).
ROW = [9.0, 0.5, 0.9, 0.1, 0.7, 0.3]


def test_target_at_rank_three():
    got = run([ROW], [1], [10])
    assert got["hit@10"] == 1.0 and got["recall@10"] == 1.0
    assert got["ndcg@10"] == pytest.approx(1 / math.log2(4))
    assert got["mrr@10"] == pytest.approx(1 / 3)
    assert got["precision@10"] == pytest.approx(1 / 10)


def test_target_exactly_at_rank_k_counts_and_at_k_plus_one_does_not():
    got = run([ROW], [1], [2, 3])
    assert got["hit@3"] == 1.0 and got["ndcg@3"] == pytest.approx(0.5) and got["precision@3"] == pytest.approx(1 / 3)
    assert got["mrr@3"] == pytest.approx(1 / 3)
    assert all(got[f"{m}@2"] == 0.0 for m in ALL)


def test_k_larger_than_the_number_of_items():
    # 5 real items, K = 100: the last real item (3) is at rank 5 and still a hit; precision divides by K.
    got = run([ROW], [3], [100])
    assert got["hit@100"] == 1.0
    assert got["ndcg@100"] == pytest.approx(1 / math.log2(6))
    assert got["mrr@100"] == pytest.approx(1 / 5)
    assert got["precision@100"] == pytest.approx(1 / 100)


def test_padding_never_ranks_even_with_the_highest_score():
    got = run([ROW], [2], [1])  # item 2 is first only because padding's 9.0 becomes -inf
    assert got["hit@1"] == 1.0 and got["ndcg@1"] == 1.0


def test_history_items_are_not_masked():
    # Item 2 (the best score) is in the history; RecBole's sequential full sort keeps it, so item 4 is second.
    got = run([ROW], [4], [1, 2], history=[[2, 4]])
    assert got["hit@1"] == 0.0 and got["hit@2"] == 1.0 and got["mrr@2"] == pytest.approx(0.5)


def test_means_over_examples_across_batches():
    # Three users (batch_size=2 makes two batches): ranks 1, 3 and a miss at K=3.
    got = run([ROW, ROW, ROW], [2, 1, 3], [3])
    assert got["hit@3"] == pytest.approx(2 / 3)
    assert got["ndcg@3"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert got["mrr@3"] == pytest.approx((1 + 1 / 3) / 3)
    assert got["precision@3"] == pytest.approx((1 / 3 + 1 / 3) / 3)


def test_ties_above_the_target_push_it_down_by_their_count():
    # Items 1..3 tie at 0.8, the target 4 scores 0.5: rank 4 whatever order the tie takes.
    got = run([[0.0, 0.8, 0.8, 0.8, 0.5, 0.1]], [4], [4, 3])
    assert got["mrr@4"] == pytest.approx(1 / 4) and got["hit@3"] == 0.0


def test_a_tied_target_takes_its_position_in_torch_topk_like_recbole():
    # Target 3 ties with items 2 and 5 for ranks 2..4 (item 1 is first). RecBole reads the position from
    # torch.topk, whose order among equal values torch leaves open; we report exactly that position.
    # The order depends on the whole row and on k, so ask topk the question RecBole asks: the row with
    # padding at -inf, k = max(topk).
    scores = torch.tensor([[-1.0, 0.9, 0.4, 0.4, 0.1, 0.4]])
    masked = torch.cat([torch.full((1, 1), -math.inf), scores[:, 1:]], 1)
    expected = int((torch.topk(masked, 5).indices[0] == 3).nonzero()) + 1
    ranks = target_ranks(masked, torch.tensor([3]), 5)
    assert 2 <= int(ranks[0]) <= 4
    assert int(ranks[0]) == expected
    got = run(scores.tolist(), [3], [5])
    assert got["mrr@5"] == pytest.approx(1 / expected)


def test_rank_is_zero_when_the_target_is_outside_the_top_k():
    ranks = target_ranks(torch.tensor([[-math.inf, 3.0, 2.0, 1.0]]), torch.tensor([3]), 2)
    assert ranks.tolist() == [0]
    assert metric_sums(ranks, ALL, [2]) == {f"{m}@2": 0.0 for m in ALL}


def test_metric_names_parse_to_lowercase_keys():
    assert parse_metric_at_k("NDCG@10") == ("ndcg", 10)
    assert parse_metric_at_k("hit@5") == ("hit", 5)
    for bad in ["NDCG", "AUC@10", "NDCG@0", "ndcg@x"]:
        with pytest.raises(ConfigError, match="METRIC@K"):
            parse_metric_at_k(bad)
