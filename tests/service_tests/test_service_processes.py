"""Real worker processes on a real database: sharing a job, SIGKILL, SIGTERM.

Every worker here is its own OS process (``start_worker``), killed or signalled for real. Objectives
are the injected ones of objectives.py, so a trial lasts a known time; test_service_training.py runs the
same machinery through the ``tuner`` command with real training.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

import pytest
from optuna.trial import TrialState

from tests.service_tests.helpers import finish, start_worker, stop_mid_trial, trials_of, wait_for
from tuner import records
from tuner.service import status, submit

pytestmark = pytest.mark.slow

GRID = "learning_rate choice [0.01,0.005,0.001,0.0005]\nnum_layers choice [1,2,3]\n"  # 12 configurations
WORKER = dict(devices="cpu", heartbeat_interval=1, grace_period=3, poll_interval=0.1, until_done=True)
SLOW = {"TEST_SLOW_EPOCHS": "4", "TEST_SLOW_PAUSE": "0.25"}  # a trial lasts about a second


@pytest.fixture
def slow_trials(monkeypatch):
    for key, value in SLOW.items():
        monkeypatch.setenv(key, value)


def assert_every_point_complete_once(url: str, name: str = "job", points: int = 12) -> list:
    trials = trials_of(url, name)
    complete = Counter(tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE)
    assert len(complete) == points and set(complete.values()) == {1}, complete
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    return trials


def running_trial_of(url: str, pid: int):
    """The trial the single-slot worker with this pid is in the middle of (an epoch reported), if any."""
    for t in trials_of(url, "job"):
        worker = t.user_attrs.get(records.WORKER, "")
        if t.state == TrialState.RUNNING and worker.split(":")[1:2] == [str(pid)] and t.intermediate_values:
            return t
    return None


def test_three_workers_share_a_grid_job_on_postgresql(write_spec, postgres_url, slow_trials):
    submit(write_spec(GRID), postgres_url)
    workers = [start_worker(postgres_url, "slow", **WORKER) for _ in range(3)]
    results = [finish(w) for w in workers]
    assert [code for code, _ in results] == [0, 0, 0], results
    trials = assert_every_point_complete_once(postgres_url)
    assert len(trials) == 12  # the budget exactly: not one trial more
    assert len({t.user_attrs[records.WORKER] for t in trials}) == 3  # all three took part
    (job,) = status(postgres_url)
    assert (job.complete, job.budget, job.state) == (12, 12, "done")


def test_a_worker_killed_mid_trial_loses_nothing(write_spec, postgres_url, slow_trials):
    submit(write_spec(GRID), postgres_url)
    victim = start_worker(postgres_url, "slow", **WORKER)
    others = [start_worker(postgres_url, "slow", **WORKER) for _ in range(2)]
    killed = stop_mid_trial(postgres_url, victim, lambda: running_trial_of(postgres_url, victim.pid))
    os.killpg(victim.pid, signal.SIGKILL)
    assert finish(victim)[0] == -signal.SIGKILL
    results = [finish(w) for w in others]
    assert [code for code, _ in results] == [0, 0], results
    trials = assert_every_point_complete_once(postgres_url)
    lost = trials[killed.number]
    assert lost.state == TrialState.FAIL
    assert lost.user_attrs[records.FAIL_REASON].startswith("worker lost: no heartbeat for over 3 s")
    (rerun,) = [t for t in trials if t.user_attrs.get(records.RETRY_OF) == killed.number]
    assert rerun.state == TrialState.COMPLETE and rerun.params == lost.params
    assert any("lost its worker" in err and "queued again" in err for _, err in results)
    (job,) = status(postgres_url)
    assert (job.complete, job.failed, job.requeued, job.budget) == (12, 1, 1, 12)


def test_several_processes_share_one_sqlite_file(write_spec, sqlite_url):
    space = "learning_rate choice [0.01,0.005,0.001,0.0005,0.0001,0.00005]\nnum_layers choice [1,2,3,4]\n"
    submit(write_spec(space), sqlite_url)
    workers = [start_worker(sqlite_url, "quick", **WORKER) for _ in range(3)]
    results = [finish(w) for w in workers]
    assert [code for code, _ in results] == [0, 0, 0], results
    trials = assert_every_point_complete_once(sqlite_url, points=24)
    assert len(trials) == 24
    assert len({t.user_attrs[records.WORKER] for t in trials}) > 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_closes_the_trial_and_queues_it_again(write_spec, postgres_url, monkeypatch, signum):
    monkeypatch.setenv("TEST_SLOW_EPOCHS", "20")
    monkeypatch.setenv("TEST_SLOW_PAUSE", "0.25")
    submit(write_spec(GRID), postgres_url)
    worker = start_worker(postgres_url, "slow", **WORKER)
    interrupted = wait_for(lambda: running_trial_of(postgres_url, worker.pid), what="a trial under way")
    worker.send_signal(signum)
    code, err = finish(worker, timeout=30)
    assert code == 0, err
    trials = trials_of(postgres_url, "job")
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    closed = trials[interrupted.number]
    assert closed.state == TrialState.FAIL
    assert closed.user_attrs[records.FAIL_REASON].startswith(f"interrupted: the worker was stopped ({signal.Signals(signum).name}) at epoch")
    (rerun,) = [t for t in trials if t.user_attrs.get(records.RETRY_OF) == interrupted.number]
    assert rerun.state == TrialState.WAITING
    assert "slot stopped after 1 trial(s)" in err


def test_sigterm_reaches_every_slot_process(write_spec, postgres_url, monkeypatch):
    monkeypatch.setenv("TEST_SLOW_EPOCHS", "40")
    monkeypatch.setenv("TEST_SLOW_PAUSE", "0.25")
    submit(write_spec(GRID), postgres_url)
    worker = start_worker(postgres_url, "slow", **{**WORKER, "trials_per_device": 2})

    def two_running():
        running = [t for t in trials_of(postgres_url, "job") if t.state == TrialState.RUNNING and t.intermediate_values]
        return running if len(running) == 2 else None

    running = wait_for(two_running, timeout=90, what="both slots mid-trial")
    worker.send_signal(signal.SIGTERM)
    code, err = finish(worker, timeout=60)
    assert code == 0, err
    trials = trials_of(postgres_url, "job")
    assert [trials[t.number].state for t in running] == [TrialState.FAIL, TrialState.FAIL]
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert err.count("slot stopped after 1 trial(s) (SIGTERM)") == 2, err
