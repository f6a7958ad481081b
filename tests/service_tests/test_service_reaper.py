"""The reaper: a trial whose worker died is failed with a reason and queued again, retries are bounded.

A dead worker is played by taking a trial and never finishing it (the process-kill versions of these
tests are in test_service_processes.py).
"""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from tests.service_tests import objectives
from tests.service_tests.helpers import trials_of
from tuner import records
from tuner.service import run_worker, status, submit
from tuner.service.queue import FIXED_PARAMS, queue_again, take_waiting
from tuner.service.storage import open_storage

FAST = dict(devices="cpu", heartbeat_interval=1, grace_period=2, poll_interval=0.1)


def take_and_abandon(url: str, name: str, *, beat: bool) -> optuna.trial.FrozenTrial:
    """Take the job's next trial, then vanish: as a worker would (its first heartbeat comes with it), or
    without any heartbeat, as a process that took it with Optuna's own API (``study.ask``) and died."""
    storage = open_storage(url, heartbeat_interval=1, grace_period=2)
    study_id = storage.get_study_id_from_name(name)
    if beat:
        trial = take_waiting(storage, study_id)
    else:
        trial = storage.get_all_trials(study_id, states=(TrialState.WAITING,))[0]
        assert storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING)
    storage.set_trial_user_attr(trial._trial_id, records.WORKER, "ghost:1:0")
    storage.engine.dispose()
    return trial


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_dead_workers_trial_is_failed_queued_again_and_rerun_with_the_same_point(write_spec, sqlite_url):
    submit(write_spec(), sqlite_url)
    lost = take_and_abandon(sqlite_url, "job", beat=True)
    # The only worker finishes the other five trials, then waits (nothing to start) while its reaper acts.
    assert run_worker(sqlite_url, until_done=True, objective=objectives.quick, **FAST) == 0
    trials = trials_of(sqlite_url, "job")
    failed = trials[lost.number]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs[records.FAIL_REASON] == "worker lost: no heartbeat for over 2 s (worker ghost:1:0)"
    (rerun,) = [t for t in trials if t.user_attrs.get(records.RETRY_OF) == lost.number]
    assert rerun.state == TrialState.COMPLETE
    assert rerun.params == {k: v for k, v in lost.system_attrs[FIXED_PARAMS].items()}
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(rerun) == lost.number
    complete = [tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == len(set(complete)) == 6  # every grid point exactly once
    (job,) = status(sqlite_url)
    assert (job.complete, job.failed, job.requeued, job.running, job.waiting, job.state) == (6, 1, 1, 0, 0, "done")


def test_a_trial_orphaned_before_its_first_heartbeat_is_found_too(write_spec, sqlite_url):
    submit(write_spec(), sqlite_url)
    lost = take_and_abandon(sqlite_url, "job", beat=False)
    assert run_worker(sqlite_url, until_done=True, objective=objectives.quick, **FAST) == 0
    trials = trials_of(sqlite_url, "job")
    assert trials[lost.number].state == TrialState.FAIL
    assert trials[lost.number].user_attrs[records.FAIL_REASON].startswith("worker lost: no heartbeat at all for over 2 s")
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6


def test_with_no_retries_left_a_lost_trial_stays_failed(write_spec, sqlite_url):
    submit(write_spec(max_retries=0), sqlite_url)
    lost = take_and_abandon(sqlite_url, "job", beat=True)
    assert run_worker(sqlite_url, until_done=True, objective=objectives.quick, **FAST) == 0
    trials = trials_of(sqlite_url, "job")
    assert len(trials) == 6 and trials[lost.number].state == TrialState.FAIL
    (job,) = status(sqlite_url)
    assert (job.complete, job.failed, job.requeued, job.waiting, job.state) == (5, 1, 0, 0, "done")


def test_crashes_count_against_max_retries_and_interruptions_do_not(write_spec, sqlite_url):
    submit(write_spec(n_trials=1), sqlite_url)
    storage = open_storage(sqlite_url)
    study_id = storage.get_study_id_from_name("job")

    def lose(crash: bool, max_retries: int) -> bool:
        trial = take_waiting(storage, study_id)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        return queue_again(storage, study_id, storage.get_trial(trial._trial_id), crash=crash, max_retries=max_retries)

    assert lose(crash=True, max_retries=2)  # crash 1 of 2
    assert lose(crash=False, max_retries=2)  # an interruption: still 1
    assert lose(crash=True, max_retries=2)  # crash 2 of 2
    assert not lose(crash=True, max_retries=2)  # a third crash: no rerun
    trials = storage.get_all_trials(study_id)
    assert [t.state for t in trials] == [TrialState.FAIL] * 4
    assert [t.user_attrs.get(records.RETRY_OF) for t in trials] == [None, 0, 1, 2]
    assert len({tuple(t.params.items()) for t in trials}) == 1  # one configuration throughout
    assert trials[-1].system_attrs["retry_history"] == [0, 1, 2]
