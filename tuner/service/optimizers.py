"""Optuna samplers and pruners from a job spec's ``sampler:`` and ``pruner:`` settings.

Every worker builds them from the stored spec; nothing about them lives in the database but the trials.
A sampler is built per trial with a seed derived from the job's seed and the trial number: workers that
see the same history then still suggest different values (one shared seed would make every worker
suggest the same configuration), and a job run by one worker is reproducible.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Mapping
from typing import Any

import optuna

from tuner.errors import JobError

_SEED_STRIDE = 1_000_003  # a prime, so (seed, trial) pairs do not collide for small numbers


def make_sampler(settings: Mapping[str, Any], trial_number: int = 0) -> optuna.samplers.BaseSampler:
    """The sampler for one trial. Grid jobs queue every point at submit, so their sampler is never asked."""
    options = {k: v for k, v in settings.items() if k != "name"}
    seed = options.pop("seed", None)
    trial_seed = None if seed is None else (int(seed) * _SEED_STRIDE + trial_number) % 2**32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if settings["name"] == "tpe":
            return optuna.samplers.TPESampler(seed=trial_seed, **options)
        return optuna.samplers.RandomSampler(seed=trial_seed)


def make_pruner(settings: Mapping[str, Any], epochs: int | None = None) -> optuna.pruners.BasePruner:
    """``epochs`` (the job's fixed ``epochs``) is Hyperband's default ``max_resource``."""
    options = {k: v for k, v in settings.items() if k != "name"}
    name = settings["name"]
    if name == "median":
        return optuna.pruners.MedianPruner(**options)
    if name == "hyperband":
        options.setdefault("max_resource", epochs if epochs else "auto")
        return optuna.pruners.HyperbandPruner(**options)
    return optuna.pruners.NopPruner()


def check_optimizers(sampler: Mapping[str, Any], pruner: Mapping[str, Any], epochs: int | None, where: str) -> None:
    """Build both once so a bad value (``n_warmup_steps: -1``) fails at submit, naming the spec file."""
    for what, build in (("sampler", lambda: make_sampler(sampler)), ("pruner", lambda: make_pruner(pruner, epochs))):
        try:
            build()
        except (TypeError, ValueError) as e:
            raise JobError(f"{where}: {what} {dict(sampler if what == 'sampler' else pruner)}: {e}") from None
    seed = sampler.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise JobError(f"{where}: sampler seed {seed!r}: expected a whole number or null")


def grid_order(size: int, seed: int | None) -> list[int]:
    """The order grid points are queued in: shuffled by ``seed`` (so a partial grid is a random subset)."""
    order = list(range(size))
    if seed is not None:
        random.Random(seed).shuffle(order)
    return order
