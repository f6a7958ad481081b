"""The statistics as evidence: intervals as scipy computes them, an A/A check (one configuration under two
labels is called indistinguishable in at least 95% of repetitions), an A/B check (a clearly worse one is
detected), and why users must be counted as well as seeds. Simulated per-user ranks, seconds in all."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tuner.per_user import per_user_values
from tuner.report.confidence import SEEDS_AND_USERS, SEEDS_ONLY, compare, seed_interval
from tuner.report.synthetic import simulated_ranks, simulated_rejection_rate


def rejections(**kw) -> float:
    return simulated_rejection_rate(repetitions=400, **kw)


def ndcg(rng, logits, runs, **kw) -> np.ndarray:
    return per_user_values(simulated_ranks(rng, logits, runs, **kw).ravel(), "ndcg@10").reshape(runs, -1)


def test_seed_interval_is_the_t_interval():
    interval = seed_interval([0.050, 0.054, 0.046, 0.052])
    low, high = stats.t.interval(0.95, 3, loc=0.0505, scale=stats.sem([0.050, 0.054, 0.046, 0.052]))
    assert (interval.n, interval.mean) == (4, pytest.approx(0.0505))
    assert interval.ci95 == [pytest.approx(low), pytest.approx(high)]
    assert high - low == pytest.approx(2 * 3.182446 * 0.0017078, rel=1e-4)  # t(0.975, 3) x sem


def test_one_run_has_no_interval_and_equal_runs_a_point():
    assert seed_interval([0.05]).ci95 is None
    assert seed_interval([0.05, 0.05]).ci95 == [0.05, 0.05]
    with pytest.raises(ValueError, match="at least 2 runs"):
        compare([0.05], [0.04, 0.05])


@pytest.mark.parametrize("kw", [{}, {"runs": 3}, {"shift_sd": 0.2}, {"shift_sd": 0.0}],
                         ids=["5-seeds", "3-seeds", "large-seed-shift", "no-seed-shift"])
def test_a_a_one_configuration_under_two_labels_is_indistinguishable(kw):
    assert rejections(**kw) <= 0.05


def test_a_a_over_seeds_only_too():
    assert rejections(with_users=False) <= 0.05


def test_a_b_a_clearly_worse_configuration_is_detected():
    # offset -0.5 on the logit: ndcg@10 about 0.046 against 0.057, a gap of 2 seed spreads
    assert rejections(offset_b=-0.5) >= 0.95


def test_users_sampling_is_counted_where_seeds_alone_would_overclaim():
    # Equally good over the population, different per user, seeds nearly noiseless: comparing seeds only
    # calls them different far more often than 5%; counting the users keeps it at 5%.
    assert rejections(interaction=1.0, shift_sd=0.0, with_users=False) > 0.10
    assert rejections(interaction=1.0, shift_sd=0.0) <= 0.05


def test_the_method_and_direction_are_reported():
    rng = np.random.default_rng(1)
    logits = rng.normal(-2.3, 1.0, 500)
    good, bad = ndcg(rng, logits, 4), ndcg(rng, logits, 4, offset=-1.0)
    with_users = compare(good.mean(axis=1), bad.mean(axis=1), good, bad)
    assert with_users.method == SEEDS_AND_USERS and with_users.difference > 0 and with_users.p_value < 0.05
    seeds = compare(good.mean(axis=1), bad.mean(axis=1))
    assert seeds.method == SEEDS_ONLY and seeds.difference == pytest.approx(with_users.difference)
    assert seeds.p_value == pytest.approx(stats.ttest_ind(good.mean(axis=1), bad.mean(axis=1), equal_var=False).pvalue)
    lower_is_better = compare(good.mean(axis=1), bad.mean(axis=1), maximize=False)
    assert lower_is_better.difference == pytest.approx(-seeds.difference)
