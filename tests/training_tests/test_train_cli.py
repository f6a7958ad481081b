"""``tuner train``, in-process on a tiny synthetic dataset."""

from __future__ import annotations

import json

import pytest
import torch

from tuner.cli import main

TINY = ["--dataset", "synthetic-tiny", "--set", "MAX_ITEM_LIST_LENGTH=5", "--set", "epochs=2"]
KEYS = {"ndcg@10", "recall@10", "mrr@10", "hit@10", "precision@10"}


@pytest.mark.parametrize("model", ["Caser", "GRU4RecF"])
def test_json_is_exactly_one_object_and_progress_goes_to_stderr(model, capsys):
    assert main(["train", "--model", model, *TINY, "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)  # the whole of stdout is one JSON document
    assert set(summary) == {"valid", "test", "train_loss", "best_epoch", "epochs", "seconds"}
    assert summary["train_loss"] > 0
    assert set(summary["valid"]) == KEYS and set(summary["test"]) == KEYS
    assert summary["epochs"] == 2 and summary["best_epoch"] in (1, 2) and summary["seconds"] > 0
    assert all(0.0 <= v <= 1.0 for v in summary["test"].values())
    lines = err.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [["epoch", "1"], ["epoch", "2"]]
    assert "ndcg@10" in lines[0] and "loss" in lines[0] and "best" in lines[1]


def test_plain_output_is_a_table_of_valid_and_test_metrics(capsys):
    assert main(["train", "--model", "Caser", *TINY]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("best epoch ") and "of 2" in out[0]
    assert out[1].split() == ["metric", "valid", "test"]
    assert sorted(line.split()[0] for line in out[2:]) == sorted(KEYS)


def test_set_beats_the_config_file(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("epochs: 5\nstopping_step: 0\nMAX_ITEM_LIST_LENGTH: 5\n")
    args = ["train", "--model", "Caser", "--dataset", "synthetic-tiny", "--config", str(config)]
    assert main([*args, "--set", "epochs=1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 1


def test_the_dataset_can_come_from_the_config_file(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("dataset: synthetic-tiny\nepochs: 1\n")
    assert main(["train", "--model", "GRU4RecF", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 1


def test_an_unknown_parameter_is_refused_with_a_suggestion(capsys):
    assert main(["train", "--model", "Caser", *TINY, "--set", "learning_rat=0.1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "unknown parameter 'learning_rat' (did you mean 'learning_rate'?)" in err


def test_a_bad_value_and_a_missing_dataset_are_clear_errors(capsys):
    assert main(["train", "--model", "Caser", *TINY, "--set", "learning_rate=-1"]) == 2
    assert "learning_rate: expected a positive number, got -1" in capsys.readouterr().err
    assert main(["train", "--model", "Caser", "--set", "epochs=1"]) == 2
    assert "no dataset" in capsys.readouterr().err
    assert main(["train", "--model", "SASRec", *TINY]) == 2
    assert "unknown model 'SASRec'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_asking_for_a_gpu_on_a_machine_without_one(capsys):
    assert main(["train", "--model", "Caser", *TINY, "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
