"""One worker slot: a loop that takes a WAITING trial of the oldest open job, runs it, records it.

A slot is one process (or the worker process itself when it has a single slot). It opens its own
storage, starts its :class:`~tuner.service.pulse.Pulse` thread, and loops until stopped, out of
allowance (``--max-trials``), or, with ``--until-done``, until its jobs are finished.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import per_user, records
from tuner.service import confirm, devices, fused_slot, presence
from tuner.service.jobs import Job, load_jobs
from tuner.service.objective import EpochReporter, Objective, TrialContext, TrialTakenAway, train_objective
from tuner.service.optimizers import make_pruner, make_sampler
from tuner.service.queue import complete_alike, queue_again, remember, take_next, unfinished
from tuner.service.pulse import Pulse
from tuner.service.retry import DatabaseUnavailable, Retrier
from tuner.service.signals import StopSignals, WorkerInterrupted
from tuner.service.storage import finish_trial, open_storage, set_trial_user_attrs

REASON_LIMIT = 2000  # characters of an error message kept as a trial's fail_reason


@dataclass(frozen=True)
class WorkerOptions:
    """How every slot of a worker behaves (pickled to slot processes)."""

    storage: str  # the SQLAlchemy URL
    jobs: tuple[str, ...] | None  # serve only these jobs; None: every job, oldest first
    heartbeat_interval: int  # seconds between a running trial's heartbeats
    grace_period: int  # seconds without a heartbeat before another worker fails and requeues the trial
    until_done: bool  # exit once the jobs are finished, instead of waiting for new ones
    poll_interval: float  # seconds between looks for work when idle
    objective: Objective  # what a trial computes (a picklable top-level function)
    outage_limit_s: float  # give up after the database is unreachable this long
    fuse: int | None = None  # --fuse K: trials of one job trained as one fused model (None: the spec's fuse)


class Allowance:
    """How many more trials the worker may start (``--max-trials``), shared by its slots."""

    def __init__(self, limit: int | None, counter: Any = None) -> None:
        self.limit = limit
        self.counter = counter  # a multiprocessing.Value shared by slot processes, or None in-process
        self._local = 0

    def take(self) -> bool:
        if self.limit is None:
            return True
        if self.counter is None:
            if self._local >= self.limit:
                return False
            self._local += 1
            return True
        with self.counter.get_lock():
            if self.counter.value >= self.limit:
                return False
            self.counter.value += 1
            return True

    def give_back(self) -> None:
        if self.limit is None:
            return
        if self.counter is None:
            self._local -= 1
            return
        with self.counter.get_lock():
            self.counter.value -= 1


class SlotRunner:
    def __init__(
        self,
        options: WorkerOptions,
        slot: devices.Slot,
        allowance: Allowance,
        stop: StopSignals,
        *,
        parent_pid: int | None = None,
    ) -> None:
        self.options = options
        self.slot = slot
        self.allowance = allowance
        self.stop = stop
        self.parent_pid = parent_pid
        self.host = socket.gethostname()
        self.worker = f"{self.host}:{os.getpid()}:{slot.index}"
        self.log = logging.LoggerAdapter(logging.getLogger("tuner.worker"), {"worker": self.worker})
        self.retry = Retrier(self.log, stop.event, outage_limit_s=options.outage_limit_s)
        self.queue_lock = threading.Lock()
        self._active: list[Job] = []  # jobs not yet finished, for the reaper
        self._studies: dict[int, optuna.Study] = {}  # study id -> its Study, kept between trials
        self._confirmed: set[int] = set()  # study ids whose confirmation rounds were all queued
        self.storage = open_storage(
            options.storage, heartbeat_interval=options.heartbeat_interval, grace_period=options.grace_period
        )

    def run(self) -> int:
        """Serve trials until done or stopped; the exit code (0, or 1 after giving up on the database)."""
        devices.pin(self.slot)
        for table in (presence, per_user, confirm):
            self.retry(f"creating the table {table.TABLE}", lambda: table.ensure_table(self.storage.engine))
        pulse = Pulse(
            self.storage, worker=self.worker, host=self.host, pid=os.getpid(), slot=self.slot.index,
            device=self.slot.device, jobs=lambda: list(self._active), queue_lock=self.queue_lock, log=self.log,
        )
        self.pulse = pulse
        pulse.start()
        self.log.info("slot started on %s (%d torch threads)", self.slot.device, self.slot.threads)
        code = 0
        try:
            self._prepare_device()
            self._loop()
        except DatabaseUnavailable as e:
            self.log.error("%s; giving up", e)
            code = 1
        finally:
            pulse.stop()
            self.storage.engine.dispose()
        self.log.info("slot stopped after %d trial(s)%s", pulse.trials_done,
                      f" ({self.stop.signal_name})" if self.stop.signal_name else "")
        return code

    def _prepare_device(self) -> None:
        """Before the first trial, so none pays for it: the C++ kernels' build, once per machine
        (a trivial objective, as the coordination tests and benchmark pass, trains nothing)."""
        if self.options.objective is train_objective:
            from tuner.training.run import prepare_device

            prepare_device(self.slot.device)

    # -- the loop ---------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.stop.requested:
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                self.log.warning("the worker process is gone; stopping")
                return
            jobs = self.retry("listing jobs", lambda: load_jobs(self.storage, self.options.jobs))
            if not self.allowance.take():
                self.log.info("--max-trials reached")
                return
            taken = self._take(jobs)
            if taken is not None:
                fused_slot.run(self, *taken) if fused_slot.fuses(self, taken[0]) else self._run_trial(*taken)
                continue
            self.allowance.give_back()
            queued, pending = self._confirm(jobs)
            if queued:
                continue
            if self.options.until_done and not pending and self._finished(jobs):
                if not jobs:
                    self.log.info("no jobs in the storage")
                return
            self.stop.event.wait(self.options.poll_interval)

    def _take(self, jobs: list[Job]) -> tuple[Job, optuna.Study, FrozenTrial] | None:
        """The oldest open job's next WAITING trial, now RUNNING and ours; also notes the active jobs."""
        now = dt.datetime.now(dt.timezone.utc)
        active = []
        found = None
        for job in jobs:
            deadline = job.deadline()
            may_take = found is None and (deadline is None or now < deadline)
            # One transaction per job: its counts (for the reaper's list) and, while none is found, its next trial.
            trial, waiting, running = self.retry(f"taking a trial of {job.name}",
                                                 lambda: take_next(self.storage, job.study_id, take=may_take))
            if waiting or running:
                active.append(job)
            if trial is not None:
                study = self._study(job)
                remember(study._storage, job.study_id, trial)  # the study's caching storage writes its parameters
                found = (job, study, trial)
        self._active = active
        return found

    def _study(self, job: Job) -> optuna.Study:
        """One Study per job for the slot's life: its storage cache then reads only what changed."""
        study = self._studies.get(job.study_id)
        if study is None:
            study = self.retry("opening the job", lambda: optuna.Study(
                job.name, self.storage, pruner=make_pruner(job.spec.pruner, job.spec.params.get("epochs"))))
            self._studies[job.study_id] = study
        # What Study.ask does before each trial: samplers read the trials afresh, not a list cached last time.
        study._thread_local.cached_all_trials = None
        return study

    def _finished(self, jobs: list[Job]) -> bool:
        """No job has a trial running, or waiting before its deadline, or a confirmation round still to queue.
        The queue lock keeps a reaper's "fail, then queue again" from looking like an empty queue in between."""
        now = dt.datetime.now(dt.timezone.utc)
        with self.queue_lock:
            for job in jobs:
                waiting, running = self.retry("counting trials", lambda: unfinished(self.storage, job.study_id))
                deadline = job.deadline()
                open_ = deadline is None or now < deadline
                if running or (waiting and open_):
                    return False
                if open_ and self.retry("reading confirmation rounds",
                                        lambda: confirm.outstanding(job, confirm.rounds(self.storage.engine, job.study_id))):
                    return False
        return True

    def _confirm(self, jobs: list[Job]) -> tuple[int, bool]:
        """Queue the confirmation rounds that are due: the spec's once its job's search is finished, and any
        round a ``tuner confirm`` left half-queued. (trials queued, a round still being queued elsewhere)."""
        now = dt.datetime.now(dt.timezone.utc)
        queued, pending = 0, False
        for job in jobs:
            deadline = job.deadline()
            if job.study_id in self._confirmed or (deadline is not None and now >= deadline):
                continue
            known = self.retry("reading confirmation rounds", lambda: confirm.rounds(self.storage.engine, job.study_id))
            if not confirm.outstanding(job, known):
                self._confirmed.add(job.study_id)
                continue
            trials = self.retry("reading the job's trials", lambda: self.storage.get_all_trials(job.study_id, deepcopy=False))
            if not confirm.search_finished(trials):
                continue
            if job.spec.confirm is not None and not any(r.number == confirm.SPEC_ROUND for r in known):
                top, seeds = job.spec.confirm["top"], job.spec.confirm["seeds"]
                self.retry("starting the confirmation", lambda: confirm.add_round(
                    self.storage.engine, job.study_id, top, seeds, confirm.SPEC_ROUND))
            made, elsewhere = self.retry("queueing the confirmation", lambda: confirm.serve(self.storage, job, self.worker))
            if made:
                self.log.info("job %s: search finished; %d replicate trial(s) queued to confirm its best configurations",
                              job.name, made)
            queued += made
            pending = pending or elsewhere
        return queued, pending

    # -- one trial --------------------------------------------------------------------------------

    def _run_trial(self, job: Job, study: optuna.Study, taken: FrozenTrial, start: Any = None) -> None:
        """Open the trial and train it; ``start(job, study, trial, values, may_prune)``, if given, takes the
        opened trial instead of training it (a fused group collects its members so: see fused_slot)."""
        number, trial_id = taken.number, taken._trial_id
        self.retry("recording the first heartbeat", lambda: self.pulse.track(trial_id, job.name, number))
        if records.STARTED_AT not in job.attrs:
            started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            self.retry("marking the job started", lambda: self.storage.set_study_user_attr(job.study_id, records.STARTED_AT, started))
        study.sampler = make_sampler(job.spec.sampler, number)  # seeded by the trial number: see optimizers
        trial = self.retry("opening the trial", lambda: optuna.trial.Trial(study, trial_id))
        replicate = taken.user_attrs.get(records.ROLE) == records.REPLICATE
        try:
            values = self.retry("drawing the trial's parameters", lambda: job.space.suggest(trial))
            if replicate:  # same parameters as its configuration's first run; only the seed differs
                values = {**values, "seed": int(taken.user_attrs[records.SEED])}
            labels = {records.DEVICE: self.slot.device, records.HOST: self.host, records.WORKER: self.worker,
                      records.THREADS: _threads(), records.ROLE: records.REPLICATE if replicate else records.SEARCH,
                      records.CONFIG_ID: records.config_id(trial.params), records.SEED: _seed(job, values)}
            self.retry("labelling the trial", lambda: set_trial_user_attrs(self.storage, trial_id, labels))
        except optuna.exceptions.UpdateFinishedTrialError:
            self.log.warning("job %s: trial %d was finished elsewhere before it started", job.name, number)
            self.pulse.untrack()
            return
        if not replicate:
            frozen = self.retry("reading the trial back", lambda: self.storage.get_trial(trial_id))
            twin = self.retry("looking for the same configuration", lambda: _twin(study, frozen))
            if twin is not None:
                self._reuse(job, study, trial, twin)
                return
        if start is not None:
            start(job, study, trial, values, not replicate)
            return
        self.log.info("job %s: trial %d started%s %s", job.name, number, " (replicate)" if replicate else "", _short(values))
        self._train_and_record(job, study, trial, values, may_prune=not replicate)

    def _reuse(self, job: Job, study: optuna.Study, trial: optuna.Trial, twin: FrozenTrial) -> None:
        """The sampler drew a configuration that already completed (TPE does, in small categorical spaces)
        with the same seed, device and threads: training it again would give the same numbers. Recorded
        as a FAIL without a value, so Optuna's tools and the ranking see that result once."""
        reason = (f"copy of trial {twin.number}: the sampler drew the same configuration, seed, device and threads; "
                  "not trained again (its result stands for both)")
        attrs = {records.COPY_OF: twin.number, records.FAIL_REASON: reason, records.SECONDS: 0.0}
        if self._record(study, trial, TrialState.FAIL, None, attrs):
            self.log.info("job %s: trial %d drew the configuration of trial %d (%s %.4f): not trained again",
                          job.name, trial.number, twin.number, job.spec.objective, twin.value)
        self._after_trial()

    def _train_and_record(self, job: Job, study: optuna.Study, trial: optuna.Trial, values: dict[str, Any],
                          may_prune: bool = True, *, run: Objective | None = None, reporter: EpochReporter | None = None,
                          started: float | None = None) -> None:
        """Train the trial with ``run`` (default: the worker's objective) and record it; a fused group passes
        each member's outcome as ``run``, with the reporter and start time its training used."""
        objective = job.spec.objective
        reporter = reporter or self.reporter(job, trial, values, may_prune)
        started = time.monotonic() if started is None else started
        interrupted = False
        value: float | None = None
        try:
            with self.stop.interruptible():
                result = (run or self.options.objective)(TrialContext(job, trial.number, values, self.slot.device, reporter))
        except optuna.TrialPruned as e:
            # Optuna's value of a pruned trial is the last reported epoch's objective: its metrics go with it.
            state, attrs = TrialState.PRUNED, {records.EPOCHS: reporter.epochs, records.SECONDS: round(time.monotonic() - started, 3),
                                               records.VALID_METRICS: reporter.last_metrics, records.PRUNE_REASON: str(e)}
        except WorkerInterrupted as e:
            interrupted = True
            reason = f"interrupted: the worker was stopped ({e.args[0] if e.args else 'signal'}) at epoch {reporter.epochs}"
            state, attrs = TrialState.FAIL, {**_partial(reporter, started), records.FAIL_REASON: reason}
        except TrialTakenAway:
            self.log.warning("job %s: trial %d was failed by a reaper while it ran (database outage?); its rerun will repeat it",
                             job.name, trial.number)
            self._after_trial()
            return
        except Exception as e:
            self.log.warning("job %s: trial %d failed", job.name, trial.number, exc_info=True)
            reason = f"{type(e).__name__}: {e}"[:REASON_LIMIT]
            state, attrs = TrialState.FAIL, {**_partial(reporter, started), records.FAIL_REASON: reason}
        else:
            state, attrs, value = _complete(result, objective)
            ranks = getattr(result, "ranks", None)  # test objectives may return records without them
            if state == TrialState.COMPLETE and ranks:
                self.retry("recording per-user ranks", lambda: per_user.save_ranks(self.storage.engine, trial._trial_id, ranks))
        if reporter.curves["epoch"]:
            attrs[records.EPOCH_METRICS] = reporter.curves
        peak = devices.release_memory(self.slot.device, collect=time.monotonic() - started > 1.0)
        if peak is not None:
            attrs[records.GPU_PEAK_MIB] = peak
        recorded = self._record(study, trial, state, value, attrs)
        if recorded and interrupted:
            frozen = self.retry("reading the trial back", lambda: self.storage.get_trial(trial._trial_id))
            self.retry("queueing the trial again", lambda: queue_again(
                self.storage, study._study_id, frozen, crash=False, max_retries=job.spec.max_retries))
        self._after_trial()
        self._log_result(job, trial.number, state, value, attrs, interrupted)

    def reporter(self, job: Job, trial: optuna.Trial, values: Mapping[str, Any], may_prune: bool) -> EpochReporter:
        """The epoch hook of one trial: reports to Optuna and asks the pruner."""
        return EpochReporter(trial, job.spec.objective, self.retry, self.stop, last_epoch=_epochs(job, values), may_prune=may_prune)

    def _record(self, study: optuna.Study, trial: optuna.Trial, state: TrialState, value: float | None,
                attrs: Mapping[str, Any]) -> bool:
        """Attributes, value and state in one transaction (storage.finish_trial). False if it was finished elsewhere."""
        try:
            self.retry("recording the result", lambda: finish_trial(self.storage, trial._trial_id, state, value, attrs))
        except optuna.exceptions.UpdateFinishedTrialError:
            self.log.warning("trial %d was failed by a reaper while it ran; its rerun will repeat it", trial.number)
            return False
        return True

    def _after_trial(self) -> None:
        self.pulse.untrack()

    def _log_result(self, job: Job, number: int, state: TrialState, value: float | None, attrs: Mapping[str, Any],
                    interrupted: bool) -> None:
        if state == TrialState.COMPLETE:
            self.log.info("job %s: trial %d complete: %s %.4f (best epoch %s of %s, %.1f s)", job.name, number,
                          job.spec.objective, value, attrs.get(records.BEST_EPOCH), attrs.get(records.EPOCHS),
                          attrs.get(records.SECONDS, 0.0))
        elif state == TrialState.PRUNED:
            self.log.info("job %s: trial %d %s", job.name, number, attrs.get(records.PRUNE_REASON))
        else:
            then = "; queued again" if interrupted else ""
            self.log.info("job %s: trial %d failed: %s%s", job.name, number, attrs.get(records.FAIL_REASON), then)


