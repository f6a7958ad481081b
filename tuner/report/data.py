"""A job's report as plain data: one bulk read of the storage, then tables the HTML and exports draw from.

``read_jobs`` reads each study once (``get_all_trials(deepcopy=False)``: a fixed handful of queries per
study, whatever its number of trials) and hands the frozen trials to ``build_job``, a pure function
the tests call on hand-made trials. Nothing here imports plotly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import statistics
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.environment import mask_url
from tuner.errors import JobError
from tuner.report._storage import open_storage, storage_errors, study_id
from tuner.report.configurations import Configuration, Ranking, load_per_user, rank_configurations, spec_seed
from tuner.report.configurations import trial_role, trial_seed

_KNOWN_STUDY_ATTRS = frozenset({
    records.SPEC, records.SPACE_TEXT, records.SPACE_NAME, records.MODEL, records.DATASET, records.OBJECTIVE,
    records.N_TRIALS, records.TOOL_VERSION, records.CREATED_AT, records.STARTED_AT,
})
TOP_K = 5  # how many of the best configurations the spread is taken over
MAX_EXAMPLES = 3  # full reasons shown per kind of failure


@dataclass(frozen=True)
class TrialRow:
    """One trial as the report shows it."""

    number: int  # Optuna's trial number within the job
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING or WAITING
    value: float | None  # the validation objective (a pruned trial: its last reported epoch)
    params: dict[str, Any]  # sampled parameters by RecBole name
    valid: dict[str, float]  # validation metrics at the best epoch ({} unless complete)
    test: dict[str, float]  # test metrics at the best validation epoch
    best_epoch: int | None  # counted from 1
    epochs: int | None  # epochs run
    seconds: float | None  # training wall time the worker measured, else start to end
    gpu_peak_mib: float | None  # peak GPU memory the trial allocated (GPU trials)
    start: dt.datetime | None
    end: dt.datetime | None  # None while running
    device: str | None  # "cpu", "cuda:0"
    host: str | None
    worker: str | None  # "host:pid:slot"
    reason: str | None  # why it failed or was pruned
    retry_of: int | None  # the trial number this one reran
    curve: tuple[tuple[int, float], ...]  # (epoch, validation objective) per reported epoch
    config_id: str | None = None  # the same on every run of one configuration (its parameters without seed)
    seed: int | None = None  # the seed it trained with (the job's seed when the trial recorded none)
    role: str | None = None  # "search" or "replicate" (the confirmation stage); None before it started


@dataclass(frozen=True)
class Spread:
    """How far apart the ``k`` best configurations are: their mean objectives (one value each)."""

    k: int  # configurations taken (fewer than TOP_K when fewer completed)
    valid_mean: float
    valid_std: float  # sample standard deviation; 0 for a single configuration
    valid_min: float
    valid_max: float
    test_mean: float | None  # the same trials' test objective, when recorded
    test_std: float | None


@dataclass(frozen=True)
class Reason:
    """Trials that failed (or were pruned) for the same kind of reason."""

    state: str  # FAIL or PRUNED
    kind: str  # the reason up to its first ": " ("worker lost", "TrainingError"), or "(no reason recorded)"
    count: int
    trials: tuple[int, ...]  # their numbers
    examples: tuple[str, ...]  # up to MAX_EXAMPLES distinct full reasons, most frequent first


@dataclass(frozen=True)
class Span:
    """One trial on the timeline: a bar in the lane of the worker slot (and device) that ran it."""

    lane: str  # "worker (device)"
    number: int
    start: dt.datetime
    end: dt.datetime  # the read time for running trials
    state: str


@dataclass(frozen=True)
class Environment:
    """Where and when the job ran."""

    tool_version: str | None  # seqrec-tuner version that submitted the job
    created_at: str | None  # ISO 8601 submission time
    devices: dict[str, int]  # device -> trials run on it
    hosts: dict[str, int]
    workers: dict[str, int]
    first_start: dt.datetime | None
    last_end: dt.datetime | None
    storage: str  # the storage URL, password masked
    read_at: dt.datetime  # when the report read the trials (naive local time, as Optuna stores)
    started_at: str | None  # ISO 8601: when a worker first took one of the job's trials
    other: dict[str, Any]  # study attributes this report does not know (e.g. versions a later service records)


@dataclass(frozen=True)
class Job:
    """Everything the report says about one job."""

    name: str
    model: str | None
    dataset: str | None
    objective: str  # the validation metric selected on, e.g. "ndcg@10"
    direction: str  # "maximize" (the contract) or "minimize"
    budget: int | None  # trials asked for
    spec: dict[str, Any]  # the job spec, URLs masked
    space_name: str | None
    space_text: str | None
    trials: tuple[TrialRow, ...]  # by number
    ranked: tuple[TrialRow, ...]  # complete trials, best first
    ranking: Ranking  # configurations, the recommended one first, with means, CIs and tests
    param_names: tuple[str, ...]
    valid_metric_names: tuple[str, ...]
    test_metric_names: tuple[str, ...]
    counts: dict[str, int]  # state -> trials
    spread: Spread | None  # None without complete trials
    reasons: tuple[Reason, ...]  # failures first, most frequent first
    history: tuple[tuple[int, float, float], ...]  # (number, value, best so far) of complete trials
    curves_note: str | None  # set when no trial reported per-epoch values
    importances: dict[str, float]  # parameter -> importance (sums to 1), most important first
    importance_note: str | None  # why importances are missing or shaky
    timeline: tuple[Span, ...]
    environment: Environment
    frozen: tuple[FrozenTrial, ...] = field(repr=False, compare=False)  # as read, for optuna.visualization

    @property
    def recommended(self) -> Configuration | None:
        return self.ranking.recommended

    @property
    def best(self) -> TrialRow | None:
        """The recommended configuration's first run (with no confirmation: the best single run)."""
        best = self.ranking.recommended
        if best is None:
            return None
        return next(r for r in self.trials if r.number == best.runs[0].number)


