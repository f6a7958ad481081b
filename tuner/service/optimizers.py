"""Optuna samplers and pruners from a job spec's ``sampler:`` and ``pruner:`` settings.

Every worker builds them from the stored spec; nothing about them lives in the database but the trials.
A sampler is built per trial with a seed derived from the job's seed and the trial number: workers that
see the same history then still suggest different values (one shared seed would make every worker
suggest the same configuration), and a job run by one worker is reproducible.
"""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Mapping
from typing import Any

import optuna

from tuner.errors import JobError
from tuner.service.pruners import TopKPruner

log = logging.getLogger("tuner.submit")

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
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(**options)
    if name == "topk":
        return TopKPruner(**options)
    return optuna.pruners.NopPruner()


def check_optimizers(
    sampler: Mapping[str, Any], pruner: Mapping[str, Any], epochs: int | None, where: str,
    *, eval_step: int | None = None, n_trials: int | None = None,
) -> None:
    """Build both once so a bad value (``n_warmup_steps: -1``) fails at submit, naming the spec file;
    log a warning for a pruner setting that can never prune or judges before the first validation."""
    for what, build in (("sampler", lambda: make_sampler(sampler)), ("pruner", lambda: make_pruner(pruner, epochs))):
        try:
            build()
        except (TypeError, ValueError) as e:
            raise JobError(f"{where}: {what} {dict(sampler if what == 'sampler' else pruner)}: {e}") from None
    seed = sampler.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise JobError(f"{where}: sampler seed {seed!r}: expected a whole number or null")
    for message in pruner_warnings(pruner, epochs, eval_step, n_trials):
        log.warning("%s: warning: %s", where, message)


def pruner_warnings(pruner: Mapping[str, Any], epochs: int | None, eval_step: int | None, n_trials: int | None) -> list[str]:
    """What is wrong with pruner settings that Optuna accepts: each message names the key. The worker
    never prunes at the last epoch (``epochs``), and judges a trial only when it validates (every
    ``eval_step`` epochs)."""
    name = pruner["name"]
    found: list[str] = []
    first_judged = _first_judged(name, pruner)
    if first_judged is not None:
        key, epoch = first_judged
        if epochs is not None and epoch >= epochs:
            found.append(f"pruner.{key}: {name} first judges trials at epoch {epoch}, not before the last epoch "
                         f"({epochs}, params.epochs): it can never prune")
        elif eval_step and eval_step > 1 and epoch < eval_step:
            found.append(f"pruner.{key}: {name} judges trials at epoch {epoch}, before their first validation "
                         f"(epoch {eval_step}, params.eval_step): it judges them there, on more training than intended")
    startup = pruner.get("n_startup_trials")
    if name == "median" and n_trials is not None and isinstance(startup, int) and startup >= n_trials:
        found.append(f"pruner.n_startup_trials: {startup} >= n_trials {n_trials}: the median pruner can never prune")
    k = pruner.get("k", 3)
    if name == "topk" and n_trials is not None and isinstance(k, int) and k >= n_trials:
        found.append(f"pruner.k: {k} >= n_trials {n_trials}: every configuration is trained in full, after its first epochs twice")
    return found


def _first_judged(name: str, pruner: Mapping[str, Any]) -> tuple[str, int] | None:
    """The setting that fixes the first epoch a pruner may prune at, and that epoch."""
    def whole(key: str, default: Any) -> Any:
        value = pruner.get(key, default)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    if name == "median":
        warmup = whole("n_warmup_steps", 0)
        return ("n_warmup_steps", max(warmup, 1)) if warmup is not None else None
    if name in ("hyperband", "successive_halving"):
        low, factor, rate = whole("min_resource", 1), whole("reduction_factor", 3 if name == "hyperband" else 4), whole("min_early_stopping_rate", 0)
        if low is None or factor is None or rate is None:
            return None  # "auto": Optuna estimates it from the first complete trial
        return "min_resource", low * factor**rate
    if name == "topk":
        epoch = whole("epoch", 1)
        return ("epoch", epoch) if epoch is not None else None
    return None


def grid_order(size: int, seed: int | None) -> list[int]:
    """The order grid points are queued in: shuffled by ``seed`` (so a partial grid is a random subset)."""
    order = list(range(size))
    if seed is not None:
        random.Random(seed).shuffle(order)
    return order
