"""SIGTERM and Ctrl-C in a worker slot: stop after closing the current trial, never leave it RUNNING.

While a trial trains, the signal interrupts it at once (an exception raised in the main thread, as
Ctrl-C raises KeyboardInterrupt); while the slot talks to the database it only sets a flag, checked at
the next epoch or between trials, so no transaction is cut in half.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class WorkerInterrupted(BaseException):
    """Raised inside a training trial by SIGTERM/SIGINT. A BaseException, like KeyboardInterrupt, so that
    code catching ``Exception`` inside training does not swallow it."""


class StopSignals:
    """The slot's stop flag, set by SIGTERM/SIGINT (or by :meth:`request`)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._interruptible = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def request(self, why: str) -> None:
        self.signal_name = self.signal_name or why
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Training runs here: a signal raises :class:`WorkerInterrupted` on the spot."""
        if self.requested:
            raise WorkerInterrupted(self.signal_name)
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """Database work inside training (an epoch report): a signal waits until it is done."""
        was, self._interruptible = self._interruptible, False
        try:
            yield
        finally:
            self._interruptible = was
        if was and self.requested:
            raise WorkerInterrupted(self.signal_name)

    def _handle(self, signum: int, _frame: object) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()
        if self._interruptible:
            self._interruptible = False
            raise WorkerInterrupted(self.signal_name)
