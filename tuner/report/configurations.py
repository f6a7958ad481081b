"""Trials grouped into configurations, ranked with confidence, and the recommended one.

A configuration is a trial's parameters without ``seed``; its runs are its complete trials with distinct
seeds (a second complete trial with the same seed, such as an old job's reused copy, is the same run:
the first is kept). The recommended configuration is the best mean validation objective among the
configurations with at least 2 runs (confirmed); without any, the best single run, unconfirmed.

Reads frozen trials and per-user ranks as :mod:`tuner.per_user` returns them; the report and
``tuner status`` both rank through here. Pure, apart from :func:`load_per_user`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.report.confidence import SEEDS_AND_USERS, SEEDS_ONLY, Difference, Interval, compare, seed_interval

DEFAULT_SEED = 2020  # RecBole's, which a job that records no seed trained with
UNCONFIRMED = "unconfirmed: single run"


@dataclass(frozen=True)
class Run:
    """One complete trial of a configuration."""

    number: int  # Optuna's trial number
    trial_id: int  # Optuna's trial id (the per-user ranks' key)
    seed: int | None
    role: str  # "search" or "replicate"
    valid: float  # the validation objective
    test: float | None  # the test objective, when recorded


@dataclass(frozen=True)
class Configuration:
    """A configuration with its runs, their mean and 95% CI over seeds, and its test against the leader."""

    config_id: str  # the same for every run of it
    params: dict[str, Any]  # without seed
    runs: tuple[Run, ...]  # distinct seeds, by trial number
    valid: Interval
    test: Interval | None  # None when no run recorded the test objective
    versus_leader: Difference | None  # None for the leader and for configurations with one run

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    @property
    def confirmed(self) -> bool:
        return len(self.runs) >= 2

    @property
    def tied(self) -> bool:
        """Not distinguishable from the leader at 5%."""
        return self.versus_leader is not None and self.versus_leader.tied


@dataclass(frozen=True)
class Ranking:
    """A job's configurations: the recommended one first, then the other confirmed ones by mean
    validation objective, then single runs by their value."""

    configurations: tuple[Configuration, ...]
    recommended: Configuration | None  # None without a complete trial
    method: str | None  # how the tied group was found: "seeds and users", "seeds only", or None (no test made)
    note: str | None  # what a reader must know: unconfirmed, or tested without per-user values

    @property
    def confirmed(self) -> bool:
        return self.recommended is not None and self.recommended.confirmed

    @property
    def tied(self) -> tuple[Configuration, ...]:
        return tuple(c for c in self.configurations if c.tied)

    def by_number(self) -> dict[int, Configuration]:
        """Each run's trial number -> its configuration (duplicates of a run included)."""
        return {run.number: c for c in self.configurations for run in c.runs}

    def recommended_json(self, params: Callable[[Configuration], dict[str, Any]] | None = None) -> dict[str, Any] | None:
        """The ``recommended`` object of ``tuner status --json``; ``params`` maps a configuration to the
        parameters shown (default: as stored)."""
        best = self.recommended
        if best is None:
            return None
        shown = params or (lambda c: dict(c.params))
        return {
            "config_id": best.config_id, "params": shown(best), "n_runs": best.n_runs, "confirmed": best.confirmed,
            "valid_mean": best.valid.mean, "valid_ci95": best.valid.ci95,
            "test_mean": best.test.mean if best.test else None, "test_ci95": best.test.ci95 if best.test else None,
            "method": self.method,
            "tied": [{"config_id": c.config_id, "params": shown(c), "p_value": c.versus_leader.p_value} for c in self.tied],
        }


