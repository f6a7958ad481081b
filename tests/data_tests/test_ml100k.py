"""ml-100k through the whole pipeline against RecBole 1.2.1's own output."""

import json
from pathlib import Path

import pytest

from tuner.cli import main
from tuner.data import load_dataset, with_item_fields

FIXTURE = Path(__file__).parents[1] / "fixtures" / "recbole-ml100k-loo-split.json"


@pytest.fixture(scope="module")
def ml100k():
    return load_dataset("ml-100k", {"load_col": with_item_fields(None, ["class"])})


def test_counts_match_recbole(ml100k):
    assert ml100k.stats() == {
        "n_users": 943, "n_items": 1682, "n_interactions": 100000,
        "n_train": 97171, "n_valid": 943, "n_test": 943,
    }


def _rows(dataset, split):
    out = {}
    for u, seq, n, t in zip(split.user.tolist(), split.item_seq.tolist(), split.item_len.tolist(), split.target.tolist()):
        assert all(i == 0 for i in seq[n:]), "sequences are left-aligned and zero-padded"
        out[dataset.user_tokens[u]] = [[dataset.item_tokens[i] for i in seq[:n]], dataset.item_tokens[t]]
    return out


@pytest.mark.parametrize("part", ["valid", "test"])
def test_every_valid_and_test_example_is_recboles(ml100k, part):
    reference = json.loads(FIXTURE.read_text())
    assert reference["MAX_ITEM_LIST_LENGTH"] == 50
    mine = _rows(ml100k, getattr(ml100k, part))
    assert len(reference[part]) == len(mine) == 943
    wrong = [user for user, history, target in reference[part] if mine[user] != [history, target]]
    assert wrong == []


def test_ids_follow_first_appearance_in_the_interaction_file(ml100k):
    # RecBole numbers tokens in order of first appearance; the first rows of ml-100k.inter are 196/242, 186/302
    assert ml100k.user_tokens[:3] == ["[PAD]", "196", "186"]
    assert ml100k.item_tokens[:3] == ["[PAD]", "242", "302"]
    genres = ml100k.item_features["class"]
    toy_story = ml100k.item_tokens.index("1")
    # genre ids by first appearance in the item file: Toy Story is 'Animation Children's Comedy' -> 1, 2, 3
    assert genres[toy_story].tolist()[:3] == [1, 2, 3]
    assert ml100k.feature_sizes["class"] == 20  # 19 genres + padding


def test_data_command_prints_the_statistics_as_json(capsys):
    assert main(["data", "ml-100k", "--set", "MAX_ITEM_LIST_LENGTH=20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "n_users": 943, "n_items": 1682, "n_interactions": 100000,
        "n_train": 97171, "n_valid": 943, "n_test": 943,
    }


# What RecBole 1.2.1 itself reports for these options (create_dataset + build on ml-100k, default load_col).
RECBOLE_STATS = [
    (['val_interval={rating: "[3,inf)"}'], (943, 1574, 82520, 79691, 943, 943)),
    (["user_inter_num_interval=[5,inf)", "item_inter_num_interval=[5,inf)"], (943, 1349, 99287, 96458, 943, 943)),
    (['val_interval={rating: "[3,inf)"}', "user_inter_num_interval=[10,inf)", "item_inter_num_interval=[10,inf)",
      "MAX_ITEM_LIST_LENGTH=20"], (939, 1016, 80393, 77576, 939, 939)),
    (["rm_dup_inter=first"], (943, 1682, 100000, 97171, 943, 943)),
]


@pytest.mark.parametrize("settings, expected", RECBOLE_STATS)
def test_preprocessing_options_give_recboles_statistics(capsys, settings, expected):
    argv = ["data", "ml-100k", "--json"]
    for item in settings:
        argv += ["--set", item]
    assert main(argv) == 0
    stats = json.loads(capsys.readouterr().out)
    keys = ("n_users", "n_items", "n_interactions", "n_train", "n_valid", "n_test")
    assert tuple(stats[k] for k in keys) == expected


def test_unknown_option_is_an_error_with_a_suggestion(capsys):
    assert main(["data", "ml-100k", "--set", "MAX_ITEM_LIST_LENGHT=20"]) == 2
    assert "did you mean 'MAX_ITEM_LIST_LENGTH'" in capsys.readouterr().err
