"""Live progress: one line per finished trial from ``tuner run`` / ``tuner worker`` (done/total, best so
far, ETA from the mean trial time), and ``tuner status --watch`` refreshing until Ctrl-C."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import time

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from tests.service_tests import objectives
from tests.service_tests.helpers import ROOT, TUNER, trials_of
from tuner.cli import main
from tuner.service import load_jobs, open_storage, run_job, submit
from tuner.service.progress import format_seconds, progress_of

LINE = re.compile(r"^job: (\d+)/(\d+) trials, #(\d+) (complete|pruned|fail), (best ndcg@10 [0-9.]+ \(#\d+\)|no result yet), "
                  r"[0-9.]+ s/trial, ETA (\d+ s|\d+ min \d\d s)$")


def _trial(number: int, state: TrialState, value: float | None, start_s: float, seconds: float, **attrs) -> FrozenTrial:
    start = dt.datetime(2026, 12, 4, 12, 0, 0) + dt.timedelta(seconds=start_s)
    finished = state.is_finished()
    return FrozenTrial(number=number, state=state, value=value, datetime_start=start,
                       datetime_complete=start + dt.timedelta(seconds=seconds) if finished else None, params={},
                       distributions={}, user_attrs=attrs, system_attrs={}, intermediate_values={}, trial_id=number)


def test_done_best_and_eta_as_of_each_finished_trial(write_spec, sqlite_url):
    submit(write_spec(), sqlite_url)  # a grid of 6
    storage = open_storage(sqlite_url)
    (job,) = load_jobs(storage)
    storage.engine.dispose()
    trials = [
        _trial(0, TrialState.COMPLETE, 0.2, 0, 10),
        _trial(1, TrialState.FAIL, None, 0, 20),  # its worker died; queued again as #3
        _trial(2, TrialState.COMPLETE, 0.5, 10, 30),
        _trial(3, TrialState.PRUNED, None, 20, 25, retry_of=1),
        _trial(4, TrialState.RUNNING, None, 40, 0),
        _trial(5, TrialState.RUNNING, None, 40, 0),
    ]
    got = progress_of(job, trials, [t for t in trials if t.state.is_finished()])
    # finished in the order 0 (at 10 s), 1 (20 s), 2 (40 s), 3 (45 s); #1 was queued again and counts once
    assert [(p.trial, p.done, p.best_trial) for p in got] == [(0, 1, 0), (1, 1, 0), (2, 2, 2), (3, 3, 2)]
    assert [p.mean_seconds for p in got] == [10, 15, 20, 21.25]
    # remaining x mean trial time / the two trials running now
    assert got[-1].eta_seconds == pytest.approx(3 * 21.25 / 2) and got[-1].best_value == 0.5
    assert LINE.match(got[-1].line()), got[-1].line()
    assert [format_seconds(s) for s in (4.6, 65, 3 * 3600 + 20 * 60)] == ["5 s", "1 min 05 s", "3 h 20 min"]


def test_confirmation_replicates_extend_the_total(write_spec, sqlite_url):
    submit(write_spec(), sqlite_url)  # a grid of 6
    storage = open_storage(sqlite_url)
    (job,) = load_jobs(storage)
    storage.engine.dispose()
    search = [_trial(n, TrialState.COMPLETE, 0.1 * n, 10 * n, 10) for n in range(6)]
    replicates = [
        _trial(6, TrialState.COMPLETE, 0.3, 60, 10, role="replicate"),
        _trial(7, TrialState.FAIL, None, 60, 20, role="replicate"),  # its worker died; queued again as #8
        _trial(8, TrialState.RUNNING, None, 80, 0, role="replicate", retry_of=7),
    ]
    trials = search + replicates
    got = progress_of(job, trials, [t for t in trials if t.state.is_finished()])
    assert {p.total for p in got} == {8}  # 6 search trials + 2 replicates (#7's rerun counts once)
    assert all(p.done <= p.total for p in got) and got[-1].done == 7


def test_run_job_reports_every_trial_once(write_spec, sqlite_url):
    seen = []
    run_job(write_spec(), sqlite_url, objective=objectives.quick, heartbeat_interval=1, poll_interval=0.1,
            devices="cpu", progress=seen.append)
    assert sorted(p.done for p in seen) == [1, 2, 3, 4, 5, 6] and {p.total for p in seen} == {6}
    assert sorted(p.trial for p in seen) == [t.number for t in trials_of(sqlite_url, "job")]
    best = max(t.value for t in trials_of(sqlite_url, "job"))
    assert max(p.best_value for p in seen) == best and seen[-1].eta_seconds is not None


@pytest.mark.slow
def test_tuner_run_and_worker_print_a_line_per_trial(write_spec, sqlite_url, capsys):
    spec = write_spec(params={"epochs": 1}, n_trials=6)
    assert main(["submit", str(spec), "--storage", sqlite_url]) == 0
    capsys.readouterr()
    assert main(["worker", "--storage", sqlite_url, "--devices", "cpu", "--max-trials", "2", "--until-done"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if LINE.match(line)]
    assert [LINE.match(line).group(1, 2) for line in lines] == [("1", "6"), ("2", "6")]
    assert main(["run", str(spec), "--storage", sqlite_url, "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert [LINE.match(line).group(1) for line in out.splitlines() if LINE.match(line)] == ["3", "4", "5", "6"]


def test_status_watch_refreshes_until_ctrl_c(write_spec, sqlite_url, tmp_path):
    submit(write_spec(), sqlite_url)
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        process = subprocess.Popen([*TUNER, "status", "--storage", sqlite_url, "--watch", "0.2"], cwd=ROOT,
                                   stdout=sink, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while out.read_text().count("no workers seen") < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    text = out.read_text()
    assert code == 0, text[-3000:]
    assert text.count("every 0.2 s (Ctrl-C stops)") >= 2 and text.count("queued") >= 2  # two whole tables at least


@pytest.mark.parametrize("interval", ["0", "-5", "nan"])
def test_status_watch_needs_a_positive_interval(sqlite_url, write_spec, capsys, interval):
    submit(write_spec(), sqlite_url)
    assert main(["status", "--storage", sqlite_url, "--watch", interval]) == 2
    assert "expected a number of seconds above 0" in capsys.readouterr().err
