"""Full-sort top-K metrics for next-item prediction, computed as RecBole 1.2.1 computes them.

Every example has exactly one relevant item (its target). RecBole's collector takes
``torch.topk(scores, max(topk))`` and marks where the target appears in that list; with one
positive per row the metrics reduce to functions of the target's 1-based position ``rank`` in
that list (``rank = 0`` when it is not among the first ``max(topk)``):

========== ==========================================
Hit@K      1 if 1 <= rank <= K
Recall@K   the same (one relevant item)
Precision  hit / K (K, not the list length, even when K exceeds the number of items)
NDCG@K     hit / log2(rank + 1) (the ideal DCG of one relevant item is 1)
MRR@K      hit / rank
========== ==========================================

Ties: the target's position is the one ``torch.topk`` gives it, exactly as in RecBole. PyTorch
does not specify the order of equal values (on CPU it is neither by index nor stable across
sizes), so a target that ties with other items may land anywhere inside the tied block; with
real-valued scores from a trained model such ties do not occur in practice. The padding item
gets ``-inf`` before ranking so it always ranks last.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

import torch

from tuner.errors import ConfigError

# The metrics RecBole names "Recall", "NDCG", ...; we use the lowercase names in result keys.
METRIC_NAMES = ("recall", "ndcg", "mrr", "hit", "precision")

_METRIC_AT_K = re.compile(r"^([A-Za-z]+)@([0-9]+)$")

# Metrics of the target's rank among all of a user's candidates, not of a top-K list: only a protocol that
# ranks every candidate computes them (the D2L tutorial's, tuner.training.d2l; RecBole's full sort does not).
FULL_RANK_METRICS = {"auc": "AUC"}


def metric_key(name: str, k: int) -> str:
    """The result key: ``metric_key("NDCG", 10) == "ndcg@10"``."""
    return f"{name.lower()}@{k}"


def parse_metric_at_k(text: str, where: str = "valid_metric") -> tuple[str, int]:
    """``"NDCG@10"`` -> ``("ndcg", 10)``; a clear :class:`ConfigError` for anything else."""
    match = _METRIC_AT_K.match(str(text).strip())
    if not match or match.group(1).lower() not in METRIC_NAMES or int(match.group(2)) < 1:
        raise ConfigError(
            f"{where}: expected METRIC@K with METRIC one of Recall, NDCG, MRR, Hit, Precision and K >= 1, got {text!r}"
        )
    return match.group(1).lower(), int(match.group(2))


def parse_valid_metric(text: str, full_rank: bool, where: str = "valid_metric") -> str:
    """The result key of a validation metric: ``"NDCG@10"`` -> ``"ndcg@10"``; ``"AUC"`` -> ``"auc"`` where
    ``full_rank`` (the protocol ranks every candidate), else a :class:`ConfigError` naming ``where``."""
    if str(text).strip().lower() in FULL_RANK_METRICS:
        return _full_rank_metric(str(text).strip().lower(), full_rank, where)
    name, k = parse_metric_at_k(text, where)
    return metric_key(name, k)


def _full_rank_metric(name: str, full_rank: bool, where: str) -> str:
    if not full_rank:
        raise ConfigError(
            f"{where}: {FULL_RANK_METRICS[name]} needs the target's rank among every candidate item, which only the "
            "D2L protocol (model CaserD2L) computes; RecBole's top-K evaluation (Caser, GRU4RecF) cannot: use e.g. NDCG@10"
        )
    return name


def target_ranks(scores: torch.Tensor, target: torch.Tensor, max_k: int) -> torch.Tensor:
    """(B,) long: the target's 1-based position in ``torch.topk(scores, max_k)``, 0 if it is not there.

    ``scores`` is (B, n) with the padding column already at ``-inf``; ``max_k`` larger than ``n``
    ranks all ``n`` items (positions past ``n`` cannot hold the target).
    """
    k = min(max_k, scores.shape[1])
    top = torch.topk(scores, k, dim=1).indices  # (B, k)
    found = top == target.unsqueeze(1)  # (B, k) bool, at most one True per row
    position = torch.arange(1, k + 1, device=scores.device)  # (k,)
    return (found * position).sum(dim=1)  # (B,)


def metric_sums(ranks: torch.Tensor, metrics: Iterable[str], topk: Iterable[int]) -> dict[str, float]:
    """Per-example metric values summed over the batch (divide by the example count for the mean)."""
    ranks = ranks.to(torch.float64)
    safe_rank = ranks.clamp(min=1)
    keys, sums = [], []
    for k in topk:
        hit = ((ranks >= 1) & (ranks <= k)).double()  # (B,)
        values = {
            "recall": hit,
            "hit": hit,
            "precision": hit / k,
            "ndcg": hit / torch.log2(safe_rank + 1),
            "mrr": hit / safe_rank,
        }
        for name in metrics:
            keys.append(metric_key(name, k))
            sums.append(values[name.lower()].sum())
    if not sums:
        return {}
    return dict(zip(keys, torch.stack(sums).tolist()))  # one device sync for the whole batch


def normalise_metric_names(metrics: Sequence[str] | str, where: str = "metrics", full_rank: bool = False) -> list[str]:
    """RecBole writes ``["Recall", "NDCG"]`` (or one string); we keep lowercase known names (AUC only where
    ``full_rank``: see :data:`FULL_RANK_METRICS`)."""
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    out = []
    for name in names:
        if isinstance(name, str) and name.lower() in FULL_RANK_METRICS:
            out.append(_full_rank_metric(name.lower(), full_rank, where))
            continue
        if not isinstance(name, str) or name.lower() not in METRIC_NAMES:
            raise ConfigError(f"{where}: unknown metric {name!r}; expected some of Recall, NDCG, MRR, Hit, Precision")
        out.append(name.lower())
    return out


def mean_metrics(sums: Mapping[str, float], count: int) -> dict[str, float]:
    """Turn summed values into means; NaN for an empty split rather than a division error."""
    return {key: (value / count if count else math.nan) for key, value in sums.items()}
