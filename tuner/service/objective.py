"""What a trial computes: the objective function a worker calls, and the epoch hook it reports through.

The worker passes the objective in, so coordination can be tested and measured with a trivial one
(``tuner.service.run_worker(..., objective=f)``); the default trains the job's model.
An objective takes a :class:`TrialContext` and returns a ``RunResult`` (valid and test metrics at the
best epoch, best_epoch, epochs, seconds). It calls ``ctx.on_epoch(epoch, valid_metrics)`` after each
validation: that reports the objective to Optuna, and raises ``optuna.TrialPruned`` when the pruner says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from tuner.service.jobs import Job
from tuner.service.retry import Retrier
from tuner.service.signals import StopSignals


@dataclass(frozen=True)
class TrialContext:
    """One trial, as the objective sees it."""

    job: Job
    number: int  # Optuna's trial number
    values: dict[str, Any]  # the trial's parameters by RecBole name (real values, as the model takes them)
    device: str  # "cpu" or "cuda:N": where to train
    on_epoch: Callable[[int, Mapping[str, float]], None]  # the trainer's epoch hook

    @property
    def settings(self) -> dict[str, Any]:
        return self.job.settings(self.values)


Objective = Callable[[TrialContext], Any]


def train_objective(ctx: TrialContext) -> Any:
    """Train the job's model with the trial's settings on the job's dataset (parsed once per process:
    the data module caches it by name and options)."""
    from tuner.training import train

    return train(ctx.job.spec.model, ctx.settings, dataset=ctx.job.spec.dataset, device=ctx.device, on_epoch=ctx.on_epoch)


class TrialTakenAway(Exception):
    """The trial was finished by someone else while this worker ran it (a reaper, after a long outage)."""


class EpochReporter:
    """The epoch hook: reports the validation objective (never a test metric) and asks the pruner."""

    def __init__(
        self, trial: optuna.Trial, objective: str, retry: Retrier, stop: StopSignals, last_epoch: int | None = None,
        may_prune: bool = True,
    ) -> None:
        self.trial = trial
        self.objective = objective
        self.last_epoch = last_epoch  # the trial's ``epochs``: pruning after it would only throw the run away
        self.may_prune = may_prune  # False for replicates: the pruner is not asked
        self.retry = retry
        self.stop = stop
        self.epochs = 0  # epochs reported so far
        self.best_epoch: int | None = None
        self.best_metrics: dict[str, float] = {}  # validation metrics at the best epoch so far
        self.last_metrics: dict[str, float] = {}  # validation metrics of the last reported epoch
        # Every reported epoch's validation metrics and seconds since the previous report (records.EPOCH_METRICS):
        # the whole learning curve of every metric, so strategies can be replayed from a finished job.
        self.curves: dict[str, list[float]] = {"epoch": [], "seconds": []}
        self._last_report = time.monotonic()

    def __call__(self, epoch: int, valid_metrics: Mapping[str, float]) -> None:
        if self.objective not in valid_metrics:
            raise KeyError(f"the trainer reported {sorted(valid_metrics)} but not the objective {self.objective!r}")
        value = float(valid_metrics[self.objective])
        self.epochs = epoch
        now = time.monotonic()
        self.curves["epoch"].append(epoch)
        self.curves["seconds"].append(round(now - self._last_report, 3))
        self._last_report = now
        for key, metric in valid_metrics.items():
            self.curves.setdefault(key, []).append(float(f"{float(metric):.6g}"))
        self.last_metrics = {k: float(v) for k, v in valid_metrics.items()}
        best = self.best_metrics.get(self.objective)
        if math.isfinite(value) and (best is None or value > best):
            self.best_epoch, self.best_metrics = epoch, {k: float(v) for k, v in valid_metrics.items()}
        with self.stop.shielded():
            try:
                self.retry(f"reporting epoch {epoch} of trial {self.trial.number}", lambda: self.trial.report(value, epoch))
                prune = self.may_prune and self.last_epoch != epoch and self.retry(
                    f"asking the pruner about trial {self.trial.number}", self.trial.should_prune)
            except optuna.exceptions.UpdateFinishedTrialError:
                raise TrialTakenAway(f"trial {self.trial.number} was finished elsewhere") from None
        if prune:
            raise optuna.TrialPruned(f"pruned at epoch {epoch}: {self.objective} {value:.4f} below the pruner's threshold")
