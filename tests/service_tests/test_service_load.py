"""Load: twelve real worker processes on one PostgreSQL grid job of 96 configurations.

Each worker is its own OS process with one core (so one torch thread, as a 1-thread slot), running a
1-epoch objective that sleeps a little, so that every worker gets trials while the others take theirs.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from optuna.trial import TrialState

from tests.service_tests.helpers import finish, start_worker, trials_of
from tuner import records
from tuner.service import submit

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

WORKERS = 12
# 8 x 4 x 3 = 96 configurations
GRID = (
    "learning_rate choice [0.01,0.007,0.005,0.003,0.002,0.001,0.0007,0.0005]\n"
    "embedding_size choice [16,32,48,64]\nnum_layers choice [1,2,3]\n"
)
WORKER = dict(devices="cpu", heartbeat_interval=1, grace_period=10, poll_interval=0.1, until_done=True)
ONE_EPOCH = {"TEST_SLOW_EPOCHS": "1", "TEST_SLOW_PAUSE": "0.3"}  # 96 x 0.3 s: 29 s for one worker alone


def test_twelve_workers_run_a_96_point_grid_exactly_once(write_spec, postgres_url, monkeypatch):
    for key, value in ONE_EPOCH.items():
        monkeypatch.setenv(key, value)
    submit(write_spec(GRID, params={"epochs": 1}), postgres_url)
    cores = sorted(os.sched_getaffinity(0))
    workers = [start_worker(postgres_url, "slow", cores={cores[i % len(cores)]}, **WORKER) for i in range(WORKERS)]
    results = [finish(w, timeout=180) for w in workers]
    assert [code for code, _ in results] == [0] * WORKERS, [err[-2000:] for _, err in results]
    tracebacks = [err for _, err in results if "Traceback" in err]
    assert not tracebacks, tracebacks[0][-3000:]

    trials = trials_of(postgres_url, "job")
    complete = Counter(tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE)
    assert len(complete) == 96, f"{len(complete)} distinct configurations complete"
    assert [point for point, n in complete.items() if n > 1] == []  # no configuration twice
    assert len(trials) == 96  # the budget exactly: no retries, no extra trials
    assert [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)] == []
    took_part = Counter(t.user_attrs[records.WORKER] for t in trials)
    assert len(took_part) > WORKERS // 2, took_part  # the load was shared, not run by the first worker up
