"""Objectives for coordination tests: no training, so a trial costs only the coordination around it.

Module-level functions, so a spawned slot process can import them by name. Each reports per-epoch
validation values through ``ctx.on_epoch`` (so pruning works) and returns a RunResult-shaped record.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Result:  # the fields of tuner.training.RunResult the worker reads
    valid: dict
    test: dict
    best_epoch: int
    epochs: int
    seconds: float
    history: list = field(default_factory=list)


def score(values: dict) -> float:
    """A deterministic validation score in (0, 1) that depends on every parameter value."""
    total = sum((i + 1) * float(v) for i, v in enumerate(_numbers(values)))
    return 0.5 + 0.4 * math.sin(total * 37.0)


def _numbers(values: dict) -> list[float]:
    return [float(v) if isinstance(v, (int, float)) else float(len(str(v))) for _, v in sorted(values.items())]


def _run(ctx, epochs: int, pause: float = 0.0) -> Result:
    final = score(ctx.values)
    started = time.monotonic()
    for epoch in range(1, epochs + 1):
        if pause:
            time.sleep(pause)
        value = final * epoch / epochs
        ctx.on_epoch(epoch, {ctx.job.spec.objective: value, "recall@10": value * 1.5})
    key = ctx.job.spec.objective
    return Result(valid={key: final, "recall@10": final * 1.5}, test={key: final * 0.9, "recall@10": final * 1.4},
                  best_epoch=epochs, epochs=epochs, seconds=time.monotonic() - started)


def trivial(ctx) -> Result:
    """One epoch, no work: what the coordination benchmark measures."""
    return _run(ctx, epochs=1)


def quick(ctx) -> Result:
    return _run(ctx, epochs=3)


def slow(ctx) -> Result:
    """A few seconds per trial, so a test can kill a worker in the middle of one."""
    return _run(ctx, epochs=int(os.environ.get("TEST_SLOW_EPOCHS", "6")), pause=float(os.environ.get("TEST_SLOW_PAUSE", "0.4")))


def fails_on_high_rate(ctx) -> Result:
    """Raises for learning_rate 0.01, like a diverging run would."""
    if ctx.values.get("learning_rate") == 0.01:
        raise FloatingPointError("loss became nan at epoch 2")
    return _run(ctx, epochs=2)
