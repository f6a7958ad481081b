"""``tuner space FILE [--model M] [--json]``, run in-process."""

import json

import pytest
from space_helpers import FIXTURES, SHIPPED

from tuner.cli import main


def test_json_is_exactly_one_object_with_params_and_grid_size(capsys):
    assert main(["space", str(SHIPPED / "caser.hyper"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert json.loads(out) == {
        "params": {
            "learning_rate": {"kind": "choice", "values": [0.01, 0.005, 0.001, 0.0005, 0.0001]},
            "reg_weight": {"kind": "choice", "values": [0, 0.0001, 1e-05]},
            "dropout_prob": {"kind": "choice", "values": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]},
        },
        "grid_size": 90,
    }


def test_json_of_recboles_example(capsys):
    assert main(["space", str(FIXTURES / "recbole-example.hyper"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["grid_size"] is None
    assert printed["params"]["learning_rate"] == {
        "kind": "float", "low": 0.00033546262790251185, "high": 1.0, "log": True, "step": None
    }
    assert printed["params"]["mlp_hidden_size"]["values"] == ["[64,64,64]", "[128,128]"]


def test_listing_shows_each_range_and_the_grid_size(capsys):
    assert main(["space", str(FIXTURES / "recbole-example.hyper")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("recbole-example.hyper: 4 parameters, no grid (not every parameter is a choice)")
    assert "learning_rate" in out[1] and "float log [0.000335463, 1]" in out[1] and "loguniform -8,0" in out[1]
    assert "choice ['[64,64,64]', '[128,128]']" in out[4]
    assert main(["space", str(SHIPPED / "gru4recf.hyper")]) == 0
    assert "2 parameters, a grid of 10 points" in capsys.readouterr().out


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_a_bad_file_exits_2_with_file_line_message_on_stderr_only(tmp_path, capsys, extra):
    path = tmp_path / "bad.hyper"
    path.write_text("learning_rate choice [0.01]\ndropout_prob uniform 0.5,0.1\n")
    assert main(["space", str(path), *extra]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{path}:2: uniform LOW must be below HIGH" in err


def test_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["space", str(tmp_path / "nope.hyper")]) == 2
    assert "nope.hyper: cannot read search-space file" in capsys.readouterr().err


def test_model_names_are_checked_against_the_model_and_the_trainer(tmp_path, capsys):
    pytest.importorskip("tuner.training.settings")
    for model, name in [("Caser", "caser"), ("GRU4RecF", "gru4recf")]:
        for path in (SHIPPED / f"{name}.hyper", SHIPPED / f"{name}-continuous.hyper"):
            assert main(["space", str(path), "--model", model, "--json"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    aliased = tmp_path / "aliased.hyper"
    aliased.write_text("n_h choice [4,8]\nnv choice [2,4]\n")
    assert main(["space", str(aliased), "--model", "Caser"]) == 0
    typo = tmp_path / "typo.hyper"
    typo.write_text("learning_rate choice [0.01]\ndropout_rate uniform 0,0.5\n")
    capsys.readouterr()
    assert main(["space", str(typo), "--model", "Caser"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"{typo}:2: unknown parameter 'dropout_rate'" in err and "did you mean 'dropout_prob'?" in err
    assert main(["space", str(SHIPPED / "gru4recf.hyper"), "--model", "Caser"]) == 2  # num_layers is not Caser's


def test_the_listing_in_the_docs_is_what_the_command_prints(capsys, monkeypatch):
    root = SHIPPED.parent
    docs = (root / "docs" / "search-spaces.md").read_text()
    shown = docs.split("$ tuner space search_spaces/caser.hyper\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(root)
    assert main(["space", "search_spaces/caser.hyper"]) == 0
    assert capsys.readouterr().out == shown
