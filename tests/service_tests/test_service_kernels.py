"""A CPU worker slot has the C++ kernels ready before it takes its first trial, so no trial pays for a
build: while another process holds the build lock, the slot waits and no trial starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from filelock import FileLock
from optuna.trial import TrialState

from tests.service_tests.helpers import ROOT, TUNER, trials_of
from tuner.environment import kernel_dir
from tuner.models import native
from tuner.service import submit


def test_a_slot_waits_for_the_kernels_before_its_first_trial(write_spec, sqlite_url, tmp_path):
    build = native.kernel_build()
    native.load_or_build(build, kernel_dir())  # the machine's own build (made once, in minutes, if missing)
    cache = tmp_path / "kernels"
    (cache / build.key).mkdir(parents=True)
    submit(write_spec(space="learning_rate choice [0.01,0.005]\n", params={"epochs": 1}), sqlite_url)
    log = tmp_path / "worker.log"
    lock = FileLock(str(cache / build.key / "build.lock"))
    lock.acquire()  # a build under way elsewhere
    with log.open("w") as sink:
        worker = subprocess.Popen([*TUNER, "worker", "--storage", sqlite_url, "--devices", "cpu", "--until-done"],
                                  cwd=ROOT, env={**os.environ, "TUNER_KERNEL_DIR": str(cache)}, stdout=sink,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while "waiting for another process to finish building" not in log.read_text():
                assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            time.sleep(1.0)
            assert {t.state for t in trials_of(sqlite_url, "job")} == {TrialState.WAITING}
            # the other process finishes: its build appears whole, then it lets go of the lock
            shutil.copyfile(kernel_dir() / build.key / f"{build.name}.so", cache / build.key / f"{build.name}.so")
        finally:
            lock.release()
        try:
            assert worker.wait(timeout=300) == 0, log.read_text()[-3000:]
        finally:
            if worker.poll() is None:
                worker.kill()
    text = log.read_text()
    assert "building the C++ CPU kernels into" not in text
    assert text.index("waiting for another process") < text.index("trial 0 started")
    assert [t.state for t in trials_of(sqlite_url, "job")] == [TrialState.COMPLETE] * 2
