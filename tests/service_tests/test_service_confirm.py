"""The confirmation stage: the best configurations run again with new seeds, exactly once, on every path
(one worker, racing callers, ``tuner confirm``, a worker killed in the middle)."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

import pytest
from optuna.trial import TrialState

from tests.service_tests import objectives
from tests.service_tests.helpers import finish, start_worker, stop_mid_trial, trials_of
from tuner import per_user, records
from tuner.cli import main
from tuner.service import confirm, load_jobs, run_job, run_worker, status, submit
from tuner.service.storage import open_storage

FAST = dict(heartbeat_interval=1, poll_interval=0.1, devices="cpu")
GRID = "learning_rate choice [0.01,0.005,0.001]\nnum_layers choice [1,2]\n"  # 6 configurations
MEDIAN = {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0}  # prunes eagerly


def replicates(trials):
    return [t for t in trials if t.user_attrs.get(records.ROLE) == records.REPLICATE]


def test_the_best_configurations_are_replicated_once_with_new_seeds(write_spec, sqlite_url):
    spec = write_spec(GRID, confirm={"top": 2, "seeds": 3}, pruner=MEDIAN, params={"epochs": 3, "seed": 7})
    outcome = run_job(spec, sqlite_url, objective=objectives.quick, **FAST)
    trials = trials_of(sqlite_url, "job")
    search = [t for t in trials if t.user_attrs[records.ROLE] == records.SEARCH]
    assert len(search) == 6 and len(trials) == 12  # 6 search trials (the budget) + 2 x 3 replicates
    complete = [t for t in search if t.state == TrialState.COMPLETE]
    leaders = sorted(complete, key=lambda t: -t.value)[:2]
    reps = replicates(trials)
    assert Counter(t.user_attrs[records.CONFIG_ID] for t in reps) == {records.config_id(t.params): 3 for t in leaders}
    for t in reps:
        (first,) = [s for s in leaders if s.user_attrs[records.CONFIG_ID] == t.user_attrs[records.CONFIG_ID]]
        assert t.params == first.params and t.user_attrs[records.CONFIRM_ROUND] == 0
        assert t.state == TrialState.COMPLETE  # never pruned, though the quick objective's seeds score apart
    for leader in leaders:
        seeds = sorted(t.user_attrs[records.SEED] for t in reps if t.params == leader.params)
        assert seeds == [8, 9, 10] and leader.user_attrs[records.SEED] == 7  # the job's seed + 1, + 2, + 3
    assert all(t.user_attrs[records.SEED] == 7 for t in search)
    assert len({t.user_attrs[records.CONFIG_ID] for t in trials}) == 6
    job = outcome.status
    assert (job.state, job.budget, job.replicates, job.replicates_done) == ("done", 6, 6, 6)
    assert job.complete + job.pruned + job.failed - job.requeued == job.budget + job.replicates


def test_a_job_without_confirm_has_no_stage(write_spec, sqlite_url):
    run_job(write_spec(GRID), sqlite_url, objective=objectives.quick, **FAST)
    assert not replicates(trials_of(sqlite_url, "job"))


def test_racing_callers_queue_the_round_once_on_postgresql(write_spec, postgres_url):
    submit(write_spec(GRID), postgres_url)
    assert run_worker(postgres_url, until_done=True, objective=objectives.quick, **FAST) == 0  # the search
    storage = open_storage(postgres_url)
    (job,) = load_jobs(storage, ["job"])
    storage.engine.dispose()
    start, results = threading.Barrier(8), []

    def race(i: int) -> None:
        own = open_storage(postgres_url)
        start.wait()
        confirm.add_round(own.engine, job.study_id, 3, 2, confirm.SPEC_ROUND)
        results.append(confirm.serve(own, job, f"racer:{i}"))
        own.engine.dispose()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reps = replicates(trials_of(postgres_url, "job"))
    assert len(reps) == 6 and sum(made for made, _ in results) == 6
    assert {t.params["learning_rate"] for t in reps} <= {0.01, 0.005, 0.001}
    assert Counter((t.user_attrs[records.CONFIG_ID], t.user_attrs[records.SEED]) for t in reps).most_common(1)[0][1] == 1
    engine = open_storage(postgres_url).engine
    assert [(r.number, r.done) for r in confirm.rounds(engine, job.study_id)] == [(0, True)]


def test_tuner_confirm_adds_seeds_and_refuses_bad_input(write_spec, sqlite_url, capsys):
    run_job(write_spec(GRID, confirm={"top": 1, "seeds": 1}), sqlite_url, objective=objectives.quick, **FAST)
    before = len(trials_of(sqlite_url, "job"))
    for args, message in [
        (["--top", "-1"], "confirm --top -1: expected a whole number >= 0"),
        (["--seeds", "0"], "confirm --seeds 0: expected a whole number >= 1"),
        (["--top", "0"], "confirm --top 0: nothing to confirm"),
    ]:
        assert main(["confirm", "job", *args, "--storage", sqlite_url]) != 0
        assert message in capsys.readouterr().err
    assert main(["confirm", "nojob", "--storage", sqlite_url]) != 0
    assert "no job named 'nojob'" in capsys.readouterr().err
    assert len(trials_of(sqlite_url, "job")) == before
    assert main(["confirm", "job", "--top", "2", "--seeds", "2", "--storage", sqlite_url]) == 0
    assert "confirmation round 1: 4 replicate trial(s) queued for 2 configuration(s)" in capsys.readouterr().out
    waiting = [t for t in trials_of(sqlite_url, "job") if t.state == TrialState.WAITING]
    assert len(waiting) == 4 and all(t.user_attrs[records.CONFIRM_ROUND] == 1 for t in waiting)
    (leader,) = [t for t in replicates(trials_of(sqlite_url, "job")) if t.user_attrs[records.CONFIRM_ROUND] == 0]
    again = sorted(t.user_attrs[records.SEED] for t in waiting if t.params == leader.params)
    assert again == [2022, 2023]  # 2021 was round 0's: seeds are never reused within a configuration
    (job,) = status(sqlite_url, ["job"])
    assert (job.budget, job.replicates, job.replicates_done, job.state) == (6, 5, 1, "paused")


def test_tuner_confirm_needs_a_completed_trial(write_spec, sqlite_url, capsys):
    submit(write_spec(GRID), sqlite_url)
    assert main(["confirm", "job", "--storage", sqlite_url]) != 0
    assert "confirm: job 'job' has no completed trial yet" in capsys.readouterr().err
    assert len(trials_of(sqlite_url, "job")) == 6
    assert confirm.rounds(open_storage(sqlite_url).engine, 1) == []


def test_trained_replicates_store_per_user_ranks(write_spec, sqlite_url):
    """Real training on synthetic-tiny: every complete trial's ranks are in the side table, one per user."""
    spec = write_spec("num_layers choice [1,2]\n", confirm={"top": 1, "seeds": 1}, params={"epochs": 2, "MAX_ITEM_LIST_LENGTH": 5})
    run_job(spec, sqlite_url, **FAST)
    trials = trials_of(sqlite_url, "job")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    engine = open_storage(sqlite_url).engine
    ranks = per_user.load_ranks(engine, [t._trial_id for t in trials])
    assert set(ranks) == {t._trial_id for t in trials}
    for t in trials:
        valid = per_user.per_user_values(ranks[t._trial_id]["valid"], "ndcg@10")
        assert valid.mean() == pytest.approx(t.value, rel=1e-9)
        test = per_user.per_user_values(ranks[t._trial_id]["test"], "recall@10")
        assert test.mean() == pytest.approx(t.user_attrs[records.TEST_METRICS]["recall@10"], rel=1e-9)
        assert t.user_attrs[records.THREADS] >= 1
    (rep,) = replicates(trials)
    assert len(ranks[rep._trial_id]["valid"]) == len(ranks[trials[0]._trial_id]["valid"])
    assert rep.user_attrs[records.SEED] == 2021


