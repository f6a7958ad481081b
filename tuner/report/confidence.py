"""How sure a ranking is: confidence intervals over training seeds and tests against the leader.

Pure functions over numbers and arrays (scipy.stats for every distribution); docs/statistics.md
explains the method and what the A/A check showed.

Two sources of noise make one configuration's validation score differ from the next measurement of it:
the training seed (initialisation, batch order, dropout) and the users the score is averaged over
(another sample of users from the same population would give another mean). A configuration's runs
share the users, so the spread of its seed means shows the first only. ``compare`` accounts for both
when per-user values are at hand:

- the seeds' part, as in Welch's test: the variance of each configuration's run means over its runs;
- the users' part: the two configurations' seed-averaged values are paired user by user; the variance
  of their differences over users, less what the seeds' per-user noise puts into it (an ANOVA moment
  estimate from each user's variance across runs), divided by the number of users, is what resampling
  the users adds (it vanishes when two configurations rank every user alike);
- the sum is the difference's variance, with Welch-Satterthwaite degrees of freedom, and a two-sided t.

Without per-user values it is Welch's t-test on the run means (seeds only), and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95  # confidence intervals
ALPHA = 0.05  # a configuration whose p-value against the leader is at least this is tied with it
SEEDS_AND_USERS = "seeds and users"
SEEDS_ONLY = "seeds only"


@dataclass(frozen=True)
class Interval:
    """The mean of a configuration's runs and its 95% t-interval over seeds."""

    n: int  # runs (distinct seeds)
    mean: float
    low: float | None  # None for a single run: one seed says nothing about the next
    high: float | None

    @property
    def ci95(self) -> list[float] | None:
        return None if self.low is None else [self.low, self.high]


@dataclass(frozen=True)
class Difference:
    """The leader against another configuration on the objective (positive: the leader is better)."""

    difference: float  # leader mean - other mean, signed so that larger is better for the leader
    std_error: float
    df: float  # degrees of freedom of the t distribution used
    p_value: float  # two-sided, for "no difference in expectation"
    method: str  # SEEDS_AND_USERS or SEEDS_ONLY

    @property
    def tied(self) -> bool:
        return self.p_value >= ALPHA


def seed_interval(values: Sequence[float]) -> Interval:
    """Mean and 95% t-interval of one configuration's run values (one value per seed)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("seed_interval needs at least one run")
    mean = float(x.mean())
    if x.size < 2:
        return Interval(1, mean, None, None)
    sem = float(stats.sem(x))
    if sem == 0.0:  # every seed gave the same value (a deterministic objective)
        return Interval(int(x.size), mean, mean, mean)
    low, high = stats.t.interval(LEVEL, x.size - 1, loc=mean, scale=sem)
    return Interval(int(x.size), mean, float(low), float(high))


def compare(
    leader: Sequence[float],
    other: Sequence[float],
    leader_users: np.ndarray | None = None,
    other_users: np.ndarray | None = None,
    *,
    maximize: bool = True,
) -> Difference:
    """Test the leader's runs against another configuration's (both with at least 2 runs).

    ``leader``/``other``: one objective value per run (seed). ``*_users``: the same runs' per-user values,
    shape (runs, users), users in the same order for both; without them the test is over seeds only.
    """
    a, b = np.asarray(leader, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"compare needs at least 2 runs of each configuration (got {a.size} and {b.size})")
    sign = 1.0 if maximize else -1.0
    if leader_users is not None and other_users is not None:
        return _seeds_and_users(np.asarray(leader_users, np.float64), np.asarray(other_users, np.float64), sign)
    return _seeds_only(a, b, sign)


def _seeds_only(a: np.ndarray, b: np.ndarray, sign: float) -> Difference:
    from scipy import stats

    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = sign * float(a.mean() - b.mean())
    if va + vb == 0.0:
        return _degenerate(diff, SEEDS_ONLY)
    result = stats.ttest_ind(a, b, equal_var=False)
    return Difference(diff, math.sqrt(va + vb), float(result.df), float(result.pvalue), SEEDS_ONLY)


def _seeds_and_users(xa: np.ndarray, xb: np.ndarray, sign: float) -> Difference:
    from scipy import stats

    if xa.ndim != 2 or xb.ndim != 2 or xa.shape[1] != xb.shape[1] or xa.shape[1] < 2:
        raise ValueError(f"per-user values must be (runs, users) with the same users: got {xa.shape} and {xb.shape}")
    users = xa.shape[1]
    paired = xa.mean(axis=0) - xb.mean(axis=0)  # seed-averaged difference per user
    diff = sign * float(paired.mean())
    # Welch's seed part: the spread of each configuration's run means (a run's users included)
    seeds = [(float(x.mean(axis=1).var(ddof=1)) / x.shape[0], x.shape[0] - 1) for x in (xa, xb)]
    # the users' part: the paired differences' variance less what the seeds' per-user noise put into it
    seed_noise = sum(_per_user_seed_noise(x) / x.shape[0] for x in (xa, xb))
    users_part = max(0.0, (float(paired.var(ddof=1)) - seed_noise) / users)
    parts = seeds + [(users_part, users - 1)]
    variance = sum(v for v, _ in parts)
    if variance == 0.0:
        return _degenerate(diff, SEEDS_AND_USERS)
    df = variance**2 / sum(v**2 / d for v, d in parts if v > 0)  # Welch-Satterthwaite
    p_value = float(2 * stats.t.sf(abs(diff) / math.sqrt(variance), df))
    return Difference(diff, math.sqrt(variance), float(df), p_value, SEEDS_AND_USERS)


def _per_user_seed_noise(x: np.ndarray) -> float:
    """The variance a user's value gets from the seed beyond the shift every user of a run shares
    (ANOVA's moment estimate): each user's variance across runs is ``shift + noise``, the run means'
    ``shift + noise / U``."""
    users = x.shape[1]
    within = float(x.var(axis=0, ddof=1).mean())
    between = float(x.mean(axis=1).var(ddof=1))
    return max(0.0, (within - between) * users / (users - 1))


def _degenerate(diff: float, method: str) -> Difference:
    """No variance at all: equal means are tied (p = 1), different ones are told apart (p = 0)."""
    return Difference(diff, 0.0, math.inf, 1.0 if diff == 0.0 else 0.0, method)
