"""Coordination overhead per trial: trials per second with a trivial objective, 1, 2 and 4 workers,
on SQLite and on PostgreSQL.

A trivial objective (one epoch, no training) leaves only what the service does around a trial: take
a queued trial, draw its parameters, report the epoch, record metrics and state, heartbeat and reaper.
Each worker is its own process (as ``tuner worker`` runs), started before the clock; throughput is
counted from the first trial's start to the last trial's end as the database recorded them.

    python benchmarks/coordination.py                       # SQLite and the local PostgreSQL
    python benchmarks/coordination.py --trials 200 --workers 1 2 4 8
    python benchmarks/coordination.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

PostgreSQL runs in a scratch database created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from tuner.service import run_worker, submit  # noqa: E402

SPACE = "learning_rate loguniform -9,-4\nembedding_size choice [32,64,128]\n"


@dataclass(frozen=True)
class Result:  # what tuner.training.RunResult carries
    valid: dict
    test: dict
    best_epoch: int = 1
    epochs: int = 1
    seconds: float = 0.0
    history: list = field(default_factory=list)


def trivial(ctx) -> Result:
    """One epoch reported, metrics returned, nothing trained."""
    value = 1.0 / (1.0 + ctx.values["learning_rate"] * ctx.values["embedding_size"])
    ctx.on_epoch(1, {ctx.job.spec.objective: value})
    return Result(valid={ctx.job.spec.objective: value}, test={ctx.job.spec.objective: value})


def worker(url: str, ready) -> None:
    import torch  # noqa: F401  (loaded before the clock starts, as in a worker that has been up a while)

    sys.stderr = open(os.devnull, "w")  # the worker's log: one line per trial start and end
    ready.wait()
    run_worker(url, until_done=True, objective=trivial, devices="cpu", poll_interval=0.05)


def measure(url: str, workers: int, trials: int, folder: Path) -> tuple[float, float]:
    """(trials per second between the first trial's start and the last one's end, wall seconds from the
    moment every worker process was ready: includes opening the storage and the last worker's exit)."""
    spec = folder / f"bench-{workers}.yaml"
    spec.write_text(
        f"name: bench-{workers}\nmodel: Caser\ndataset: synthetic-tiny\nsearch_space: space.hyper\n"
        f"params: {{epochs: 1}}\nobjective: ndcg@10\nn_trials: {trials}\nsampler: {{name: random, seed: 0}}\n"
    )
    name = submit(spec, url)
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(workers + 1)
    processes = [context.Process(target=worker, args=(url, ready)) for _ in range(workers)]
    for p in processes:
        p.start()
    ready.wait()  # every worker has imported everything
    started = time.perf_counter()
    for p in processes:
        p.join()
    wall = time.perf_counter() - started
    study = optuna.load_study(study_name=name, storage=url)
    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == trials, f"{len(done)} of {trials} trials complete"
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    return trials / span, wall


def scratch_postgres(server: str) -> tuple[str, callable]:
    name = f"tuner_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=120, help="trials per run (default 120)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--postgres", default=os.environ.get("TUNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="tuner-bench-"))
    (folder / "space.hyper").write_text(SPACE)
    print(f"{'backend':<11} {'workers':>7} {'trials':>6} {'trials/s':>9} {'ms/trial/worker':>16} {'wall s':>7}")
    for backend in args.backends:
        if backend == "sqlite":
            url, cleanup = f"sqlite:///{folder / 'bench.db'}", (lambda: None)
        else:
            url, cleanup = scratch_postgres(args.postgres)
        try:
            for n in args.workers:
                rate, wall = measure(url, n, args.trials, folder)
                print(f"{backend:<11} {n:>7} {args.trials:>6} {rate:>9.1f} {1000 * n / rate:>16.0f} {wall:>7.1f}", flush=True)
        finally:
            cleanup()


if __name__ == "__main__":
    main()
