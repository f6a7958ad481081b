"""A slot that trains several WAITING trials of one job as one fused model (``--fuse K``, spec ``fuse: K``).

The slot takes its first trial as usual, then up to K - 1 more of the same job (each counted against
``--max-trials``), opening each as it opens one trial (parameters drawn by the job's sampler, so TPE
with ``constant_liar`` draws K at once; labels; a copy of a finished configuration is recorded, not
trained). Trials whose settings agree in everything but the per-member ones
(:data:`tuner.training.fused.MEMBER_KEYS`) are trained together by :func:`fit_fused`; any other is
trained unfused afterwards, with a log line naming the difference. Every member keeps its own
epoch reporter (Optuna reports, pruning) and is recorded by the slot's own code the moment it
leaves the fused model. While they train, a thread beats for every member still running; if the
process dies the beats stop and the reapers fail and requeue each member, as for one trial. A
signal (SIGTERM) ends the fused run: every member still in it is recorded as interrupted and queued
again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import optuna

from tuner.service.objective import train_objective
from tuner.service.queue import take_waiting

# Fusion measured not to pay on the CPU (docs/training.md) and not yet measured on a GPU:
# off unless --fuse or the spec's fuse asks for it.
DEFAULT_FUSE = 1


def width(slot, job) -> int:
    """How many trials the slot fuses for ``job``: --fuse, else the spec's ``fuse``, else the default."""
    asked = getattr(slot.options, "fuse", None)
    if asked is None:
        asked = getattr(job.spec, "fuse", None)
    return int(asked) if asked is not None else DEFAULT_FUSE


def fuses(slot, job) -> bool:
    """Fuse only real training (a trivial objective, as the coordination tests pass, trains nothing)."""
    return width(slot, job) > 1 and slot.options.objective is train_objective


def run(slot, job, study: optuna.Study, first) -> None:
    """Open ``first`` and up to width - 1 more WAITING trials of ``job``, train them fused, record each."""
    opened: list[tuple[Any, dict[str, Any], bool]] = []
    collect = lambda job_, study_, trial, values, may_prune: opened.append((trial, values, may_prune))  # noqa: E731
    slot._run_trial(job, study, first, start=collect)
    while len(opened) < width(slot, job) and not slot.stop.requested:
        if not slot.allowance.take():
            break
        taken = slot.retry(f"taking a trial of {job.name}", lambda: take_waiting(study._storage, job.study_id))
        if taken is None:
            slot.allowance.give_back()
            break
        slot._run_trial(job, study, taken, start=collect)
    if not opened:
        return
    beats = MemberBeats(slot.storage, [trial._trial_id for trial, _, _ in opened], slot.storage.heartbeat_interval)
    beats.start()
    try:
        fused, alone = _groups(slot, job, opened)
        if len(fused) > 1:
            _train_fused(slot, job, study, fused, beats)
        else:
            alone = fused + alone
        for member in alone:
            slot._train_and_record(job, study, *member)
            beats.drop(member[0]._trial_id)
    finally:
        beats.stop()


def _groups(slot, job, opened):
    """(the members fused with the first, the rest): trials whose settings agree but for the member keys."""
    from tuner.training.fused import differences, fusion_key

    settings = [job.settings(values) for _, values, _ in opened]
    key = fusion_key(settings[0])
    fused = [m for m, s in zip(opened, settings) if fusion_key(s) == key]
    alone = [m for m, s in zip(opened, settings) if fusion_key(s) != key]
    for (trial, _, _), s in ((m, s) for m, s in zip(opened, settings) if fusion_key(s) != key):
        slot.log.info("job %s: trial %d trained unfused: it differs from trial %d in %s", job.name, trial.number,
                      opened[0][0].number, ", ".join(differences(settings[0], s)))
    return fused, alone


def _train_fused(slot, job, study, members: Sequence[tuple[Any, dict[str, Any], bool]], beats: "MemberBeats") -> None:
    """One fused run; each member recorded through the slot's own code as it leaves."""
    import time

    from tuner.training.fused import Member, fit_fused

    reporters = [slot.reporter(job, trial, values, may_prune) for trial, values, may_prune in members]
    started = time.monotonic()
    settled: set[int] = set()

    def record(index: int, outcome) -> None:
        trial, values, may_prune = members[index]

        def replay(_ctx):  # the member's outcome, as its own objective would have returned or raised it
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

        settled.add(index)
        with slot.stop.shielded():  # recording is database work: a signal waits for it
            slot._train_and_record(job, study, trial, values, may_prune, run=replay, reporter=reporters[index], started=started)
        beats.drop(trial._trial_id)

    numbers = ", ".join(str(trial.number) for trial, _, _ in members)
    slot.log.info("job %s: trials %s start as one fused model of %d", job.name, numbers, len(members))
    try:
        with slot.stop.interruptible():
            fit_fused(job.spec.model, job.spec.dataset,
                      [Member(job.settings(values), on_epoch=reporters[i]) for i, (_, values, _) in enumerate(members)],
                      device=slot.slot.device, on_leave=record)
    except BaseException as error:  # the whole run ended (a signal, a bad dataset): every member still in it
        for index in range(len(members)):
            if index not in settled:
                record(index, error)
        if not isinstance(error, Exception):
            return  # the interruption is recorded on every member; the slot's loop sees the stop flag


class MemberBeats(threading.Thread):
    """Heartbeats for every member of a fused group still running (the slot's Pulse tracks one trial)."""

    def __init__(self, storage, trial_ids: Sequence[int], interval: int) -> None:
        super().__init__(name="fused-beats", daemon=True)
        self.storage = storage
        self.interval = max(1, int(interval))
        self._ids = set(trial_ids)
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def drop(self, trial_id: int) -> None:
        with self._lock:
            self._ids.discard(trial_id)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            with self._lock:
                ids = sorted(self._ids)
            for trial_id in ids:
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception:  # an outage: the Pulse logs it; the next tick tries again
                    break

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=self.interval + 5)
