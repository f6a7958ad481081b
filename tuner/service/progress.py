"""Live progress of jobs while a worker runs: one :class:`Progress` per finished trial.

A :class:`ProgressWatcher` thread polls the storage (one cached read per job every few seconds, off the
trial path, so it sees the trials of every worker on the job, on any host) and hands each trial that
finished since it started to a callback; ``tuner run`` and ``tuner worker`` print them.
The ETA is the remaining trials times the mean trial time, divided by the trials running at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.service.jobs import Job, load_jobs, retried_numbers
from tuner.service.storage import open_storage, storage_errors

POLL_S = 2.0  # how often the watcher reads the storage

log = logging.getLogger("tuner.worker")


@dataclass(frozen=True)
class Progress:
    """A job's progress as of one finished trial."""

    job: str
    trial: int  # the trial that just finished
    state: str  # its state: COMPLETE, PRUNED or FAIL
    done: int  # finished trials counted against the budget (a failed trial queued again counts once)
    total: int  # the budget, plus the confirmation replicates queued so far
    objective: str
    best_value: float | None  # the best validation objective so far
    best_trial: int | None
    mean_seconds: float | None  # the mean wall time of the finished trials
    eta_seconds: float | None  # remaining trials x mean time / trials running at once; None before a mean

    def line(self) -> str:
        best = f"best {self.objective} {self.best_value:.4f} (#{self.best_trial})" if self.best_value is not None else "no result yet"
        eta = f"ETA {format_seconds(self.eta_seconds)}" if self.eta_seconds is not None else "ETA -"
        mean = f"{self.mean_seconds:.1f} s/trial" if self.mean_seconds is not None else "- s/trial"
        return f"{self.job}: {self.done}/{self.total} trials, #{self.trial} {self.state.lower()}, {best}, {mean}, {eta}"


def format_seconds(seconds: float) -> str:
    """``45 s``, ``12 min 05 s``, ``3 h 20 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress_of(job: Job, trials: Sequence[FrozenTrial], new: Sequence[FrozenTrial]) -> list[Progress]:
    """One :class:`Progress` for each trial of ``new`` (finished trials of ``trials``, the job's every trial),
    in the order they finished, each as of that trial."""
    requeued = retried_numbers(trials)
    finished = sorted((t for t in trials if t.state.is_finished() and t.datetime_complete is not None),
                      key=lambda t: (t.datetime_complete, t.number))
    new_numbers = {t.number for t in new}
    running = sum(1 for t in trials if t.state == TrialState.RUNNING)
    # Confirmation replicates are queued past the budget: the total counts those queued so far (a lost one
    # queued again counts once, as a search trial does), so done never runs past the total.
    total = job.budget + sum(1 for t in trials if t.user_attrs.get(records.ROLE) == records.REPLICATE
                             and not (t.number in requeued and t.state == TrialState.FAIL))
    out: list[Progress] = []
    done, seconds, best_value, best_trial = 0, [], None, None
    for trial in finished:
        if not (trial.number in requeued and trial.state == TrialState.FAIL):
            done += 1
        if trial.datetime_start is not None:
            seconds.append((trial.datetime_complete - trial.datetime_start).total_seconds())
        if trial.state == TrialState.COMPLETE and trial.value is not None and (best_value is None or trial.value > best_value):
            best_value, best_trial = trial.value, trial.number
        if trial.number in new_numbers:
            mean = sum(seconds) / len(seconds) if seconds else None
            remaining = max(total - done, 0)
            eta = remaining * mean / max(running, 1) if mean is not None else None
            out.append(Progress(job.name, trial.number, trial.state.name, done, total, job.spec.objective,
                                best_value, best_trial, mean, eta))
    return out


class ProgressWatcher:
    """A thread that calls ``report(progress)`` for every trial of ``jobs`` (None: every job) that finishes
    while it runs. ``stop()`` reads the storage once more, so the last trials are reported too."""

    def __init__(self, url: str, jobs: Sequence[str] | None, report: Callable[[Progress], None],
                 poll_s: float = POLL_S) -> None:
        self.url = url
        self.jobs = list(jobs) if jobs else None
        self.report = report
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._studies: dict[int, optuna.Study] = {}  # cached: each poll reads only what changed
        self._seen: dict[int, set[int]] = {}  # study id -> numbers of its trials already finished
        self._storage = open_storage(url)
        self._thread = threading.Thread(target=self._run, name="tuner-progress", daemon=True)

    def start(self) -> ProgressWatcher:
        self._poll(report=False)  # what finished before the watcher started is not news
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()
        self._storage.engine.dispose()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._poll()

    def _poll(self, report: bool = True) -> None:
        try:
            with storage_errors(self.url):
                for job in load_jobs(self._storage, self.jobs):
                    trials = self._study(job).get_trials(deepcopy=False)
                    seen = self._seen.setdefault(job.study_id, set())
                    new = [t for t in trials if t.state.is_finished() and t.number not in seen]
                    seen.update(t.number for t in new)
                    if report and new:
                        for progress in progress_of(job, trials, new):
                            self.report(progress)
        except Exception as e:  # progress is a view: a failed read costs a line, never the worker
            log.warning("progress not read this time: %s", e)

    def _study(self, job: Job) -> optuna.Study:
        study = self._studies.get(job.study_id)
        if study is None:
            study = self._studies[job.study_id] = optuna.Study(job.name, self._storage)
        study._thread_local.cached_all_trials = None  # read afresh, as Study.ask does
        return study
