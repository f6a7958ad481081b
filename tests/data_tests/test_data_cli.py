"""``tuner data``: the statistics after preprocessing, as text or one JSON object."""

from __future__ import annotations

import json

from tuner.cli import main


def test_json_prints_exactly_the_six_figures(capsys):
    assert main(["data", "synthetic-tiny", "--json"]) == 0
    out = capsys.readouterr().out
    stats = json.loads(out)
    assert list(stats) == ["n_users", "n_items", "n_interactions", "n_train", "n_valid", "n_test"]
    assert all(type(v) is int for v in stats.values())
    assert stats["n_users"] == 60 and stats["n_valid"] == 60
    assert out.count("\n") == 1


def test_set_values_are_read_as_yaml_and_applied(capsys):
    assert main(["data", "ml-100k", "--json", "--set", 'val_interval={rating: "[3,inf)"}']) == 0
    assert json.loads(capsys.readouterr().out) == {
        "n_users": 943, "n_items": 1574, "n_interactions": 82520, "n_train": 79691, "n_valid": 943, "n_test": 943,
    }
    assert main(["data", "ml-100k", "--json", "--set", "user_inter_num_interval=[5,inf)", "--set", "item_inter_num_interval=[5,inf)"]) == 0
    assert json.loads(capsys.readouterr().out)["n_items"] == 1349


def test_unknown_key_is_a_config_error_with_a_suggestion(capsys):
    assert main(["data", "synthetic-tiny", "--set", "max_item_list_length=5"]) == 2
    err = capsys.readouterr().err
    assert "--set: unknown parameter 'max_item_list_length' (did you mean 'MAX_ITEM_LIST_LENGTH'?)" in err


def test_text_output_and_a_data_error(capsys, atomic):
    assert main(["data", "ml-100k"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ml-100k\n") and "interactions" in out and "100,000" in out and "item feature" not in out
    assert main(["data", "ml-100k", "--set", "load_col={inter: null, item: [item_id, class]}"]) == 0
    assert "item feature class: 19 tokens, up to 6 per item" in capsys.readouterr().out
    folder = atomic({"inter": "user_id:token\titem_id:token\ttimestamp:float\n1\t2\tnoon\n"})
    assert main(["data", str(folder)]) == 2
    assert "toy.inter:2: column 'timestamp': expected a number, got 'noon'" in capsys.readouterr().err
