"""Helpers for the service tests: reading trials back, and worker processes a test can signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[2]


def trials_of(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = optuna.storages.RDBStorage(url)
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.engine.dispose()


# -- worker processes ----------------------------------------------------------------------------

TUNER = [sys.executable, "-c", "import sys; from tuner.cli import main; sys.exit(main())"]


def start_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    """``tuner ARGS`` as a real process (its own process group, so a test can signal it alone)."""
    return subprocess.Popen(
        [*TUNER, *args], cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def start_worker(url: str, objective: str = "quick", *, cores: set[int] | None = None, **options) -> subprocess.Popen:
    """``run_worker(url, objective=tests.service_tests.objectives.<objective>, **options)`` in a real process;
    ``cores``: the CPU cores it may use (its slot then gets as many torch threads)."""
    code = (
        "import json, sys; from tuner.service import run_worker; "
        "from tests.service_tests import objectives; "
        f"sys.exit(run_worker({url!r}, objective=objectives.{objective}, **json.loads(sys.argv[1])))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(options)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    """Wait for a process; its exit code and stderr. Killed (and the test failed) if it overruns."""
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        pytest.fail(f"process overran {timeout} s; stderr:\n{err[-3000:]}")
    return process.returncode, err


def wait_for(condition, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def stop_mid_trial(url: str, process: subprocess.Popen, find, timeout: float = 120):
    """Freeze ``process`` (SIGSTOP to its group) while ``find()`` shows it mid-trial; that trial.

    A fast trial can finish between reading it as running and signalling the worker, so the trial is
    read again once the worker is frozen, and the worker resumes and is watched again if it finished.
    """

    def attempt():
        trial = find()
        if trial is None:
            return None
        os.killpg(process.pid, signal.SIGSTOP)
        if trials_of(url, "job")[trial.number].state == optuna.trial.TrialState.RUNNING:
            return trial
        os.killpg(process.pid, signal.SIGCONT)
        return None

    return wait_for(attempt, timeout=timeout, what="a worker frozen in the middle of a trial")


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``tuner ARGS`` as a process that must succeed; its output."""
    done = subprocess.run([*TUNER, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"tuner {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done
