"""A worker run in this process (one slot) or as slot processes, with injected objectives (no training)."""

from __future__ import annotations

import json
import re

import optuna
import pytest
import sqlalchemy as sa
from optuna.trial import TrialState

from tests.service_tests import objectives
from tests.service_tests.helpers import trials_of
from tuner import records
from tuner.cli import main
from tuner.errors import JobError
from tuner.service import run_worker, status, submit

FAST = dict(devices="cpu", heartbeat_interval=1, poll_interval=0.1)


def test_worker_runs_the_whole_grid_and_records_each_trial(write_spec, sqlite_url):
    submit(write_spec(), sqlite_url)
    assert run_worker(sqlite_url, until_done=True, objective=objectives.quick, **FAST) == 0
    trials = trials_of(sqlite_url, "job")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 6
    for t in trials:
        ua = t.user_attrs
        final = objectives.score(t.params)
        assert t.value == pytest.approx(final)
        assert ua[records.VALID_METRICS] == {"ndcg@10": pytest.approx(final), "recall@10": pytest.approx(final * 1.5)}
        assert ua[records.TEST_METRICS]["ndcg@10"] == pytest.approx(final * 0.9)
        assert (ua[records.BEST_EPOCH], ua[records.EPOCHS], ua[records.DEVICE]) == (3, 3, "cpu")
        assert ua[records.SECONDS] >= 0 and ua[records.HOST]
        assert re.fullmatch(r"[^:]+:\d+:0", ua[records.WORKER])
        # Only the validation objective reaches Optuna, every epoch: never a test metric.
        assert t.intermediate_values == {e: pytest.approx(final * e / 3) for e in (1, 2, 3)}


def test_a_trial_that_raises_is_failed_with_its_error_and_the_worker_goes_on(write_spec, sqlite_url):
    submit(write_spec(), sqlite_url)
    assert run_worker(sqlite_url, until_done=True, objective=objectives.fails_on_high_rate, **FAST) == 0
    trials = trials_of(sqlite_url, "job")
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert sorted(t.params["num_layers"] for t in failed) == [1, 2]
    assert all(t.params["learning_rate"] == 0.01 for t in failed)
    assert all(t.user_attrs[records.FAIL_REASON] == "FloatingPointError: loss became nan at epoch 2" for t in failed)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4
    (job,) = status(sqlite_url)
    assert (job.complete, job.failed, job.requeued, job.waiting, job.state) == (4, 2, 0, 0, "done")


def test_the_pruner_stops_poor_trials_and_says_why(write_spec, sqlite_url):
    space = "learning_rate choice [0.01,0.005,0.001,0.0005,0.0001]\nnum_layers choice [1,2,3]\n"
    submit(write_spec(space, pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 0}), sqlite_url)
    run_worker(sqlite_url, until_done=True, objective=objectives.quick, **FAST)
    trials = trials_of(sqlite_url, "job")
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "some of 15 configurations fall below the running median"
    for t in pruned:
        assert re.fullmatch(r"pruned at epoch \d: ndcg@10 0\.\d{4} below the pruner's threshold", t.user_attrs[records.PRUNE_REASON])
        assert records.TEST_METRICS not in t.user_attrs
        assert t.user_attrs[records.EPOCHS] == max(t.intermediate_values) < 3
    assert len(trials) == 15 and all(t.state in (TrialState.PRUNED, TrialState.COMPLETE) for t in trials)


def test_max_trials_stops_the_worker_and_leaves_the_rest_queued(write_spec, sqlite_url):
    submit(write_spec(), sqlite_url)
    assert run_worker(sqlite_url, max_trials=2, objective=objectives.quick, **FAST) == 0
    states = [t.state for t in trials_of(sqlite_url, "job")]
    assert states.count(TrialState.COMPLETE) == 2 and states.count(TrialState.WAITING) == 4


def test_tpe_is_reproducible_per_seed_and_never_repeats_a_startup_draw(write_spec, tmp_path):
    def draws(db: str, seed: int) -> list[float]:
        url = f"sqlite:///{tmp_path / db}"
        submit(write_spec("learning_rate loguniform -9,-2\n", sampler={"name": "tpe", "seed": seed, "n_startup_trials": 3},
                          n_trials=6), url)
        run_worker(url, until_done=True, objective=objectives.quick, **FAST)
        return [t.params["learning_rate"] for t in trials_of(url, "job")]

    first, again, other = draws("a.db", 7), draws("b.db", 7), draws("c.db", 8)
    assert first == again
    assert first != other
    assert len(set(first)) == 6


def test_timeout_stops_new_trials_and_status_says_timed_out(write_spec, sqlite_url, monkeypatch):
    monkeypatch.setenv("TEST_SLOW_EPOCHS", "3")
    monkeypatch.setenv("TEST_SLOW_PAUSE", "0.5")
    submit(write_spec(timeout_hours=1 / 3600), sqlite_url)  # one second from the first trial's start
    assert run_worker(sqlite_url, until_done=True, objective=objectives.slow, **FAST) == 0
    (job,) = status(sqlite_url)
    assert (job.complete, job.waiting, job.state) == (1, 5, "timed out")


def test_unknown_job_name_is_an_error_before_anything_runs(write_spec, sqlite_url):
    submit(write_spec(), sqlite_url)
    with pytest.raises(JobError, match=r"no job named 'jbo' \(did you mean 'job'\?\) \(jobs: job\)"):
        run_worker(sqlite_url, ["jbo"], until_done=True, objective=objectives.quick, **FAST)


