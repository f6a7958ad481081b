"""``tuner worker``: one process per device slot, each running trials until stopped or done.

With one slot the worker process runs it itself; with more it starts one process per slot with
multiprocessing's ``spawn`` (a fresh interpreter: no CUDA state or database connection is inherited),
passes SIGTERM/Ctrl-C on to them and waits. A slot that dies (killed, out of host memory) takes only
its own trial with it: that trial goes stale and another slot's reaper queues it again.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

import optuna

from tuner.environment import mask_url, redact, storage_url
from tuner.errors import ConfigError
from tuner.service import presence, queue
from tuner.service.devices import Slot, cuda_device_count, plan_slots
from tuner.service.jobs import load_jobs
from tuner.service.objective import Objective, train_objective
from tuner.service.progress import Progress, ProgressWatcher
from tuner.service.retry import OUTAGE_LIMIT_S
from tuner.service.signals import StopSignals
from tuner.service.slot import Allowance, SlotRunner, WorkerOptions
from tuner.service.storage import open_storage, storage_errors

HEARTBEAT_INTERVAL_S = 10  # default --heartbeat-interval
GRACE_BEATS = 6  # default --grace-period: this many missed heartbeats (60 s at the default interval)
POLL_INTERVAL_S = 2.0  # an idle slot looks for work this often

log = logging.getLogger("tuner.worker")


def run_worker(
    storage: str | None = None,
    jobs: Sequence[str] | None = None,
    *,
    devices: str | None = None,
    trials_per_device: int | None = None,
    workers: int | None = None,
    max_trials: int | None = None,
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = None,
    until_done: bool = False,
    poll_interval: float = POLL_INTERVAL_S,
    objective: Objective = train_objective,
    outage_limit_s: float = OUTAGE_LIMIT_S,
    gpu_count: Callable[[], int] = cuda_device_count,
    progress: Callable[[Progress], None] | None = None,
    fuse: int | None = None,
) -> int:
    """Run worker slots until stopped (SIGTERM, Ctrl-C), out of ``max_trials``, or, with ``until_done``,
    until the jobs are finished. ``jobs``: serve only these (else every job, oldest first).
    ``workers``: this many slots spread over the devices (``tuner run --workers``), instead of
    ``trials_per_device`` per device. ``progress``: called with each trial of the jobs that finishes
    meanwhile (any worker's). ``fuse``: train up to this many trials of a job as one fused model
    (tuner.service.fused_slot; default: the job spec's ``fuse``). Returns the exit code (0 unless a slot failed)."""
    url = storage_url(storage)
    setup_logging(url)
    if heartbeat_interval < 1:
        raise ConfigError(f"--heartbeat-interval {heartbeat_interval}: expected a whole number of seconds >= 1")
    grace_period = grace_period if grace_period is not None else GRACE_BEATS * heartbeat_interval
    if grace_period <= heartbeat_interval:
        raise ConfigError(f"--grace-period {grace_period} must be longer than --heartbeat-interval {heartbeat_interval}")
    if max_trials is not None and max_trials < 1:
        raise ConfigError(f"--max-trials {max_trials}: expected at least 1")
    if fuse is not None and (isinstance(fuse, bool) or not isinstance(fuse, int) or fuse < 1):
        raise ConfigError(f"--fuse {fuse}: expected a whole number >= 1 (trials trained as one fused model; 1: off)")
    slots, note = plan_slots(devices, trials_per_device, total=workers, gpu_count=gpu_count)
    if note:
        log.info(note)
    _check_storage(url, jobs)
    options = WorkerOptions(
        storage=url, jobs=tuple(jobs) if jobs else None, heartbeat_interval=int(heartbeat_interval),
        grace_period=int(grace_period), until_done=until_done, poll_interval=poll_interval,
        objective=objective, outage_limit_s=outage_limit_s, fuse=fuse,
    )
    log.info("worker on %s: %d slot(s) [%s], serving %s%s", mask_url(url), len(slots),
             ", ".join(f"{s.device}/{s.threads} threads" for s in slots),
             ", ".join(jobs) if jobs else "every job", ", until done" if until_done else "")
    watcher = ProgressWatcher(url, jobs, progress).start() if progress else None
    try:
        if len(slots) == 1:
            return _run_in_process(options, slots[0], max_trials)
        return _run_processes(options, slots, max_trials)
    finally:
        if watcher:
            watcher.stop()


def _check_storage(url: str, jobs: Sequence[str] | None) -> None:
    """Fail fast on a bad URL, an unreachable database or an unknown job name; prepare the worker table
    and the queue's index."""
    storage = open_storage(url)
    try:
        with storage_errors(url):
            if jobs:
                load_jobs(storage, jobs)
            presence.ensure_table(storage.engine)
            presence.forget_old(storage.engine)
            queue.ensure_index(storage.engine)
    finally:
        storage.engine.dispose()


def _run_in_process(options: WorkerOptions, slot: Slot, max_trials: int | None) -> int:
    stop = StopSignals()
    previous = _current_handlers()
    if threading.current_thread() is threading.main_thread():
        stop.install()
    try:
        return SlotRunner(options, slot, Allowance(max_trials), stop).run()
    finally:
        _restore_handlers(previous)


def sleeping_openmp_threads() -> None:
    """Before torch loads: OpenMP threads that wait for work sleep instead of spinning. Worker slots
    share cores with each other and the database; spinning threads then fight for them, and on this
    project's shared 2-core machines 2-thread training ran 4-10x slower spinning than sleeping. A
    value the user set wins. (``tuner train``, alone on its cores, spins: see cli/train.py.)"""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _run_processes(options: WorkerOptions, slots: list[Slot], max_trials: int | None) -> int:
    sleeping_openmp_threads()  # slot processes load torch afresh and inherit the environment
    context = multiprocessing.get_context("spawn")
    counter = context.Value("i", 0)
    processes = [
        context.Process(target=slot_main, args=(options, slot, max_trials, counter, os.getpid()),
                        name=f"tuner-slot-{slot.index}")
        for slot in slots
    ]
    stopping = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        if not stopping.is_set():
            log.info("%s: asking %d slot(s) to finish their trials and stop", signal.Signals(signum).name, len(processes))
        stopping.set()
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    previous = _current_handlers()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
    try:
        for process in processes:
            process.start()
        for process in processes:
            while process.is_alive():
                process.join(timeout=0.5)
    finally:
        _restore_handlers(previous)
    failed = 0
    for slot, process in zip(slots, processes):
        if process.exitcode != 0:
            failed += 1
            how = f"signal {signal.Signals(-process.exitcode).name}" if process.exitcode < 0 else f"code {process.exitcode}"
            log.warning("slot %d (%s) ended with %s", slot.index, slot.device, how)
    return 1 if failed else 0


def slot_main(options: WorkerOptions, slot: Slot, max_trials: int | None, counter: object, parent_pid: int) -> None:
    """Entry point of a slot process."""
    setup_logging(options.storage)
    stop = StopSignals()
    stop.install()
    try:
        code = SlotRunner(options, slot, Allowance(max_trials, counter), stop, parent_pid=parent_pid).run()
    except Exception:
        log.exception("slot %d crashed", slot.index)
        code = 1
    sys.exit(code)


def _current_handlers() -> dict[int, object] | None:
    if threading.current_thread() is not threading.main_thread():
        return None
    return {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}


def _restore_handlers(previous: dict[int, object] | None) -> None:
    for signum, handler in (previous or {}).items():
        signal.signal(signum, handler)


class _Redacting(logging.Formatter):
    """Formats like its parent, then masks the storage password wherever it appears (tracebacks too)."""

    def __init__(self, url: str) -> None:
        super().__init__("%(asctime)s [%(slot_label)s] %(message)s", datefmt="%H:%M:%S")
        self.url = url

    def format(self, record: logging.LogRecord) -> str:
        record.slot_label = getattr(record, "worker", "worker")
        return redact(super().format(record), self.url)


def setup_logging(url: str, level: int = logging.INFO) -> None:
    """Worker log lines on stderr, the password masked; Optuna's own messages only from WARNING up."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logger = logging.getLogger("tuner")
    for handler in list(logger.handlers):
        if getattr(handler, "tuner_worker", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.tuner_worker = True  # type: ignore[attr-defined]
    handler.setFormatter(_Redacting(url))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