@dataclass(frozen=True)
class Comparison:
    """One job's line in the side-by-side comparison of several jobs."""

    job: str
    model: str | None
    dataset: str | None
    objective: str
    complete: int  # complete trials
    best_number: int | None  # the recommended configuration's first run
    best_valid: float | None  # its mean validation objective over its runs
    best_test: float | None  # its mean test objective
    best_runs: int  # its runs (1: unconfirmed)
    spread: Spread | None
    best_params: dict[str, Any]
    valid_values: tuple[float, ...]  # the objective of every complete trial (its distribution)
    test_values: tuple[float, ...]


def read_jobs(url: str, names: Sequence[str]) -> list[Job]:
    """Read jobs ``names`` from the storage at ``url``: one bulk read per job."""
    storage = open_storage(url)
    try:
        jobs = []
        for name in names:
            with storage_errors(url):
                sid = study_id(storage, name, url)
                attrs = storage.get_study_user_attrs(sid)
                directions = storage.get_study_directions(sid)
                trials = storage.get_all_trials(sid, deepcopy=False)
            if len(directions) != 1:
                raise JobError(f"job {name!r} has {len(directions)} objectives; the report reads single-objective jobs")
            direction = directions[0].name.lower()
            objective = str(attrs.get(records.OBJECTIVE) or "value")
            with storage_errors(url):
                per_user = load_per_user(storage.engine, trials, objective, direction, spec_seed(attrs.get(records.SPEC)))
            jobs.append(build_job(name, attrs, direction, trials, storage=mask_url(url), per_user=per_user))
        return jobs
    finally:
        storage.remove_session()
        storage.engine.dispose()


def build_job(
    name: str,
    attrs: Mapping[str, Any],
    direction: str,
    trials: Sequence[FrozenTrial],
    *,
    storage: str = "",
    read_at: dt.datetime | None = None,
    per_user: Mapping[int, Mapping[str, Any]] | None = None,
) -> Job:
    """The report's data for one job from its study user attributes and frozen trials; ``per_user``:
    per-user ranks by trial id (:func:`tuner.per_user.load_ranks`), for tests over users as well as seeds."""
    read_at = read_at or dt.datetime.now()
    objective = str(attrs.get(records.OBJECTIVE) or "value")
    seed = spec_seed(attrs.get(records.SPEC))
    rows = tuple(_row(t, objective, seed) for t in sorted(trials, key=lambda t: t.number))
    sign = -1 if direction == "minimize" else 1
    ranked = tuple(sorted((r for r in rows if r.state == "COMPLETE" and _finite(r.value)),
                          key=lambda r: (-sign * r.value, r.number)))
    ranking = rank_configurations(trials, objective, direction, default_seed=seed, per_user=per_user)
    importances, importance_note = _importances(trials, direction)
    return Job(
        name=name,
        model=attrs.get(records.MODEL),
        dataset=attrs.get(records.DATASET),
        objective=objective,
        direction=direction,
        budget=attrs.get(records.N_TRIALS),
        spec=_masked(attrs.get(records.SPEC) or {}),
        space_name=attrs.get(records.SPACE_NAME),
        space_text=attrs.get(records.SPACE_TEXT),
        trials=rows,
        ranked=ranked,
        ranking=ranking,
        param_names=_union(r.params for r in rows),
        valid_metric_names=_union(r.valid for r in rows),
        test_metric_names=_union(r.test for r in rows),
        counts=dict(Counter(r.state for r in rows)),
        spread=_spread(ranking),
        reasons=_reasons(rows),
        history=_history(rows, sign),
        curves_note=None if any(r.curve for r in rows) else "no trial reported per-epoch validation values yet",
        importances=importances,
        importance_note=importance_note,
        timeline=_timeline(rows, read_at),
        environment=_environment(attrs, rows, storage, read_at),
        frozen=tuple(trials),
    )


