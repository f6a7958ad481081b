"""The ``tuner`` command with real training (synthetic-tiny): several workers, a kill, a restarted
database server, ``tuner run`` with its report, and the shipped job specs."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.service_tests.helpers import ROOT, finish, run_cli, start_cli, stop_mid_trial, trials_of, wait_for
from tuner import records
from tuner.service import submit

pytestmark = pytest.mark.slow

SPACE = "learning_rate choice [0.01,0.005,0.002,0.001]\nhidden_size choice [16,32]\n"  # 8 configurations
WORKER = ["--devices", "cpu", "--heartbeat-interval", "1", "--grace-period", "4", "--until-done"]


def real_spec(write_spec, **keys) -> Path:
    return write_spec(SPACE, params={"epochs": 6, "stopping_step": 6, "MAX_ITEM_LIST_LENGTH": 10}, **keys)


def check_real_results(url: str, points: int = 8) -> list:
    trials = trials_of(url, "job")
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    counts = Counter(tuple(sorted(t.params.items())) for t in complete)
    assert len(counts) == points and set(counts.values()) == {1}, counts
    for t in complete:
        valid, test = t.user_attrs[records.VALID_METRICS], t.user_attrs[records.TEST_METRICS]
        assert 0 < t.value == valid["ndcg@10"] <= 1 and 0 <= test["ndcg@10"] <= 1
        assert {"recall@10", "mrr@10", "hit@10", "precision@10"} <= set(valid) and set(test) == set(valid)
        assert 1 <= t.user_attrs[records.BEST_EPOCH] <= t.user_attrs[records.EPOCHS] <= 6
        assert sorted(t.intermediate_values) == list(range(1, t.user_attrs[records.EPOCHS] + 1))
        assert t.intermediate_values[t.user_attrs[records.BEST_EPOCH]] == pytest.approx(t.value)
        curves = t.user_attrs[records.EPOCH_METRICS]  # every metric's learning curve, as the objective's
        assert curves["epoch"] == sorted(t.intermediate_values) and all(s > 0 for s in curves["seconds"])
        assert curves["ndcg@10"] == pytest.approx([t.intermediate_values[e] for e in curves["epoch"]], rel=1e-5)
        assert {"recall@10", "mrr@10"} <= set(curves)
    return trials


def test_three_cli_workers_train_a_grid_job_and_survive_a_kill(write_spec, postgres_url):
    spec = real_spec(write_spec)
    assert run_cli("submit", str(spec), "--storage", postgres_url).stdout == "job\n"
    workers = [start_cli("worker", "--storage", postgres_url, *WORKER) for _ in range(3)]

    def victim_mid_trial():
        for t in trials_of(postgres_url, "job"):
            pid = t.user_attrs.get(records.WORKER, "::").split(":")[1]
            if t.state == TrialState.RUNNING and t.intermediate_values and pid == str(workers[0].pid):
                return t
        return None

    killed = stop_mid_trial(postgres_url, workers[0], victim_mid_trial)
    os.killpg(workers[0].pid, signal.SIGKILL)
    results = [finish(w, timeout=300) for w in workers[1:]]
    assert [code for code, _ in results] == [0, 0], results
    trials = check_real_results(postgres_url)
    assert trials[killed.number].state == TrialState.FAIL
    assert [t.state for t in trials if t.user_attrs.get(records.RETRY_OF) == killed.number] == [TrialState.COMPLETE]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def test_cli_workers_ride_out_a_database_restart(write_spec, private_postgres, private_postgres_url):
    url = private_postgres_url
    submit(real_spec(write_spec), url)
    options = [*WORKER[:-3], "--grace-period", "60", "--until-done"]  # the outage is shorter than the grace period
    workers = [start_cli("worker", "--storage", url, *options) for _ in range(2)]
    wait_for(lambda: any(t.state == TrialState.COMPLETE for t in trials_of(url, "job")), timeout=120, what="a trial done")
    private_postgres.stop()
    time.sleep(3)  # heartbeats and epoch reports fail meanwhile
    private_postgres.start()
    results = [finish(w, timeout=300) for w in workers]
    assert [code for code, _ in results] == [0, 0], results
    check_real_results(url)
    logs = "".join(err for _, err in results)
    assert "database unreachable" in logs and "database back after" in logs, logs[-3000:]


def test_tuner_run_trains_ranks_reports_and_continues(write_spec, sqlite_url, tmp_path):
    spec = real_spec(write_spec, sampler={"name": "tpe", "seed": 0, "n_startup_trials": 2}, n_trials=4,
                     pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 1})
    report = tmp_path / "report.html"
    first = run_cli("run", str(spec), "--storage", sqlite_url, "--workers", "2", "-o", str(report))
    assert "job job: done; " in first.stdout and "of 4 trials" in first.stdout
    assert re.search(r"RANK +CONFIG +RUNS +VALID ndcg@10", first.stdout), first.stdout
    assert report.stat().st_size > 10_000 and "<html" in report.read_text()[:500].lower()
    again = run_cli("run", str(spec), "--storage", sqlite_url)
    assert "continuing it" in again.stderr and "job job: done; " in again.stdout
    assert len(trials_of(sqlite_url, "job")) == 4


@pytest.mark.parametrize("spec", sorted((ROOT / "studies").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_job_specs_submit(spec, sqlite_url):
    name = run_cli("submit", str(spec), "--storage", sqlite_url).stdout.strip()
    assert name == spec.stem
    trials = trials_of(sqlite_url, name)
    assert trials and all(t.state == TrialState.WAITING for t in trials)