def test_jobs_are_served_oldest_first_and_only_named_ones(write_spec, sqlite_url):
    spec = write_spec()
    for name in ("first", "second", "third"):
        submit(spec, sqlite_url, name=name)
    run_worker(sqlite_url, ["third", "second"], max_trials=8, objective=objectives.quick, **FAST)
    done = {j.name: j.complete for j in status(sqlite_url)}
    assert done == {"first": 0, "second": 6, "third": 2}  # named ones, in storage order (oldest first)
    run_worker(sqlite_url, max_trials=5, objective=objectives.quick, **FAST)
    assert {j.name: j.complete for j in status(sqlite_url)} == {"first": 5, "second": 6, "third": 2}


@pytest.mark.slow
def test_two_slot_processes_share_the_job(write_spec, sqlite_url, monkeypatch):
    monkeypatch.setenv("TEST_SLOW_EPOCHS", "2")  # slot processes inherit the environment
    monkeypatch.setenv("TEST_SLOW_PAUSE", "0.3")
    submit(write_spec("learning_rate choice [0.01,0.005,0.001,0.0005]\nnum_layers choice [1,2,3]\n"), sqlite_url)
    assert run_worker(sqlite_url, trials_per_device=2, until_done=True, objective=objectives.slow,
                      **{**FAST, "poll_interval": 0.2}) == 0
    trials = trials_of(sqlite_url, "job")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 12
    workers = {t.user_attrs[records.WORKER] for t in trials}
    assert {w.rsplit(":", 1)[1] for w in workers} == {"0", "1"}
    assert len({w.split(":")[1] for w in workers}) == 2  # two processes


def test_status_cli_lists_jobs_and_workers(write_spec, sqlite_url, capsys):
    submit(write_spec(), sqlite_url)
    assert [j.state for j in status(sqlite_url)] == ["queued"]
    run_worker(sqlite_url, max_trials=3, objective=objectives.quick, **FAST)
    capsys.readouterr()
    assert main(["status", "--storage", sqlite_url]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^job\s+GRU4RecF\s+paused\s+3/6\s+3\s+0\s+0\s+0\s+3\s+ndcg@10 0\.\d{4} \(#\d\)\s+learning_rate=", out, re.M), out
    assert re.search(r"^\S+:\d+:0\s+cpu\s+stopped\s+-\s+-\s+3\s+\d+ s ago$", out, re.M), out
    assert main(["status", "--storage", sqlite_url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (job,) = data["jobs"]
    assert (job["complete"], job["waiting"], job["budget"], job["best_trial"] is not None) == (3, 3, 6, True)
    assert data["workers"][0]["state"] == "stopped" and data["workers"][0]["trials_done"] == 3


def test_a_configuration_drawn_again_is_a_failed_copy_not_a_second_result(write_spec, sqlite_url):
    # Two configurations, six trials: TPE must draw some twice; training them again would repeat the result.
    submit(write_spec("num_layers choice [1,2]\n", sampler={"name": "tpe", "seed": 0, "n_startup_trials": 1},
                      n_trials=6), sqlite_url)
    assert run_worker(sqlite_url, until_done=True, objective=objectives.quick, **FAST) == 0
    trials = trials_of(sqlite_url, "job")
    trained = [t for t in trials if records.COPY_OF not in t.user_attrs]
    copies = [t for t in trials if records.COPY_OF in t.user_attrs]
    assert copies and len(trained) == len({t.params["num_layers"] for t in trained}) <= 2
    assert all(t.state == TrialState.COMPLETE for t in trained)
    for copy in copies:
        twin = trials[copy.user_attrs[records.COPY_OF]]
        assert twin in trained and twin.params == copy.params
        assert copy.state == TrialState.FAIL and copy.value is None and records.VALID_METRICS not in copy.user_attrs
        assert copy.user_attrs[records.FAIL_REASON].startswith(f"copy of trial {twin.number}: the sampler drew the same")
        for key in (records.SEED, records.DEVICE, records.THREADS, records.CONFIG_ID):
            assert copy.user_attrs[key] == twin.user_attrs[key]
    # Optuna's own tools see each configuration's result once; the copy counts against the budget, never rerun
    storage = optuna.storages.RDBStorage(sqlite_url)
    best = optuna.load_study(study_name="job", storage=storage).best_trials
    storage.engine.dispose()
    assert [t.number for t in best] == [max(trained, key=lambda t: t.value).number]
    assert len(trials) == 6 and not any(records.RETRY_OF in t.user_attrs for t in trials)
    (job,) = status(sqlite_url, ["job"])
    assert (job.state, job.complete, job.failed, job.requeued) == ("done", len(trained), len(copies), 0)


def test_a_twin_on_another_thread_count_is_trained_again(write_spec, sqlite_url):
    """Float sums depend on torch's thread count: a result is reused only where it would reproduce."""
    import torch

    submit(write_spec("num_layers choice [1]\n", sampler={"name": "tpe", "seed": 0}, n_trials=2), sqlite_url)
    before = torch.get_num_threads()
    try:
        assert run_worker(sqlite_url, until_done=True, max_trials=1, objective=objectives.quick, **FAST) == 0
        trials = trials_of(sqlite_url, "job")
        engine = sa.create_engine(sqlite_url)
        with engine.begin() as conn:  # as if run on a 99-thread slot (a finished trial takes no attribute via Optuna)
            conn.exec_driver_sql("UPDATE trial_user_attributes SET value_json = '99' WHERE trial_id = ? AND key = ?",
                                 (trials[0]._trial_id, records.THREADS))
        engine.dispose()
        assert run_worker(sqlite_url, until_done=True, objective=objectives.quick, **FAST) == 0
    finally:
        torch.set_num_threads(before)
    first, second = trials_of(sqlite_url, "job")
    assert second.state == TrialState.COMPLETE and records.COPY_OF not in second.user_attrs
    assert second.user_attrs[records.THREADS] == torch.get_num_threads() != first.user_attrs[records.THREADS]
