"""What a job spent: epochs and training seconds, in total and per configuration, and the epochs (rungs)
its pruned trials stopped at. Plain data from the report's trial rows; html.py draws the table."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tuner.report.data import TrialRow


@dataclass(frozen=True)
class ConfigurationCompute:
    """One configuration's runs (search, pruned, promoted or replicated) added up."""

    params: dict[str, Any]  # by RecBole name, without the seed
    trials: tuple[int, ...]  # its trial numbers
    epochs: int  # epochs trained over those trials
    seconds: float  # their training seconds
    states: dict[str, int]  # COMPLETE/PRUNED/FAIL -> trials
    pruned_at: tuple[int, ...]  # the epoch each pruned run stopped at, by trial number
    best_value: float | None  # the best complete run's validation objective


@dataclass(frozen=True)
class Compute:
    epochs: int  # every trial's epochs, added up
    seconds: float  # every trial's training seconds
    trials: int  # trials that trained (complete, pruned or failed)
    pruned_at: dict[int, int]  # epoch -> pruned trials that stopped there (the pruner's rungs), by epoch
    configurations: tuple[ConfigurationCompute, ...]  # most epochs first


def job_compute(rows: Sequence[TrialRow]) -> Compute:
    trained = [r for r in rows if r.state in ("COMPLETE", "PRUNED", "FAIL") and r.epochs]
    groups: dict[str, list[TrialRow]] = {}
    for row in trained:
        groups.setdefault(_key(row.params), []).append(row)
    configurations = tuple(sorted((_configuration(runs) for runs in groups.values()), key=lambda c: (-c.epochs, c.trials)))
    pruned = Counter(r.epochs for r in trained if r.state == "PRUNED")
    return Compute(
        epochs=sum(r.epochs for r in trained), seconds=sum(r.seconds or 0.0 for r in trained), trials=len(trained),
        pruned_at=dict(sorted(pruned.items())), configurations=configurations,
    )


def _configuration(runs: list[TrialRow]) -> ConfigurationCompute:
    runs = sorted(runs, key=lambda r: r.number)
    complete = [r.value for r in runs if r.state == "COMPLETE" and r.value is not None]
    return ConfigurationCompute(
        params={k: v for k, v in runs[0].params.items() if k != "seed"},
        trials=tuple(r.number for r in runs),
        epochs=sum(r.epochs for r in runs),
        seconds=sum(r.seconds or 0.0 for r in runs),
        states=dict(Counter(r.state for r in runs)),
        pruned_at=tuple(r.epochs for r in runs if r.state == "PRUNED"),
        best_value=max(complete) if complete else None,
    )


def _key(params: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in params.items() if k != "seed"}, sort_keys=True, default=str)
