"""Coordination cost per trial, ours beside raw Optuna's: trials per second with a trivial objective,
1, 2 and 4 worker processes, on SQLite and on PostgreSQL, both arms interleaved in one run.

A trivial objective (parameters drawn, one epoch reported, nothing trained) leaves only the coordination
around a trial. The two arms:
- ours: ``run_worker(..., until_done=True)`` on a submitted random-sampler job (take a queued trial,
  heartbeat, label it, draw its parameters, report the epoch, record metrics and state; the heartbeat
  thread and the reaper run as in ``tuner worker``);
- optuna: ``study.optimize`` with a ``RandomSampler`` on the same space and the same storage (the same
  engine settings: :func:`tuner.service.storage.open_storage`), stopped by ``MaxTrialsCallback``.
Each run gets a fresh database, and its workers are processes started (torch imported) before the clock;
throughput is counted from the first trial's start to the last trial's end as the database recorded them.
The arms alternate (ours first in even rounds, Optuna first in odd ones), so both meet the same load.
Transactions are counted in the worker processes (SQLAlchemy's ``begin`` event on every engine); the
heartbeat thread's are counted apart, per heartbeat.

    python benchmarks/coordination.py                       # SQLite and the local PostgreSQL, 2 rounds
    python benchmarks/coordination.py --trials 200 --workers 1 2 4 8 --rounds 3
    python benchmarks/coordination.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

The last lines read ``ratio <storage> <workers> workers: ours X trials/s, optuna Y trials/s, cost ratio Z``
with Z = Y / X (our cost per trial over Optuna's; medians over the rounds).
PostgreSQL runs in scratch databases created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from tuner.environment import mask_url  # noqa: E402
from tuner.service import run_worker, submit  # noqa: E402
from tuner.service.storage import describe, open_storage  # noqa: E402
from tuner.spaces import parse_text  # noqa: E402

SPACE = "learning_rate loguniform -9,-4\nembedding_size choice [32,64,128]\n"
OBJECTIVE = "ndcg@10"


@dataclass(frozen=True)
class Result:  # what tuner.training.RunResult carries
    valid: dict
    test: dict
    best_epoch: int = 1
    epochs: int = 1
    seconds: float = 0.0
    history: list = field(default_factory=list)


def score(values: dict) -> float:
    return 1.0 / (1.0 + values["learning_rate"] * values["embedding_size"])


def trivial(ctx) -> Result:
    """Ours: one epoch reported, metrics returned, nothing trained."""
    value = score(ctx.values)
    ctx.on_epoch(1, {OBJECTIVE: value})
    return Result(valid={OBJECTIVE: value}, test={OBJECTIVE: value})


def count_transactions() -> collections.Counter:
    """Count every transaction this process begins, by who: the heartbeat thread ("beat") or not ("trial")."""
    counts: collections.Counter = collections.Counter()

    @sa.event.listens_for(sa.engine.Engine, "begin")
    def _begin(_connection) -> None:
        counts["beat" if threading.current_thread().name.startswith("pulse") else "trial"] += 1

    return counts


def count_heartbeats(counts: collections.Counter) -> None:
    """Count the heartbeat thread's ticks (each beats, updates the slot's row and reaps)."""
    from tuner.service.pulse import Pulse

    tick = Pulse._tick

    def counted(self) -> None:
        counts["beats"] += 1
        tick(self)

    Pulse._tick = counted


def ours_worker(url: str, ready, out) -> None:
    import torch  # noqa: F401  (loaded before the clock starts, as in a worker that has been up a while)

    sys.stderr = open(os.devnull, "w")  # the worker's log: one line per trial start and end
    counts = count_transactions()
    count_heartbeats(counts)
    ready.wait()
    run_worker(url, until_done=True, objective=trivial, devices="cpu", poll_interval=0.05)
    out.put(dict(counts))


def optuna_worker(url: str, name: str, trials: int, ready, out) -> None:
    import torch  # noqa: F401  (as in ours_worker)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = parse_text(SPACE, "space.hyper")

    def objective(trial: optuna.Trial) -> float:
        value = score(space.suggest(trial))
        trial.report(value, 1)
        return value

    counts = count_transactions()
    ready.wait()
    storage = open_storage(url)
    study = optuna.load_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler())
    study.optimize(objective, callbacks=[optuna.study.MaxTrialsCallback(trials, states=None)])
    storage.engine.dispose()
    out.put(dict(counts))


@dataclass(frozen=True)
class Run:
    rate: float  # trials per second between the first trial's start and the last one's end
    trials: int  # complete trials
    wall: float  # seconds from every worker ready to the last one's exit (opening the storage included)
    per_trial: float  # transactions per trial outside the heartbeat thread
    per_beat: float | None  # the heartbeat thread's transactions per tick (ours only)


def measure(arm: str, url: str, workers: int, trials: int, folder: Path) -> Run:
    context = multiprocessing.get_context("spawn")
    ready, out = context.Barrier(workers + 1), context.Queue()
    if arm == "ours":
        spec = folder / "bench.yaml"
        spec.write_text(
            f"name: bench\nmodel: Caser\ndataset: synthetic-tiny\nsearch_space: space.hyper\n"
            f"params: {{epochs: 1}}\nobjective: {OBJECTIVE}\nn_trials: {trials}\nsampler: {{name: random, seed: 0}}\n"
        )
        name = submit(spec, url)
        target, args = ours_worker, (url, ready, out)
    else:
        name = optuna.create_study(study_name="bench", storage=open_storage(url), direction="maximize").study_name
        target, args = optuna_worker, (url, name, trials, ready, out)
    processes = [context.Process(target=target, args=args) for _ in range(workers)]
    for p in processes:
        p.start()
    ready.wait()  # every worker has imported everything
    started = time.perf_counter()
    counts: collections.Counter = collections.Counter()
    for _ in processes:
        counts.update(out.get())
    for p in processes:
        p.join()
    wall = time.perf_counter() - started
    if any(p.exitcode != 0 for p in processes):
        raise SystemExit(f"{arm} on {mask_url(url)}: a worker exited with {[p.exitcode for p in processes]}")
    study = optuna.load_study(study_name=name, storage=url)
    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(done) < trials:
        raise SystemExit(f"{arm} on {mask_url(url)}: {len(done)} of {trials} trials complete")
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    per_beat = counts["beat"] / counts["beats"] if counts["beats"] else None
    return Run(len(done) / span, len(done), wall, counts["trial"] / len(done), per_beat)


class Databases:
    """A fresh database per run: a SQLite file in a temporary folder, or a scratch PostgreSQL database."""

    def __init__(self, backend: str, server: str, folder: Path) -> None:
        self.backend, self.server, self.folder = backend, server, folder
        self.admin = None
        if backend == "postgresql":
            self.admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
            try:
                with self.admin.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
            except sa.exc.OperationalError as e:
                raise SystemExit(
                    f"coordination.py: cannot reach PostgreSQL at {mask_url(server)} ({describe(e)}). Start the "
                    "server (`.ci/run` starts the local one), point --postgres or TUNER_TEST_POSTGRES_URL at one "
                    "that runs, or measure SQLite only with --backends sqlite."
                ) from None

    def new(self) -> tuple[str, callable]:
        if self.backend == "sqlite":
            path = self.folder / f"bench-{uuid.uuid4().hex[:8]}.db"
            return f"sqlite:///{path}", lambda: [p.unlink(missing_ok=True) for p in path.parent.glob(path.name + "*")]
        name = f"tuner_bench_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return sa.engine.make_url(self.server).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=120, help="trials per run (default 120)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=2, help="runs of each arm per storage and worker count (default 2)")
    parser.add_argument("--postgres", default=os.environ.get("TUNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="tuner-bench-"))
    (folder / "space.hyper").write_text(SPACE)
    databases = {backend: Databases(backend, args.postgres, folder) for backend in args.backends}  # fail fast
    print(f"{'storage':<11} {'workers':>7} {'arm':<7} {'trials':>6} {'trials/s':>9} {'tx/trial':>8} "
          f"{'tx/beat':>7} {'wall s':>7}", flush=True)
    rates: dict[tuple[str, int, str], list[float]] = collections.defaultdict(list)
    for backend in args.backends:
        for n in args.workers:
            for round_ in range(args.rounds):
                for arm in ("ours", "optuna") if round_ % 2 == 0 else ("optuna", "ours"):
                    url, cleanup = databases[backend].new()
                    try:
                        run = measure(arm, url, n, args.trials, folder)
                    finally:
                        cleanup()
                    rates[backend, n, arm].append(run.rate)
                    beat = f"{run.per_beat:.1f}" if run.per_beat is not None else "-"
                    print(f"{backend:<11} {n:>7} {arm:<7} {run.trials:>6} {run.rate:>9.1f} {run.per_trial:>8.1f} "
                          f"{beat:>7} {run.wall:>7.1f}", flush=True)
    for backend in args.backends:
        for n in args.workers:
            ours, theirs = statistics.median(rates[backend, n, "ours"]), statistics.median(rates[backend, n, "optuna"])
            print(f"ratio {backend} {n} workers: ours {ours:.1f} trials/s, optuna {theirs:.1f} trials/s, "
                  f"cost ratio {theirs / ours:.2f}")


if __name__ == "__main__":
    main()
