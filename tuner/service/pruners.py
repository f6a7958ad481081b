"""Pruners Optuna lacks, as Optuna ``BasePruner``s, so a spec names them like Optuna's own.

``topk``: train every configuration of the job for ``epoch`` epochs, then only the ``k`` best at that
epoch in full (Egele et al. 2023, "Is one epoch all you need for multi-fidelity HPO?"). On
benchmarks/results/caser-ml100k-grid.csv it finds the grid's best configuration at a small fraction of
the exhaustive epochs (docs/search-strategies.md).

Optuna cannot pause a trial, so the selection is two-staged: every trial of the job is pruned at
``epoch``; the trial whose pruning leaves no other trial before that epoch (none waiting, none running
short of it) queues the ``k`` best configurations again as new WAITING trials marked
``records.PROMOTED_FROM``, which this pruner never prunes. Those retrain from epoch 1 (``k x epoch``
extra epochs) and complete like any trial, so the job's best trial is the best of the ``k``.
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import records


class TopKPruner(optuna.pruners.BasePruner):
    """Prune every trial at ``epoch`` (or its first report after it); once all have reached it, queue the ``k`` best again to train in full."""

    def __init__(self, k: int = 3, epoch: int = 1) -> None:
        for name, value in (("k", k), ("epoch", epoch)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} {value!r}: expected a whole number >= 1")
        self.k = k
        self.epoch = epoch

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if trial.last_step is None or trial.last_step < self.epoch or records.PROMOTED_FROM in trial.user_attrs:
            return False
        trials = study.get_trials(deepcopy=False)
        if not any(self._before_rung(t) for t in trials if t.number != trial.number):
            self._promote(study, [t if t.number != trial.number else trial for t in trials])
        return True

    def _before_rung(self, t: FrozenTrial) -> bool:
        """A first-stage trial that may still report ``epoch``."""
        if not _first_stage(t):
            return False
        return t.state == TrialState.WAITING or (t.state == TrialState.RUNNING and self._rung_value(t) is None)

    def _rung_value(self, t: FrozenTrial) -> float | None:
        """The value at ``epoch``, or at the first report after it (validation every ``eval_step`` epochs)."""
        steps = [s for s in t.intermediate_values if s >= self.epoch]
        return t.intermediate_values[min(steps)] if steps else None

    def _promote(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        promoted = {_key(t.params) for t in trials if records.PROMOTED_FROM in t.user_attrs}
        sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
        values = [(self._rung_value(t), t) for t in trials if _first_stage(t)]
        scored = [(sign * v, t) for v, t in values if v is not None and math.isfinite(v)]
        scored.sort(key=lambda pair: (-pair[0], pair[1].number))
        seen: set[tuple] = set()
        for _, t in scored:
            key = _key(t.params)
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > self.k:
                break
            if key not in promoted:  # another worker's slot got here at the same moment
                study.enqueue_trial(t.params, user_attrs={records.PROMOTED_FROM: t.number})


def _first_stage(t: FrozenTrial) -> bool:
    """Not promoted by this pruner, nor a replicate of the confirmation stage (never pruned, queued later)."""
    return records.PROMOTED_FROM not in t.user_attrs and t.user_attrs.get(records.ROLE) != records.REPLICATE


def _key(params: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))