@pytest.mark.slow
def test_a_worker_killed_during_the_confirmation_loses_no_replicate(write_spec, postgres_url, monkeypatch):
    monkeypatch.setenv("TEST_SLOW_EPOCHS", "4")
    monkeypatch.setenv("TEST_SLOW_PAUSE", "0.25")
    submit(write_spec("num_layers choice [1,2]\n", confirm={"top": 2, "seeds": 2}), postgres_url)
    worker = dict(devices="cpu", heartbeat_interval=1, grace_period=3, poll_interval=0.1, until_done=True)
    victim = start_worker(postgres_url, "slow", **worker)

    def running_replicate():
        for t in replicates(trials_of(postgres_url, "job")):
            if t.state == TrialState.RUNNING and t.intermediate_values:
                return t
        return None

    killed = stop_mid_trial(postgres_url, victim, running_replicate)
    os.killpg(victim.pid, signal.SIGKILL)
    assert finish(victim)[0] == -signal.SIGKILL
    code, err = finish(start_worker(postgres_url, "slow", **worker))
    assert code == 0, err
    trials = trials_of(postgres_url, "job")
    reps = replicates(trials)
    done = Counter((t.user_attrs[records.CONFIG_ID], t.user_attrs[records.SEED]) for t in reps if t.state == TrialState.COMPLETE)
    assert len(done) == 4 and set(done.values()) == {1}  # 2 configurations x 2 seeds, each complete once
    assert trials[killed.number].state == TrialState.FAIL
    (rerun,) = [t for t in trials if t.user_attrs.get(records.RETRY_OF) == killed.number]
    for key in (records.ROLE, records.CONFIG_ID, records.SEED, records.CONFIRM_ROUND):
        assert rerun.user_attrs[key] == killed.user_attrs[key]
    assert not [t for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)]
    (job,) = status(postgres_url, ["job"])
    assert (job.budget, job.replicates, job.replicates_done, job.requeued, job.state) == (2, 4, 4, 1, "done")


def test_tuner_run_continues_a_job_when_confirm_is_added(write_spec, sqlite_url):
    run_job(write_spec(GRID), sqlite_url, objective=objectives.quick, **FAST)
    outcome = run_job(write_spec(GRID, confirm={"top": 1, "seeds": 2}), sqlite_url, objective=objectives.quick, **FAST)
    assert outcome.continued and (outcome.status.replicates, outcome.status.replicates_done) == (2, 2)
    assert len(trials_of(sqlite_url, "job")) == 8
