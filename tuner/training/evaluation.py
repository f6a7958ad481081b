"""Full-sort evaluation of a model on one split, RecBole's way for sequential models.

Every item is scored, the padding item is set to ``-inf``, and nothing else is masked: items of the
user's history stay rankable (RecBole's ``FullSortEvalDataLoader`` passes no history index for
sequential datasets). Scores never leave the device; only per-batch sums do, and the targets' ranks
when the caller asks to keep them (still on the device, in the split's row order).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tuner.data.dataset import Split
from tuner.models.base import SequentialRecommender
from tuner.training.batches import eval_batches
from tuner.training.metrics import mean_metrics, metric_sums, target_ranks


def evaluate(
    model: SequentialRecommender,
    split: Split,
    *,
    metrics: Sequence[str],
    topk: Sequence[int],
    batch_size: int,
    ranks: list[torch.Tensor] | None = None,
) -> dict[str, float]:
    """Mean metrics over ``split`` (whose tensors are on the model's device), keys like ``"ndcg@10"``.

    ``ranks``: a list that receives each batch's (B,) target ranks (see :func:`target_ranks`), so the
    caller can keep the per-user results of an epoch it wants without evaluating it again."""
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    try:
        with torch.inference_mode():
            for batch in eval_batches(split, batch_size):
                scores = model.full_sort_scores(batch)  # (B, n_item_ids)
                scores[:, 0] = -torch.inf
                batch_ranks = target_ranks(scores, batch.target, max(topk))
                if ranks is not None:
                    ranks.append(batch_ranks)
                for key, value in metric_sums(batch_ranks, metrics, topk).items():
                    totals[key] = totals.get(key, 0.0) + value
    finally:
        model.train(was_training)
    if not totals:  # an empty split: keep the keys, NaN values
        totals = metric_sums(torch.zeros(0, dtype=torch.long), metrics, topk)
    return mean_metrics(totals, len(split))
