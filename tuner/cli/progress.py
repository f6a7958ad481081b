"""Printing live progress: a line per finished trial (``tuner run``, ``tuner worker``), and a status
table refreshed until Ctrl-C (``tuner status --watch``). The figures come from tuner.service.progress."""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from tuner.errors import ConfigError

if TYPE_CHECKING:  # the service (optuna) loads with the command that needs it, not with ``tuner --help``
    from tuner.service.progress import Progress

WATCH_DEFAULT_S = 5.0  # tuner status --watch without a number


@contextlib.contextmanager
def progress_display() -> Iterator[Callable[[Progress], None]]:
    """A callback for the worker's progress: tqdm bars, one per job, when stdout is a terminal; else
    one plain line per finished trial (logs, pipes, CI)."""
    if not sys.stdout.isatty():
        yield lambda p: print(p.line(), flush=True)
        return
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}
    lock = threading.Lock()

    def show(p: Progress) -> None:
        with lock:
            bar = bars.get(p.job)
            if bar is None:
                bar = bars[p.job] = tqdm(total=p.total, desc=p.job, unit="trial", file=sys.stdout, dynamic_ncols=True,
                                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {postfix}")
            bar.total, bar.n = p.total, p.done
            bar.set_postfix_str(p.line().split(", ", 1)[1])  # refreshes the bar

    try:
        yield show
    finally:
        for bar in bars.values():
            bar.close()


def every(seconds: float, show: Callable[[], object]) -> int:
    """Call ``show`` every ``seconds`` (clearing a terminal first) until Ctrl-C, then exit 0."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"--watch {seconds:g}: expected a number of seconds above 0, such as --watch 5")
    terminal = sys.stdout.isatty()
    try:
        while True:
            if terminal:
                sys.stdout.write("\033[H\033[2J")  # cursor home, clear the screen
            print(f"{time.strftime('%H:%M:%S')}, every {seconds:g} s (Ctrl-C stops)")
            show()
            sys.stdout.flush()
            time.sleep(seconds)
    except KeyboardInterrupt:
        return 0
