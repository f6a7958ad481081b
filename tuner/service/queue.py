"""The trial queue of a job: taking a WAITING trial, queueing a lost one again, failing stale ones.

Each step is atomic (``SELECT ... FOR UPDATE`` on servers; whole-transaction locks on SQLite, see
:mod:`.storage`):
- taking: WAITING -> RUNNING, with the trial's first heartbeat, in one transaction, for exactly one caller;
- failing a stale trial: RUNNING -> FAIL succeeds for exactly one reaper, which alone queues the rerun.
The queries behind them read one job's WAITING or RUNNING trials only, through an index on
``trials(study_id, state, trial_id)`` (:func:`ensure_index`), so their cost does not grow with the trials
a job has finished, and a heartbeat's reaper scan is one small query per job.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.service.presence import naive

CRASHES = "tuner:crashes"  # system attr: how many times this configuration lost its worker
# Optuna's RetryHeartbeatStaleTrialCallback keys, kept so its retried_trial_number() works on our reruns.
FAILED_TRIAL = "failed_trial"
RETRY_HISTORY = "retry_history"
FIXED_PARAMS = "fixed_params"  # Optuna's key for enqueued parameter values (grid points)
# What a rerun keeps of the trial it reruns: a replicate stays that replicate (same seed, same round).
_KEPT = (records.ROLE, records.CONFIG_ID, records.SEED, records.CONFIRM_ROUND)


INDEX = "tuner_trials_study_state"  # our index on Optuna's trials table (Optuna's tools ignore it)


def ensure_index(engine: Any) -> None:
    """Create the queue's index if missing; another process creating it at the same moment is fine."""
    import sqlalchemy as sa

    # On a table object of our own: an index added to Optuna's would join its metadata (and its create_all).
    trials = sa.Table("trials", sa.MetaData(), sa.Column("trial_id"), sa.Column("study_id"), sa.Column("state"))
    index = sa.Index(INDEX, trials.c.study_id, trials.c.state, trials.c.trial_id)
    try:
        index.create(engine, checkfirst=True)
    except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError):
        if INDEX not in {i["name"] for i in sa.inspect(engine).get_indexes("trials")}:
            raise