def _complete(result: Any, objective: str) -> tuple[TrialState, dict[str, Any], float | None]:
    """A finished training run as a trial outcome (FAIL when the objective is missing or not finite)."""
    valid = {k: float(v) for k, v in dict(result.valid).items()}
    test = {k: float(v) for k, v in dict(result.test).items()}
    attrs: dict[str, Any] = {
        records.VALID_METRICS: valid, records.TEST_METRICS: test, records.BEST_EPOCH: int(result.best_epoch),
        records.EPOCHS: int(result.epochs), records.SECONDS: round(float(result.seconds), 3),
    }
    value = valid.get(objective)
    if value is None or not math.isfinite(value):
        attrs[records.FAIL_REASON] = f"the validation {objective} is {value!r}, not a finite number"
        attrs.pop(records.VALID_METRICS)
        attrs.pop(records.TEST_METRICS)
        return TrialState.FAIL, attrs, None
    return TrialState.COMPLETE, attrs, value


# What must match for a complete trial to stand for a new one: the parameters, and what else decides the
# floats (torch's CPU sums depend on the thread count; GPU kernels differ from CPU ones).
_SAME_RUN = (records.SEED, records.DEVICE, records.THREADS)


def _twin(study: optuna.Study, trial: FrozenTrial) -> FrozenTrial | None:
    """A complete trial of the job with this trial's parameters, seed, device and threads, if any."""
    wanted = [trial.user_attrs.get(k) for k in _SAME_RUN]
    for other in complete_alike(study._storage, study._study_id, trial):
        if (other.params == trial.params and other.number != trial.number
                and [other.user_attrs.get(k) for k in _SAME_RUN] == wanted):
            return other
    return None


