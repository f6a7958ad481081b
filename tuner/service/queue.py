"""The trial queue of a job: taking a WAITING trial, queueing a lost one again, failing stale ones.

Everything here is one or two storage calls whose atomicity Optuna's RDB storage guarantees
(``SELECT ... FOR UPDATE`` on servers; whole-transaction locks on SQLite, see :mod:`.storage`):
- taking: WAITING -> RUNNING succeeds for exactly one caller;
- failing a stale trial: RUNNING -> FAIL succeeds for exactly one reaper, which alone queues the rerun.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import records

CRASHES = "tuner:crashes"  # system attr: how many times this configuration lost its worker
# Optuna's RetryHeartbeatStaleTrialCallback keys, kept so its retried_trial_number() works on our reruns.
FAILED_TRIAL = "failed_trial"
RETRY_HISTORY = "retry_history"
FIXED_PARAMS = "fixed_params"  # Optuna's key for enqueued parameter values (grid points)
# What a rerun keeps of the trial it reruns: a replicate stays that replicate (same seed, same round).
_KEPT = (records.ROLE, records.CONFIG_ID, records.SEED, records.CONFIRM_ROUND)


def take_waiting(storage: optuna.storages.BaseStorage, study_id: int) -> FrozenTrial | None:
    """Move the oldest WAITING trial this caller can get to RUNNING; None when none is left."""
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                return trial
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def unfinished(storage: optuna.storages.RDBStorage, study_id: int) -> tuple[int, int]:
    """(waiting, running) trial counts."""
    trials = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    return waiting, len(trials) - waiting


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


def stale_trials(storage: optuna.storages.RDBStorage, study_id: int) -> list[int]:
    """RUNNING trials whose last heartbeat is older than the storage's grace period.

    Optuna's own query, the one ``optuna.storages.fail_stale_trials`` uses; we call it directly so the
    trial gets its ``fail_reason`` while it can still take attributes (a finished trial cannot).
    """
    return storage._get_stale_trial_ids(study_id)


def heartbeatless_trials(storage: optuna.storages.RDBStorage, study_id: int) -> set[int]:
    """RUNNING trials without any heartbeat: normal for the instant between taking a trial and its first
    beat; a trial that stays so was orphaned in that instant (Optuna's stale query never sees it)."""
    from optuna.storages._rdb import models

    session = storage.scoped_session()
    try:
        rows = (
            session.query(models.TrialModel.trial_id)
            .outerjoin(models.TrialHeartbeatModel, models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id)
            .filter(models.TrialModel.study_id == study_id, models.TrialModel.state == TrialState.RUNNING,
                    models.TrialHeartbeatModel.trial_heartbeat_id.is_(None))
            .all()
        )
        session.commit()
    finally:
        storage.scoped_session.remove()
    return {row[0] for row in rows}


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