def rank_configurations(
    trials: Sequence[FrozenTrial],
    objective: str,
    direction: str = "maximize",
    *,
    default_seed: int | None = DEFAULT_SEED,
    per_user: Mapping[int, Mapping[str, np.ndarray]] | None = None,
) -> Ranking:
    """Group complete trials into configurations and rank them. ``per_user``: per-user ranks by trial id
    (:func:`tuner.per_user.load_ranks`); configurations whose runs all have them are tested over seeds and
    users, others over seeds only."""
    maximize = direction != "minimize"
    sign = 1.0 if maximize else -1.0
    groups: dict[str, list[tuple[FrozenTrial, Run]]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        run = _run(t, objective, default_seed)
        if run is not None:
            groups.setdefault(records.config_id(t.params), []).append((t, run))
    configs = [_configuration(members) for members in groups.values()]
    if not configs:
        return Ranking((), None, None, None)
    confirmed = [c for c in configs if c.confirmed]
    leader = min(confirmed or configs, key=lambda c: (-sign * c.valid.mean, c.runs[0].number))
    values = _per_user_valid(per_user or {}, objective, [c for c in confirmed])
    methods = set()
    tested = []
    for c in configs:
        if c is not leader and c.confirmed and leader.confirmed:
            users_a, users_b = values.get(leader.config_id), values.get(c.config_id)
            if users_a is not None and users_b is not None and users_a.shape[1] != users_b.shape[1]:
                users_a = users_b = None  # not the same users: no pairing
            versus = compare([r.valid for r in leader.runs], [r.valid for r in c.runs], users_a, users_b, maximize=maximize)
            methods.add(versus.method)
            c = _with(c, versus)
        tested.append(c)
    leader = next(c for c in tested if c.config_id == leader.config_id)
    others = sorted((c for c in tested if c is not leader),
                    key=lambda c: (not c.confirmed, -sign * c.valid.mean, c.runs[0].number))
    method = None if not methods else SEEDS_AND_USERS if methods == {SEEDS_AND_USERS} else SEEDS_ONLY
    if not leader.confirmed:
        note = f"{UNCONFIRMED} (no configuration was run with more than one seed)"
    elif not methods:
        note = "no other configuration has 2 runs: nothing to test the recommended one against"
    elif method == SEEDS_ONLY:
        note = "tested over training seeds only: per-user values are not stored for every run, so the sampling of users is not counted"
    else:
        note = None
    return Ranking((leader, *others), leader, method, note)


def trial_seed(trial: FrozenTrial, default: int | None = DEFAULT_SEED) -> int | None:
    """The seed a trial trained with: recorded, else a tuned ``seed`` parameter, else the job's."""
    seed = trial.user_attrs.get(records.SEED, trial.params.get(records.SEED, default))
    return int(seed) if isinstance(seed, (int, float)) and not isinstance(seed, bool) else default


def trial_role(trial: FrozenTrial) -> str:
    return str(trial.user_attrs.get(records.ROLE) or records.SEARCH)


def load_per_user(engine, trials: Sequence[FrozenTrial], objective: str, direction: str = "maximize",
                  default_seed: int | None = DEFAULT_SEED) -> dict[int, dict[str, np.ndarray]]:
    """The per-user ranks of the trials that a test may use (runs of configurations with 2 or more),
    by trial id; {} when none were stored."""
    from tuner import per_user

    ranking = rank_configurations(trials, objective, direction, default_seed=default_seed)
    ids = [run.trial_id for c in ranking.configurations if c.confirmed for run in c.runs]
    return per_user.load_ranks(engine, ids) if ids else {}


def spec_seed(spec: Mapping[str, Any] | None) -> int:
    """The seed a job's spec fixes for its trials (RecBole's default when it fixes none)."""
    params = (spec or {}).get("params") if isinstance(spec, Mapping) else None
    seed = params.get("seed") if isinstance(params, Mapping) else None
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else DEFAULT_SEED


def _run(trial: FrozenTrial, objective: str, default_seed: int | None) -> Run | None:
    if trial.state != TrialState.COMPLETE or trial.values is None or len(trial.values) != 1:
        return None
    value = trial.values[0]
    if not _finite(value):
        return None
    test = (trial.user_attrs.get(records.TEST_METRICS) or {}).get(objective)
    return Run(trial.number, trial._trial_id, trial_seed(trial, default_seed), trial_role(trial), float(value),
               float(test) if _finite(test) else None)


def _configuration(members: list[tuple[FrozenTrial, Run]]) -> Configuration:
    runs, seen = [], set()
    for _, run in members:
        if run.seed not in seen:  # the same seed again is the same run (e.g. a reused copy)
            seen.add(run.seed)
            runs.append(run)
    first = members[0][0]
    recorded = next((t.user_attrs[records.CONFIG_ID] for t, _ in members if t.user_attrs.get(records.CONFIG_ID)), None)
    tests = [r.test for r in runs if r.test is not None]
    return Configuration(
        config_id=str(recorded or records.config_id(first.params)),
        params={k: v for k, v in first.params.items() if k != records.SEED},
        runs=tuple(runs), valid=seed_interval([r.valid for r in runs]),
        test=seed_interval(tests) if tests else None, versus_leader=None,
    )


def _per_user_valid(ranks: Mapping[int, Mapping[str, np.ndarray]], objective: str,
                    configs: Sequence[Configuration]) -> dict[str, np.ndarray]:
    """config_id -> (runs, users) validation values, for configurations whose every run has them."""
    from tuner.per_user import per_user_values

    out = {}
    if "@" not in objective:  # AUC (CaserD2L's): not a function of the stored top-K ranks, so runs are not paired
        return out
    for c in configs:
        arrays = [ranks.get(r.trial_id, {}).get("valid") for r in c.runs]
        if all(a is not None for a in arrays) and len({len(a) for a in arrays}) == 1:
            out[c.config_id] = np.stack([per_user_values(a, objective) for a in arrays])
    return out


def _with(c: Configuration, versus: Difference) -> Configuration:
    return Configuration(c.config_id, c.params, c.runs, c.valid, c.test, versus)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
