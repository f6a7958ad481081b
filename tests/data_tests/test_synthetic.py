"""Generated datasets: deterministic, through the real pipeline, with a pattern a sequential model can learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tuner.data import load_dataset, with_item_fields
from tuner.data.synthetic import generate, parse_spec
from tuner.errors import ConfigError


def test_same_spec_same_data_other_seed_other_data():
    first = load_dataset("synthetic:users=60,items=30,length=12,seed=4")
    tables = generate(parse_spec("synthetic:users=60,items=30,length=12,seed=4"))
    again = generate(parse_spec("synthetic:users=60,items=30,length=12,seed=4"))
    assert tables.inter.frame.equals(again.inter.frame) and tables.item.frame.equals(again.item.frame)
    other = load_dataset("synthetic:users=60,items=30,length=12,seed=5")
    assert not torch.equal(first.train.target[:50], other.train.target[:50])
    assert first.name == "synthetic:users=60,items=30,length=12,noise=0.2,seed=4"


def test_presets_and_overrides():
    tiny = load_dataset("synthetic-tiny")
    stats = tiny.stats()
    assert stats["n_users"] == 60 and stats["n_items"] == 40
    assert stats["n_valid"] == stats["n_test"] == 60  # every user has at least 3 interactions
    assert stats["n_train"] == stats["n_interactions"] - 3 * 60
    assert load_dataset("synthetic-small").stats()["n_users"] == 500
    assert load_dataset("synthetic-tiny:seed=1").stats()["n_users"] == 60
    assert tiny.item_features == {}  # as for files, the .item table only when load_col asks for it
    featured = load_dataset("synthetic-tiny", {"load_col": with_item_fields(None, ["class"])})
    assert featured.item_features["class"].shape[0] == featured.n_item_ids and featured.feature_sizes["class"] > 2


def test_goes_through_the_preprocessing_options():
    full = load_dataset("synthetic-tiny")
    high = load_dataset("synthetic-tiny", {"val_interval": {"rating": "[4,inf)"}})
    assert high.n_interactions < full.n_interactions * 0.6
    cored = load_dataset("synthetic-tiny", {"item_inter_num_interval": "[20,inf)"})
    assert cored.n_item_ids < full.n_item_ids


@pytest.mark.parametrize(
    "name, message",
    [
        ("synthetic:users=0", "users >= 1"),
        ("synthetic:user=10", "did you mean 'users'"),
        ("synthetic:users=ten", "users expects an integer"),
        ("synthetic-tiny:noise=2", "0 <= noise <= 1"),
        ("synthetic:seed", "expected KEY=VALUE"),
    ],
)
def test_bad_specs_say_what_is_expected(name, message):
    with pytest.raises(ConfigError, match=message):
        load_dataset(name)


def hit_at_10(scores: np.ndarray, targets: np.ndarray) -> float:
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    return float((top == targets[:, None]).any(axis=1).mean())


def test_the_planted_pattern_is_learnable_far_beyond_popularity():
    """A first-order transition count fitted on train beats popularity on test by a wide margin."""
    data = load_dataset("synthetic-small")
    n = data.n_item_ids
    train, test = data.train, data.test
    last = train.item_seq[torch.arange(len(train)), train.item_len - 1].numpy()
    transitions = np.zeros((n, n))
    np.add.at(transitions, (last, train.target.numpy()), 1)
    popularity = np.bincount(train.target.numpy(), minlength=n).astype(float)
    test_last = test.item_seq[torch.arange(len(test)), test.item_len - 1].numpy()
    targets = test.target.numpy()
    markov = hit_at_10(transitions[test_last] + 1e-6 * popularity, targets)
    popular = hit_at_10(np.tile(popularity, (len(test), 1)), targets)
    assert markov > 0.7
    assert markov > 3 * popular