def _threads() -> int:
    import torch  # loaded already in a slot's process (devices.pin set its thread count)

    return torch.get_num_threads()


def _seed(job: Job, values: Mapping[str, Any]) -> int | None:
    """The seed the trial trains with (None if its settings do not resolve: the objective then fails with why)."""
    try:
        return int(job.settings(values)["seed"])
    except Exception:
        return None


def _epochs(job: Job, values: Mapping[str, Any]) -> int | None:
    """The trial's ``epochs`` setting (fixed or searched); None if its settings do not resolve (the
    objective will then fail with the reason)."""
    epochs = values.get("epochs", job.spec.params.get("epochs"))
    if epochs is None:
        try:
            epochs = job.settings(values).get("epochs")
        except Exception:
            return None
    return int(epochs) if isinstance(epochs, int) else None


def _partial(reporter: EpochReporter, started: float) -> dict[str, Any]:
    """What a pruned, failed or interrupted trial got to: the best epoch so far and its validation metrics."""
    attrs: dict[str, Any] = {records.EPOCHS: reporter.epochs, records.SECONDS: round(time.monotonic() - started, 3)}
    if reporter.best_epoch is not None:
        attrs[records.BEST_EPOCH] = reporter.best_epoch
        attrs[records.VALID_METRICS] = reporter.best_metrics
    return attrs


def _short(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())