def take_next(
    storage: optuna.storages.BaseStorage, study_id: int, *, take: bool = True
) -> tuple[FrozenTrial | None, int, int]:
    """One transaction: the job's (waiting, running) trial counts and, with ``take``, its oldest WAITING
    trial this caller can get, moved to RUNNING with its first heartbeat (so there is no moment where it
    runs without one). Returns (that trial or None, waiting, running), counted before the take.

    ``storage`` is an ``RDBStorage`` or a Study's caching storage, which then learns the trial (its
    parameter writes need that). Rows another worker is taking are skipped, not waited for.
    """
    import sqlalchemy as sa
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    backend = getattr(storage, "_backend", storage)
    row = models.TrialModel
    with _create_scoped_session(backend.scoped_session) as session:
        counts = dict(
            session.query(row.state, sa.func.count())
            .filter(row.study_id == study_id, row.state.in_((TrialState.WAITING, TrialState.RUNNING)))
            .group_by(row.state)
            .all()
        )
        waiting, running = counts.get(TrialState.WAITING, 0), counts.get(TrialState.RUNNING, 0)
        if not take or not waiting:
            return None, waiting, running
        trial = (
            session.query(row)
            .filter(row.study_id == study_id, row.state == TrialState.WAITING)
            .order_by(row.trial_id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .one_or_none()
        )
        if trial is None:  # every waiting one is being taken by someone else
            return None, waiting, running
        trial.state = TrialState.RUNNING
        trial.datetime_start = dt.datetime.now()
        session.add(models.TrialHeartbeatModel(trial_id=trial.trial_id))
        session.flush()
        taken = backend._build_frozen_trial_from_trial_model(trial)
    if backend is not storage:
        remember(storage, study_id, taken)
    return taken, waiting, running


def take_waiting(storage: optuna.storages.BaseStorage, study_id: int) -> FrozenTrial | None:
    """The oldest WAITING trial this caller can get, now RUNNING (see :func:`take_next`); None if none is left."""
    return take_next(storage, study_id)[0]


def unfinished(storage: optuna.storages.RDBStorage, study_id: int) -> tuple[int, int]:
    """(waiting, running) trial counts."""
    return take_next(storage, study_id, take=False)[1:]


def remember(cached: Any, study_id: int, trial: FrozenTrial) -> None:
    """Add a trial to a Study's caching storage as its ``create_new_trial`` does, and mark it unfinished so
    the cache reads its later states."""
    from optuna.storages._cached_storage import _StudyInfo

    with cached._lock:
        info = cached._studies.setdefault(study_id, _StudyInfo())
        cached._add_trials_to_cache(study_id, [trial])
        info.unfinished_trial_ids.add(trial._trial_id)


def complete_alike(storage: optuna.storages.BaseStorage, study_id: int, trial: FrozenTrial) -> list[FrozenTrial]:
    """The job's COMPLETE trials other than ``trial`` with exactly its parameters: matched in one query on
    the parameter rows, so only those trials are read (not every trial of the job, as ``study.get_trials`` does)."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    backend = getattr(storage, "_backend", storage)
    if not trial.params:
        return [t for t in backend.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
                if not t.params and t.number != trial.number]
    param, row = models.TrialParamModel, models.TrialModel
    same = sa.or_(*(sa.and_(param.param_name == name, param.param_value == trial.distributions[name].to_internal_repr(value))
                    for name, value in trial.params.items()))
    with _create_scoped_session(backend.scoped_session) as session:
        ids = (
            session.query(param.trial_id)
            .join(row, row.trial_id == param.trial_id)
            .filter(row.study_id == study_id, row.state == TrialState.COMPLETE, row.trial_id != trial._trial_id, same)
            .group_by(param.trial_id)
            .having(sa.func.count() == len(trial.params))
        )
        found = session.query(row).filter(row.trial_id.in_(ids.scalar_subquery())).order_by(row.trial_id).all()
        alike = [backend._build_frozen_trial_from_trial_model(t) for t in found]
    return [t for t in alike if t.params == trial.params]


def queue_again(
    storage: optuna.storages.BaseStorage, study_id: int, failed: FrozenTrial, *, crash: bool, max_retries: int
) -> bool:
    """Queue a WAITING copy of ``failed`` (same parameters, or the same grid point if none were drawn yet).

    ``crash`` (its worker died) counts against ``max_retries``; an interruption (SIGTERM) does not,
    since stopping workers is routine. Returns False when the retries are used up.
    """
    crashes = int(failed.system_attrs.get(CRASHES, 0)) + int(crash)
    if crash and crashes > max_retries:
        return False
    system_attrs = {
        FAILED_TRIAL: failed.system_attrs.get(FAILED_TRIAL, failed.number),
        RETRY_HISTORY: [*failed.system_attrs.get(RETRY_HISTORY, []), failed.number],
        CRASHES: crashes,
    }
    if FIXED_PARAMS in failed.system_attrs:
        system_attrs[FIXED_PARAMS] = failed.system_attrs[FIXED_PARAMS]
    storage.create_new_trial(
        study_id,
        template_trial=optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=failed.params,
            distributions=failed.distributions,
            user_attrs={records.RETRY_OF: failed.number, **{k: failed.user_attrs[k] for k in _KEPT if k in failed.user_attrs}},
            system_attrs=system_attrs,
        )
    )
    return True


def beat(conn: Any, trial_id: int) -> None:
    """Record a running trial's heartbeat (the server's time) on ``conn``, inside the caller's transaction.
    The row exists from the moment the trial was taken (:func:`take_waiting`)."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    heartbeats = models.TrialHeartbeatModel.__table__
    updated = conn.execute(sa.update(heartbeats).where(heartbeats.c.trial_id == trial_id).values(heartbeat=sa.func.now()))
    if updated.rowcount == 0:  # taken by something else than take_waiting (Optuna's own ask)
        conn.execute(sa.insert(heartbeats).values(trial_id=trial_id, heartbeat=sa.func.now()))


def heartbeat_ages(conn: Any, study_id: int) -> dict[int, float | None]:
    """Seconds since each RUNNING trial's last heartbeat, by the server's clock (None: it has none, which a
    trial taken by :func:`take_waiting` never is; Optuna's own stale query skips those). One query."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    trials, heartbeats = models.TrialModel.__table__, models.TrialHeartbeatModel.__table__
    rows = conn.execute(
        sa.select(trials.c.trial_id, heartbeats.c.heartbeat, sa.func.now())
        .select_from(trials.outerjoin(heartbeats, heartbeats.c.trial_id == trials.c.trial_id))
        .where(trials.c.study_id == study_id, trials.c.state == TrialState.RUNNING)
    ).all()
    return {trial_id: None if beat is None else (naive(now) - naive(beat)).total_seconds() for trial_id, beat, now in rows}


def fail_lost(
    storage: optuna.storages.RDBStorage, study_id: int, trial_ids: list[int], why: str, *, max_retries: int
) -> list[tuple[int, bool]]:
    """Fail trials whose worker is gone and queue them again; ``why`` completes "worker lost: ...".

    Returns ``(number, queued_again)`` for each trial this caller failed (another reaper may win a race:
    the RUNNING -> FAIL step succeeds for one caller only, and only that one queues the rerun).
    """
    out = []
    for trial_id in trial_ids:
        trial = storage.get_trial(trial_id)
        if trial.state != TrialState.RUNNING:
            continue
        reason = f"worker lost: {why} (worker {trial.user_attrs.get(records.WORKER, 'unknown')})"
        try:
            storage.set_trial_user_attr(trial_id, records.FAIL_REASON, reason)
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # finished meanwhile, by its worker or another reaper
        out.append((trial.number, queue_again(storage, study_id, trial, crash=True, max_retries=max_retries)))
    return out
