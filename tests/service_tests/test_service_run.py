"""``run_job``: submit and run until done; running it again continues the job instead of failing."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from tests.service_tests import objectives
from tests.service_tests.helpers import trials_of
from tuner.errors import JobError
from tuner.service import ranking, run_job, run_worker, submit

FAST = dict(heartbeat_interval=1, poll_interval=0.1, devices="cpu")


def test_run_finishes_the_job_and_ranks_it(write_spec, sqlite_url):
    outcome = run_job(write_spec(), sqlite_url, objective=objectives.quick, **FAST)
    assert (outcome.name, outcome.continued, outcome.exit_code) == ("job", False, 0)
    assert (outcome.status.complete, outcome.status.state) == (6, "done")
    ranked = ranking(sqlite_url, "job")
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5, 6]
    assert [r.value for r in ranked] == sorted((r.value for r in ranked), reverse=True)
    assert ranked[0].number == outcome.status.best_trial and ranked[0].params == outcome.status.best_params
    assert ranked[0].test == {"ndcg@10": pytest.approx(ranked[0].value * 0.9), "recall@10": pytest.approx(ranked[0].value * 1.4)}


def test_running_it_again_continues_an_unfinished_job(write_spec, sqlite_url):
    spec = write_spec()
    submit(spec, sqlite_url)
    run_worker(sqlite_url, max_trials=2, objective=objectives.quick, **FAST)
    outcome = run_job(spec, sqlite_url, objective=objectives.quick, **FAST)
    assert outcome.continued and outcome.status.complete == 6
    assert len(trials_of(sqlite_url, "job")) == 6
    again = run_job(spec, sqlite_url, objective=objectives.quick, **FAST)  # finished: nothing more to run
    assert again.continued and again.status.complete == 6 and len(trials_of(sqlite_url, "job")) == 6


def test_a_larger_budget_adds_trials_and_any_other_change_is_refused(write_spec, sqlite_url):
    space = "learning_rate loguniform -9,-2\n"
    tpe = {"name": "tpe", "seed": 3}
    run_job(write_spec(space, sampler=tpe, n_trials=3), sqlite_url, objective=objectives.quick, **FAST)
    grown = run_job(write_spec(space, sampler=tpe, n_trials=5), sqlite_url, objective=objectives.quick, **FAST)
    assert grown.continued and (grown.status.budget, grown.status.complete) == (5, 5)
    with pytest.raises(JobError, match=r"job 'job' in sqlite:///.* was submitted with a different params than .*job.yaml; run it under a new name \(--name job-2\)"):
        run_job(write_spec(space, sampler=tpe, n_trials=5, params={"epochs": 4}), sqlite_url, objective=objectives.quick, **FAST)
    with pytest.raises(JobError, match=r"different n_trials"):
        run_job(write_spec(space, sampler=tpe, n_trials=4), sqlite_url, objective=objectives.quick, **FAST)
    assert len(trials_of(sqlite_url, "job")) == 5


def test_mysql_storage(write_spec, mysql_url):
    """MariaDB/MySQL through pymysql (the ``mysql`` extra): a scratch database on the local server."""
    outcome = run_job(write_spec(), mysql_url, objective=objectives.quick, **FAST)
    assert outcome.status.complete == 6
    assert [t.state for t in trials_of(mysql_url, "job")] == [TrialState.COMPLETE] * 6


def test_optunas_own_cli_reads_the_job(write_spec, sqlite_url):
    import json
    import subprocess
    import sys
    from pathlib import Path

    outcome = run_job(write_spec(), sqlite_url, objective=objectives.quick, **FAST)
    optuna_cli = Path(sys.executable).with_name("optuna")
    done = subprocess.run([str(optuna_cli), "best-trial", "--study-name", "job", "--storage", sqlite_url, "-f", "json"],
                          capture_output=True, text=True, check=True)
    best = json.loads(done.stdout)
    assert best["number"] == outcome.status.best_trial and best["value"] == pytest.approx(outcome.status.best_value)
    assert best["params"] == outcome.status.best_params