def compare(jobs: Sequence[Job]) -> list[Comparison]:
    """The side-by-side view of several jobs (e.g. Caser and GRU4RecF on one dataset)."""
    out = []
    for job in jobs:
        best = job.best
        recommended = job.recommended
        out.append(Comparison(
            job=job.name, model=job.model, dataset=job.dataset, objective=job.objective, complete=len(job.ranked),
            best_number=best.number if best else None, best_valid=recommended.valid.mean if recommended else None,
            best_test=recommended.test.mean if recommended and recommended.test else None,
            best_runs=recommended.n_runs if recommended else 0, spread=job.spread,
            best_params=dict(best.params) if best else {},
            valid_values=tuple(r.value for r in job.ranked),
            test_values=tuple(r.test[job.objective] for r in job.ranked if _finite(r.test.get(job.objective))),
        ))
    return out


def memory_study(trials: Sequence[FrozenTrial], direction: str) -> optuna.Study:
    """An in-memory study of finished trials' params and values, for Optuna's importance and plots.

    User attributes and per-epoch values are left out: optuna.visualization would print them in
    hover text, and copying them costs time the report does not need to spend.
    """
    slim = [
        FrozenTrial(number=t.number, trial_id=t.number, state=t.state, value=None, values=t.values,
                    datetime_start=t.datetime_start, datetime_complete=t.datetime_complete, params=t.params,
                    distributions=t.distributions, user_attrs={}, system_attrs={}, intermediate_values={})
        for t in trials if t.state.is_finished()
    ]
    with quiet_optuna():
        study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), direction=direction)
        study.add_trials(slim)
    return study


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's info logs and experimental warnings while the report uses it, then restore them."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(level)


def _row(trial: FrozenTrial, objective: str, seed: int) -> TrialRow:
    ua = trial.user_attrs
    valid = _float_dict(ua.get(records.VALID_METRICS))
    value = trial.value if trial.values is not None and len(trial.values) == 1 else valid.get(objective)
    if value is None and trial.state == TrialState.PRUNED and trial.intermediate_values:
        value = trial.intermediate_values[trial.last_step]
    seconds = _number(ua.get(records.SECONDS))
    if seconds is None and trial.datetime_start and trial.datetime_complete:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    reason = ua.get(records.FAIL_REASON) if trial.state == TrialState.FAIL else ua.get(records.PRUNE_REASON)
    return TrialRow(
        number=trial.number,
        state=trial.state.name,
        value=_number(value),
        params=dict(trial.params),
        valid=valid,
        test=_float_dict(ua.get(records.TEST_METRICS)),
        best_epoch=_int(ua.get(records.BEST_EPOCH)),
        epochs=_int(ua.get(records.EPOCHS)) or (trial.last_step if trial.intermediate_values else None),
        seconds=seconds,
        gpu_peak_mib=_number(ua.get(records.GPU_PEAK_MIB)),
        start=trial.datetime_start,
        end=trial.datetime_complete,
        device=_text(ua.get(records.DEVICE)),
        host=_text(ua.get(records.HOST)),
        worker=_text(ua.get(records.WORKER)),
        reason=_text(reason),
        retry_of=_int(ua.get(records.RETRY_OF)),
        curve=tuple((int(step), float(v)) for step, v in sorted(trial.intermediate_values.items()) if _finite(v)),
        config_id=str(ua.get(records.CONFIG_ID) or records.config_id(trial.params)) if trial.params else None,
        seed=trial_seed(trial, seed) if trial.state != TrialState.WAITING else ua.get(records.SEED),
        role=trial_role(trial) if trial.state != TrialState.WAITING or ua.get(records.ROLE) else None,
    )


