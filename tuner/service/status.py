"""``tuner status``: every job's progress and recommended configuration, and the workers seen lately.

Configurations are ranked by :mod:`tuner.report.configurations` (the report ranks through it too):
a configuration is listed once with its runs counted, mean and 95% CI over seeds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.environment import storage_url
from tuner.report.configurations import Configuration, Ranking, load_per_user, rank_configurations, spec_seed
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
    # {"params", "n_runs", "valid_mean", "valid_ci95": [lo, hi], "test_mean", "test_ci95", "tied": [{"params",
    # "p_value"}], ...}: the best mean validation objective over confirmed runs (CIs null for a single run)
    recommended: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RankedConfiguration:
    """A configuration in a job's ranking: the recommended one first, then the other confirmed ones
    (2 or more runs) by mean validation objective, then single runs."""

    rank: int
    config_id: str
    number: int  # its first run's trial number
    numbers: tuple[int, ...]  # every run's (distinct seeds)
    value: float  # the mean validation objective over its runs
    valid_ci95: list[float] | None  # over seeds; None for a single run
    test: dict[str, float]  # mean test metrics over its runs
    test_ci95: list[float] | None  # of the test objective
    params: dict[str, Any]
    p_value: float | None  # against the recommended configuration (None for it and for single runs)
    tied: bool  # not distinguishable from the recommended one at 5%


RankedTrial = RankedConfiguration  # the name tuner.service exported before configurations were ranked


def status(storage: str | None = None, jobs: Sequence[str] | None = None) -> list[JobStatus]:
    """Every job in the storage (or the named ones), oldest first."""
    url = storage_url(storage)
    optuna_storage = open_storage(url, must_exist=True)
    try:
        with storage_errors(url):
            return [job_status(job, optuna_storage.get_all_trials(job.study_id, deepcopy=False), optuna_storage.engine)
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


def job_status(job: Job, trials: Sequence[FrozenTrial], engine=None) -> JobStatus:
    """``engine``: the job database's, to test configurations over users as well as seeds."""
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
        recommended=_ranking(job, trials, engine).recommended_json(lambda c: _values(job, c)),
    )


def _replicate_counts(trials: Sequence[FrozenTrial], requeued: set[int]) -> dict[str, int]:
    counted = [t for t in trials if t.user_attrs.get(records.ROLE) == records.REPLICATE and t.number not in requeued]
    return {"replicates": len(counted), "replicates_done": sum(t.state.is_finished() for t in counted)}


def ranking(storage: str | None, name: str, top: int | None = None) -> list[RankedConfiguration]:
    """The job's configurations, the recommended one first (see :class:`RankedConfiguration`)."""
    url = storage_url(storage)
    optuna_storage = open_storage(url, must_exist=True)
    try:
        with storage_errors(url):
            (job,) = load_jobs(optuna_storage, [name])
            trials = optuna_storage.get_all_trials(job.study_id, deepcopy=False, states=(TrialState.COMPLETE,))
            ranked = _ranking(job, trials, optuna_storage.engine)
    finally:
        optuna_storage.engine.dispose()
    by_number = {t.number: t for t in trials}
    return [
        RankedConfiguration(
            rank=i + 1, config_id=c.config_id, number=c.runs[0].number, numbers=tuple(r.number for r in c.runs),
            value=c.valid.mean, valid_ci95=c.valid.ci95, test=_mean_test([by_number[r.number] for r in c.runs]),
            test_ci95=c.test.ci95 if c.test else None, params=_values(job, c),
            p_value=c.versus_leader.p_value if c.versus_leader else None, tied=c.tied,
        )
        for i, c in enumerate(ranked.configurations[:top])
    ]


def _ranking(job: Job, trials: Sequence[FrozenTrial], engine) -> Ranking:
    seed = spec_seed(job.attrs.get(records.SPEC))
    objective = job.spec.objective
    per_user = load_per_user(engine, trials, objective, default_seed=seed) if engine is not None else None
    return rank_configurations(trials, objective, default_seed=seed, per_user=per_user)


def _mean_test(trials: Sequence[FrozenTrial]) -> dict[str, float]:
    """Each test metric's mean over the runs that recorded it."""
    values: dict[str, list[float]] = {}
    for t in trials:
        for name, value in (t.user_attrs.get(records.TEST_METRICS) or {}).items():
            values.setdefault(name, []).append(float(value))
    return {name: sum(v) / len(v) for name, v in values.items()}


def _values(job: Job, item: FrozenTrial | Configuration) -> dict[str, Any]:
    """The parameters as the model got them (Optuna stores some choices as JSON text)."""
    try:
        return job.space.decode(item.params)
    except Exception:  # a space edited by hand in the database: show Optuna's values
        return dict(item.params)
