"""Per-user ranks (tuner.per_user) on the three storages: what is saved is read back, exactly and compactly."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from tuner import per_user


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def engine(request):
    url = request.getfixturevalue({"sqlite": "sqlite_url", "postgres": "postgres_url", "mysql": "mysql_url"}[request.param])
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def test_ranks_round_trip_on_every_storage(engine):
    rng = np.random.default_rng(0)
    many = rng.integers(0, 51, size=100_000)  # 100k users: beyond MySQL's 64 KiB BLOB before compression
    wide = np.array([0, 1, 300, 65535])  # max(topk) above 255 needs uint16
    per_user.ensure_table(engine)
    per_user.ensure_table(engine)  # a second worker creating it again is fine
    per_user.save_ranks(engine, 7, {"valid": many, "test": many[::-1]})
    per_user.save_ranks(engine, 8, {"valid": wide})
    per_user.save_ranks(engine, 8, {"valid": wide[::-1], "test": wide})  # a retried write replaces the first
    loaded = per_user.load_ranks(engine, [7, 8, 9])
    assert set(loaded) == {7, 8} and set(loaded[8]) == {"valid", "test"}
    np.testing.assert_array_equal(loaded[7]["valid"], many)
    np.testing.assert_array_equal(loaded[7]["test"], many[::-1])
    np.testing.assert_array_equal(loaded[8]["valid"], wide[::-1])
    assert loaded[7]["valid"].dtype == np.uint8 and loaded[8]["test"].dtype == np.uint16
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.length(per_user.ranks_table.c.ranks))
                              .where(per_user.ranks_table.c.trial_id == 7)).scalars().all()
    assert max(stored) < 100_000  # compressed below one byte per user


def test_load_without_the_table_or_trials_is_empty(sqlite_url):
    engine = sa.create_engine(sqlite_url)
    assert per_user.load_ranks(engine, [1, 2]) == {}
    per_user.ensure_table(engine)
    assert per_user.load_ranks(engine, []) == {}


def test_bad_ranks_are_refused_with_the_split_named(sqlite_url):
    engine = sa.create_engine(sqlite_url)
    per_user.ensure_table(engine)
    with pytest.raises(ValueError, match=r"split 'train'"):
        per_user.save_ranks(engine, 1, {"train": np.zeros(3, dtype=int)})
    with pytest.raises(ValueError, match=r"\(valid\): expected ranks in 0..65535, got -1..2"):
        per_user.save_ranks(engine, 1, {"valid": np.array([-1, 2])})
    with pytest.raises(ValueError, match=r"\(test\): expected one rank per user"):
        per_user.save_ranks(engine, 1, {"test": np.zeros((2, 2), dtype=int)})
    assert per_user.load_ranks(engine, [1]) == {}


def test_per_user_values_follow_the_metric_definitions():
    ranks = np.array([0, 1, 2, 10, 11], dtype=np.uint8)
    np.testing.assert_allclose(per_user.per_user_values(ranks, "ndcg@10"), [0, 1, 1 / np.log2(3), 1 / np.log2(11), 0])
    np.testing.assert_allclose(per_user.per_user_values(ranks, "MRR@10"), [0, 1, 0.5, 0.1, 0])
    np.testing.assert_array_equal(per_user.per_user_values(ranks, "hit@2"), [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(per_user.per_user_values(ranks, "recall@10"), [0, 1, 1, 1, 0])
    np.testing.assert_allclose(per_user.per_user_values(ranks, "precision@5"), [0, 0.2, 0.2, 0, 0])
    assert per_user.per_user_values(ranks, "ndcg@10").dtype == np.float64
    with pytest.raises(ValueError, match=r"'auc@10': expected METRIC@K"):
        per_user.per_user_values(ranks, "auc@10")


def test_per_user_means_equal_the_trainers_metrics():
    """The trainer's mean metrics are the means of these per-user values (same formulas)."""
    import torch

    from tuner.training.metrics import mean_metrics, metric_sums

    ranks = np.random.default_rng(1).integers(0, 21, size=500)
    means = mean_metrics(metric_sums(torch.from_numpy(ranks), ["ndcg", "mrr", "precision", "recall"], [5, 20]), len(ranks))
    for key, value in means.items():
        assert per_user.per_user_values(ranks, key).mean() == pytest.approx(value, rel=1e-12)
