"""Database steps that wait out an outage: retried with growing pauses while the database is unreachable."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from tuner.errors import StorageError
from tuner.service.storage import describe, is_transient

T = TypeVar("T")

FIRST_PAUSE_S = 0.5  # the first retry comes this soon; each next pause doubles
LONGEST_PAUSE_S = 30.0  # pauses stop growing here
OUTAGE_LIMIT_S = 3600.0  # a worker gives up (exits with an error) after the database is gone this long
STOPPING_LIMIT_S = 15.0  # once asked to stop, wait only this long for the database


class DatabaseUnavailable(StorageError):
    """The database stayed unreachable longer than the worker waits for it."""


class Retrier:
    """Call a database step; while it fails for a transient reason, log, pause and call it again.

    Non-transient errors (a bad value, a missing table) propagate at once. ``stop`` (set by SIGTERM)
    shortens the wait, so a stopping worker does not hang on a dead database.
    """

    def __init__(
        self,
        log: logging.Logger,
        stop: threading.Event | None = None,
        *,
        outage_limit_s: float = OUTAGE_LIMIT_S,
        first_pause_s: float = FIRST_PAUSE_S,
    ) -> None:
        self.log = log
        self.stop = stop or threading.Event()
        self.outage_limit_s = outage_limit_s
        self.first_pause_s = first_pause_s

    def __call__(self, what: str, step: Callable[[], T]) -> T:
        started = time.monotonic()
        pause = self.first_pause_s
        attempt = 0
        while True:
            try:
                result = step()
            except Exception as e:
                if not is_transient(e):
                    raise
                attempt += 1
                waited = time.monotonic() - started
                limit = STOPPING_LIMIT_S if self.stop.is_set() else self.outage_limit_s
                if waited >= limit:
                    raise DatabaseUnavailable(f"database unreachable for {waited:.0f} s while {what}: {describe(e)}") from e
                self.log.warning("database unreachable while %s (%s); retry %d in %.1f s", what, describe(e), attempt, pause)
                time.sleep(min(pause, max(0.0, limit - waited)))
                pause = min(pause * 2, LONGEST_PAUSE_S)
                continue
            if attempt:
                self.log.warning("database back after %.1f s (%s)", time.monotonic() - started, what)
            return result