def _spread(ranking: Ranking) -> Spread | None:
    top = ranking.configurations[:TOP_K]
    if not top:
        return None
    valid = [c.valid.mean for c in top]
    test = [c.test.mean for c in top if c.test is not None]
    return Spread(
        k=len(top), valid_mean=statistics.fmean(valid), valid_std=_std(valid), valid_min=min(valid),
        valid_max=max(valid), test_mean=statistics.fmean(test) if test else None, test_std=_std(test) if test else None,
    )


def _reasons(rows: Sequence[TrialRow]) -> tuple[Reason, ...]:
    """Failures and prunings grouped by kind: "worker lost: no heartbeat ... (worker h:1:0)" and the same
    for another worker are one kind, with the full texts kept as examples."""
    groups: dict[tuple[str, str], list[TrialRow]] = {}
    for r in rows:
        if r.state in ("FAIL", "PRUNED"):
            kind = (r.reason or "").split(": ", 1)[0].strip() or "(no reason recorded)"
            groups.setdefault((r.state, kind), []).append(r)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0] != "FAIL", -len(kv[1]), kv[0][1]))
    return tuple(
        Reason(state, kind, len(members), tuple(r.number for r in members),
               tuple(text for text, _ in Counter(r.reason for r in members if r.reason).most_common(MAX_EXAMPLES)))
        for (state, kind), members in ordered
    )


def _history(rows: Sequence[TrialRow], sign: int) -> tuple[tuple[int, float, float], ...]:
    out = []
    best = None
    for r in rows:
        if r.state == "COMPLETE" and _finite(r.value):
            best = r.value if best is None else max(best, r.value) if sign > 0 else min(best, r.value)
            out.append((r.number, r.value, best))
    return tuple(out)


def _importances(trials: Sequence[FrozenTrial], direction: str) -> tuple[dict[str, float], str | None]:
    """Optuna's parameter importances (PED-ANOVA, no scikit-learn), or a note saying why there are none."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    if len(complete) < 2:
        return {}, f"parameter importances need at least 2 complete trials (this job has {len(complete)})"
    varying = sorted(n for n in _union(t.params for t in complete) if len({repr(t.params.get(n)) for t in complete}) > 1)
    if not varying:
        return {}, "parameter importances need a parameter that varies across complete trials"
    try:
        with quiet_optuna():
            importances = optuna.importance.get_param_importances(memory_study(complete, direction), params=varying)
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        return {}, f"parameter importances could not be computed: {e}"
    note = None
    if len(complete) < 20:
        note = f"importances from only {len(complete)} complete trials: read them as a hint"
    return {k: float(v) for k, v in importances.items()}, note


def _timeline(rows: Sequence[TrialRow], read_at: dt.datetime) -> tuple[Span, ...]:
    spans = []
    for r in rows:
        if r.start is None:
            continue
        lane = f"{r.worker or r.host or '?'} ({r.device or '?'})"
        spans.append(Span(lane, r.number, r.start, r.end or max(read_at, r.start), r.state))
    return tuple(spans)


def _environment(attrs: Mapping[str, Any], rows: Sequence[TrialRow], storage: str, read_at: dt.datetime) -> Environment:
    starts = [r.start for r in rows if r.start]
    ends = [r.end for r in rows if r.end]
    return Environment(
        tool_version=_text(attrs.get(records.TOOL_VERSION)),
        created_at=_text(attrs.get(records.CREATED_AT)),
        devices=dict(Counter(r.device for r in rows if r.device)),
        hosts=dict(Counter(r.host for r in rows if r.host)),
        workers=dict(Counter(r.worker for r in rows if r.worker)),
        first_start=min(starts, default=None),
        last_end=max(ends, default=None),
        storage=storage,
        read_at=read_at,
        started_at=_text(attrs.get(records.STARTED_AT)),
        other={k: _masked(v) for k, v in attrs.items() if k not in _KNOWN_STUDY_ATTRS},
    )


def _masked(value: Any) -> Any:
    """The spec with any URL that carries a password masked (the service should never store one)."""
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, str) and "://" in value and "@" in value:
        return mask_url(value)
    return value


def _union(dicts) -> tuple[str, ...]:
    """Keys of several dicts in first-seen order."""
    seen: dict[str, None] = {}
    for d in dicts:
        seen.update(dict.fromkeys(d))
    return tuple(seen)


def _float_dict(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): float(v) for k, v in value.items() if _number(v) is not None}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and math.isfinite(number) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _finite(value: Any) -> bool:
    return _number(value) is not None and math.isfinite(value)


def _std(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0
