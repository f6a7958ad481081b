"""Our pipeline against what RecBole 1.2.1 itself built (fixtures recorded by recbole_expectations.py)."""

from __future__ import annotations

import json

import pytest
import torch

from data_folders import FIXTURES, ML100K
from data_expectations import build_record, digest, our_options
from data_folders import write_ml100k_with_repeats
from tuner.data import load_dataset, with_item_fields

EXPECTED = json.loads((FIXTURES / "recbole-data-options.json").read_text())


def test_ml100k_valid_and_test_reproduce_recboles_1886_rows_exactly():
    reference = json.loads((FIXTURES / "recbole-ml100k-loo-split.json").read_text())
    dataset = load_dataset("ml-100k")
    for part in ("valid", "test"):
        split = getattr(dataset, part)
        ours = {
            dataset.user_tokens[u]: ([dataset.item_tokens[i] for i in seq[:n]], dataset.item_tokens[t])
            for u, seq, n, t in zip(split.user.tolist(), split.item_seq.tolist(), split.item_len.tolist(), split.target.tolist())
        }
        assert len(ours) == len(reference[part]) == 943
        mismatched = [user for user, history, target in reference[part] if ours[user] != (history, target)]
        assert mismatched == [], f"{part}: {len(mismatched)} users differ from RecBole, e.g. {mismatched[:5]}"


def test_default_load_col_is_recboles_for_ml100k_the_interactions_only():
    dataset = load_dataset("ml-100k")
    assert dataset.item_features == {}
    explicit = load_dataset("ml-100k", {"load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]}})
    assert dataset.item_tokens == explicit.item_tokens and dataset.train.item_seq.equal(explicit.train.item_seq)


def test_ml100k_counts_are_recboles():
    assert load_dataset("ml-100k").stats() == {
        "n_users": 943,
        "n_items": 1682,
        "n_interactions": 100000,
        "n_train": 97171,
        "n_valid": 943,
        "n_test": 943,
    }


def test_ml100k_ids_and_genre_feature_are_numbered_as_recbole_numbers_them():
    recbole = torch.load(FIXTURES / "recbole-gru4recf-ml100k.pt", weights_only=True)  # RecBole's id -> token tables
    dataset = load_dataset("ml-100k", {"load_col": with_item_fields(None, ["class"])})  # as GRU4RecF loads it
    assert dataset.item_tokens == recbole["item_tokens"]
    assert dataset.user_tokens == recbole["user_tokens"]
    assert dataset.feature_tokens["class"] == recbole["class_tokens"]
    assert dataset.feature_sizes["class"] == 20
    assert torch.equal(dataset.item_features["class"], recbole["item_class"])
    assert dataset.item_features["class"].dtype == torch.long


def test_examples_are_left_aligned_zero_padded_and_cut_to_the_last_L_items():
    dataset = load_dataset("ml-100k", {"MAX_ITEM_LIST_LENGTH": 10})
    train = dataset.train
    assert train.item_seq.shape == (97171, 10) and train.item_seq.dtype == torch.long
    positions = torch.arange(10)[None, :]
    assert (train.item_len >= 1).all() and (train.item_len <= 10).all()
    assert (train.item_seq[positions < train.item_len[:, None]] > 0).all()
    assert (train.item_seq[positions >= train.item_len[:, None]] == 0).all()
    assert (train.item_len == 10).sum() > 0 and (train.item_len < 10).sum() > 0


@pytest.mark.parametrize("case", sorted(EXPECTED["tiny"]))
def test_each_option_on_a_hand_made_folder_matches_recbole_in_full(tiny, case):
    expected = EXPECTED["tiny"][case]
    dataset = load_dataset(str(tiny), our_options(expected["options"]))
    stats, splits, features = build_record(dataset)
    assert stats == expected["stats"]
    assert dataset.user_tokens == expected["user_tokens"]
    assert dataset.item_tokens == expected["item_tokens"]
    assert splits == expected["splits"]
    assert features == expected["features"]


@pytest.mark.parametrize("case", sorted(EXPECTED["ml-100k"]))
def test_each_option_on_ml100k_matches_recbole(case):
    expected = EXPECTED["ml-100k"][case]
    dataset = load_dataset("ml-100k", our_options(expected["options"]))
    stats, splits, features = build_record(dataset)
    assert stats == expected["stats"]
    assert digest(dataset.user_tokens, dataset.item_tokens, splits, features) == expected["digests"]


@pytest.mark.parametrize("case", sorted(EXPECTED["ml100dup"]))
def test_rm_dup_inter_matches_recbole_on_ml100k_with_repeated_ratings(tmp_path, case):
    expected = EXPECTED["ml100dup"][case]
    folder = write_ml100k_with_repeats(ML100K, tmp_path / "ml100dup")
    dataset = load_dataset(str(folder), our_options(expected["options"]))
    stats, splits, features = build_record(dataset)
    assert stats == expected["stats"]
    assert digest(dataset.user_tokens, dataset.item_tokens, splits, features) == expected["digests"]
