"""A slot's background thread: trial heartbeat, the slot's presence row, and the reaper.

Every ``heartbeat_interval`` seconds it, in one transaction,
1. records the heartbeat of the trial the slot runs (Optuna's trial_heartbeats table);
2. updates the slot's row in ``tuner_workers`` (for ``tuner status``);
3. reads the heartbeat ages of its jobs' RUNNING trials (one indexed query per job);
then fails the trials whose heartbeat is older than the grace period and queues them again (rare, so
those writes come in transactions of their own).
Optuna checks for stale trials only when a trial starts; a reaper in every slot means a dead worker's
trial is rerun even when nobody is starting trials (e.g. every other worker is busy on a long one).
A database error skips the tick (logged once per outage); the next tick tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import optuna

from tuner.service import presence, queue
from tuner.service.jobs import Job
from tuner.service.queue import fail_lost
from tuner.service.storage import describe, is_transient


class Pulse(threading.Thread):
    def __init__(
        self,
        storage: optuna.storages.RDBStorage,
        *,
        worker: str,
        host: str,
        pid: int,
        slot: int,
        device: str,
        jobs: Callable[[], list[Job]],
        queue_lock: threading.Lock,
        log: logging.Logger,
    ) -> None:
        super().__init__(name=f"pulse-{worker}", daemon=True)
        self.storage = storage
        self.interval = int(storage.heartbeat_interval)
        self.identity = dict(host=host, pid=pid, slot=slot, device=device, heartbeat_interval=self.interval)
        self.worker = worker
        self.jobs = jobs  # the jobs to reap: those the slot serves that are not finished
        self.queue_lock = queue_lock  # held while a failed trial is queued again (see Slot.finished)
        self.log = log
        self.halt = threading.Event()
        self._lock = threading.Lock()
        self._trial: tuple[int, str, int] | None = None  # (trial_id, job, number) the slot runs
        self.trials_done = 0
        self.state = "idle"
        self._failing = False  # inside an outage: log its start once
        self._no_beat_since: dict[int, float] = {}  # trial id -> when first seen RUNNING without any heartbeat

    def track(self, trial_id: int, job: str, number: int) -> None:
        """The slot starts a trial (taken with its first heartbeat, see queue.take_waiting): beat for it."""
        with self._lock:
            self._trial = (trial_id, job, number)
            self.state = "running"

    def untrack(self) -> None:
        with self._lock:
            self._trial = None
            self.state = "idle"
            self.trials_done += 1

    def stop(self, state: str = "stopped") -> None:
        """Stop beating and mark the slot's row (best effort: the database may be gone)."""
        self.halt.set()
        if self.is_alive():
            self.join(timeout=self.interval + 5)
        with self._lock:
            self.state = state
        try:
            self._beat()
        except Exception as e:  # a final courtesy write; the row goes "lost" by itself otherwise
            self.log.debug("could not mark the slot stopped: %s", describe(e))

    def run(self) -> None:
        self._tick()
        while not self.halt.wait(self.interval):
            self._tick()

    def _tick(self) -> None:
        try:
            with self._lock:
                trial, state, done = self._trial, self.state, self.trials_done
            jobs = self.jobs()
            with self.storage.engine.begin() as conn:
                if trial is not None:
                    queue.beat(conn, trial[0])
                self._write_row(conn, trial, state, done)
                ages = {job.study_id: queue.heartbeat_ages(conn, job.study_id) for job in jobs}
            self._reap(jobs, ages, spare={trial[0]} if trial else set())
        except Exception as e:
            if is_transient(e):
                if not self._failing:
                    self.log.warning("heartbeat: database unreachable (%s); will keep trying", describe(e))
                self._failing = True
                return
            self.log.exception("heartbeat failed")
            return
        if self._failing:
            self.log.warning("heartbeat: database reachable again")
            self._failing = False

    def _beat(self) -> None:
        with self._lock:
            trial, state, done = self._trial, self.state, self.trials_done
        with self.storage.engine.begin() as conn:
            self._write_row(conn, trial, state, done)

    def _write_row(self, conn, trial: tuple[int, str, int] | None, state: str, done: int) -> None:
        presence.beat(conn, self.worker, state=state, job=trial[1] if trial else None,
                      trial=trial[2] if trial else None, trials_done=done, **self.identity)

    def _reap(self, jobs: list[Job], ages: dict[int, dict[int, float | None]], spare: set[int]) -> None:
        grace = self.storage.grace_period or 2 * self.interval
        now = time.monotonic()
        seen_without_beat: dict[int, float] = {}
        for job in jobs:
            running = {t: age for t, age in ages[job.study_id].items() if t not in spare}
            stale = [t for t, age in running.items() if age is not None and age > grace]
            orphans = []
            for trial_id in (t for t, age in running.items() if age is None):
                first = seen_without_beat[trial_id] = self._no_beat_since.get(trial_id, now)
                if now - first > grace:
                    orphans.append(trial_id)
            if not stale and not orphans:
                continue
            with self.queue_lock:
                failed = fail_lost(self.storage, job.study_id, stale, f"no heartbeat for over {grace} s",
                                   max_retries=job.spec.max_retries)
                failed += fail_lost(self.storage, job.study_id, orphans, f"no heartbeat at all for over {grace} s",
                                    max_retries=job.spec.max_retries)
            for number, queued in failed:
                then = "queued again" if queued else f"not queued again: {job.spec.max_retries} retries used up"
                self.log.warning("job %s: trial %d lost its worker (no heartbeat); %s", job.name, number, then)
        self._no_beat_since = seen_without_beat
