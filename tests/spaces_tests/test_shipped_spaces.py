"""The spaces shipped in search_spaces/: the seeds' ranges, and a continuous space per model."""

import pytest
from space_helpers import SHIPPED, same

from tuner.spaces import parse_file

SEED_LEARNING_RATES = [0.01, 0.005, 0.001, 0.0005, 0.0001]


def test_caser_grid_is_the_seed_ranges():
    space = parse_file(SHIPPED / "caser.hyper")
    assert space.names == ("learning_rate", "reg_weight", "dropout_prob")
    assert same(list(space["learning_rate"].values), SEED_LEARNING_RATES)
    assert same(list(space["reg_weight"].values), [0, 1e-4, 1e-5])
    assert same(list(space["dropout_prob"].values), [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert space.grid_size == 90 == len(list(space.grid()))


def test_gru4recf_grid_is_the_seed_ranges():
    space = parse_file(SHIPPED / "gru4recf.hyper")
    assert space.names == ("learning_rate", "num_layers")
    assert same(list(space["learning_rate"].values), SEED_LEARNING_RATES)
    assert same(list(space["num_layers"].values), [1, 2])
    assert space.grid_size == 10


@pytest.mark.parametrize("name", ["caser-continuous.hyper", "gru4recf-continuous.hyper"])
def test_continuous_spaces_use_loguniform_and_uniform(name):
    space = parse_file(SHIPPED / name)
    types = {p.hyper_type for p in space.params}
    assert {"loguniform", "uniform"} <= types and space.grid_size is None
    lr = space["learning_rate"]
    assert lr.log and lr.low == pytest.approx(1e-4, rel=1e-6) and lr.high == pytest.approx(1e-2, rel=1e-6)
    assert (space["dropout_prob"].low, space["dropout_prob"].high) == (0.0, 0.5)


def test_every_shipped_space_parses():
    files = sorted(SHIPPED.glob("*.hyper"))
    assert len(files) >= 4
    for path in files:
        assert parse_file(path).params
