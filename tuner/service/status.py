"""``tuner status``: every job's progress and best configuration, and the workers seen lately."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.environment import storage_url
from tuner.service import presence
from tuner.service.jobs import Job, count_states, load_jobs, retried_numbers
from tuner.service.storage import open_storage, storage_errors


@dataclass(frozen=True)
class JobStatus:
    """One job's progress. Its budget counts every search trial once, except a failed trial that was queued
    again (``requeued``); the confirmation stage's replicates are counted apart, the same way:
    ``complete + pruned + failed - requeued + running + waiting == budget + replicates``."""

    name: str
    model: str
    dataset: str
    objective: str  # e.g. "ndcg@10", maximised
    sampler: str  # "tpe", "random" or "grid"
    budget: int  # n_trials
    complete: int
    pruned: int
    failed: int  # every failed trial, requeued ones included
    requeued: int  # failed trials whose worker died or was stopped, queued again as a new trial
    running: int
    waiting: int
    state: str  # "queued" (never started), "running" (trials running now), "paused" (started, trials waiting,
    # none running: no worker on it), "done", or "timed out" (deadline passed, trials left waiting)
    best_value: float | None  # the best validation objective so far
    best_trial: int | None  # its trial number
    best_params: dict[str, Any]  # its parameters (real values)
    best_test: dict[str, float]  # its test metrics (shown, never used to choose)
    created_at: str | None
    replicates: int = 0  # trials of the confirmation stage (role "replicate"), not part of the budget
    replicates_done: int = 0  # of those, finished (complete, pruned, or failed and not queued again)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RankedTrial:
    """A complete trial in a job's ranking (best validation objective first)."""

    rank: int
    number: int
    value: float  # the validation objective
    test: dict[str, float]  # test metrics at the best validation epoch
    params: dict[str, Any]
    best_epoch: int | None
    epochs: int | None
    seconds: float | None


def status(storage: str | None = None, jobs: Sequence[str] | None = None) -> list[JobStatus]:
    """Every job in the storage (or the named ones), oldest first."""
    url = storage_url(storage)
    optuna_storage = open_storage(url, must_exist=True)
    try:
        with storage_errors(url):
            return [job_status(job, optuna_storage.get_all_trials(job.study_id, deepcopy=False))
                    for job in load_jobs(optuna_storage, jobs)]
    finally:
        optuna_storage.engine.dispose()


def workers(storage: str | None = None, within: dt.timedelta = dt.timedelta(minutes=10)) -> list[presence.WorkerStatus]:
    """Worker slots seen within ``within``, and any that still claim to run (``lost`` when silent)."""
    url = storage_url(storage)
    optuna_storage = open_storage(url, must_exist=True)
    try:
        with storage_errors(url):
            return presence.seen_workers(optuna_storage.engine, within)
    finally:
        optuna_storage.engine.dispose()


def job_status(job: Job, trials: Sequence[FrozenTrial]) -> JobStatus:
    counts = count_states(trials)
    requeued = retried_numbers(trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    best = max(complete, key=lambda t: t.value) if complete else None
    waiting, running = counts["WAITING"], counts["RUNNING"]
    deadline = job.deadline()
    if not waiting and not running:
        state = "done"
    elif deadline is not None and dt.datetime.now(dt.timezone.utc) >= deadline and not running:
        state = "timed out"
    elif running:
        state = "running"
    elif any(t.state != TrialState.WAITING for t in trials):
        state = "paused"
    else:
        state = "queued"
    return JobStatus(
        name=job.name, model=job.spec.model, dataset=job.spec.dataset, objective=job.spec.objective,
        sampler=job.spec.sampler["name"], budget=job.budget, complete=counts["COMPLETE"], pruned=counts["PRUNED"],
        failed=counts["FAIL"], requeued=sum(1 for t in trials if t.number in requeued and t.state == TrialState.FAIL),
        running=running, waiting=waiting, state=state,
        best_value=best.value if best else None, best_trial=best.number if best else None,
        best_params=_values(job, best) if best else {}, best_test=dict(best.user_attrs.get(records.TEST_METRICS) or {}) if best else {},
        created_at=job.attrs.get(records.CREATED_AT),
        **_replicate_counts(trials, requeued),
    )


def _replicate_counts(trials: Sequence[FrozenTrial], requeued: set[int]) -> dict[str, int]:
    counted = [t for t in trials if t.user_attrs.get(records.ROLE) == records.REPLICATE and t.number not in requeued]
    return {"replicates": len(counted), "replicates_done": sum(t.state.is_finished() for t in counted)}


def ranking(storage: str | None, name: str, top: int | None = None) -> list[RankedTrial]:
    """The job's complete trials, best validation objective first."""
    url = storage_url(storage)
    optuna_storage = open_storage(url, must_exist=True)
    try:
        with storage_errors(url):
            (job,) = load_jobs(optuna_storage, [name])
            trials = optuna_storage.get_all_trials(job.study_id, deepcopy=False, states=(TrialState.COMPLETE,))
    finally:
        optuna_storage.engine.dispose()
    ranked = sorted((t for t in trials if t.value is not None), key=lambda t: (-t.value, t.number))[:top]
    return [
        RankedTrial(
            rank=i + 1, number=t.number, value=float(t.value), test=dict(t.user_attrs.get(records.TEST_METRICS) or {}),
            params=_values(job, t), best_epoch=t.user_attrs.get(records.BEST_EPOCH), epochs=t.user_attrs.get(records.EPOCHS),
            seconds=t.user_attrs.get(records.SECONDS),
        )
        for i, t in enumerate(ranked)
    ]


def _values(job: Job, trial: FrozenTrial) -> dict[str, Any]:
    """The trial's parameters as the model got them (Optuna stores some choices as JSON text)."""
    try:
        return job.space.decode(trial.params)
    except Exception:  # a space edited by hand in the database: show Optuna's values
        return dict(trial.params)
