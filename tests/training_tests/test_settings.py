"""Parameter names, precedence and type checks of a run's settings."""

from __future__ import annotations

import pytest

from tuner.config import DATA_DEFAULTS, TRAIN_DEFAULTS
from tuner.errors import ConfigError
from tuner.models.registry import model_defaults
from tuner.training import TrainerConfig, known_params, resolve


def test_known_params_are_data_trainer_and_model_names_with_defaults():
    known = known_params("Caser")
    assert set(DATA_DEFAULTS) <= set(known) and set(TRAIN_DEFAULTS) <= set(known)
    assert known["nh"] == model_defaults("Caser")["nh"] == 8
    assert known["learning_rate"] == 0.001 and known["train_batch_size"] == 2048 and known["stopping_step"] == 10
    assert "hidden_size" in known_params("GRU4RecF") and "hidden_size" not in known


def test_command_line_beats_the_file_which_beats_the_defaults(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("learning_rate: 1e-2\nepochs: 5\nn_h: 4\n")
    settings = resolve("Caser", path, {"epochs": 7})
    assert settings["learning_rate"] == 0.01 and isinstance(settings["learning_rate"], float)
    assert settings["epochs"] == 7
    assert settings["nh"] == 4  # RecBole's alias n_h
    assert settings["nv"] == 4 and settings["stopping_step"] == 10


def test_an_unknown_name_names_its_source_and_the_closest_valid_name(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("learning_rat: 0.01\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: unknown parameter 'learning_rat' \(did you mean 'learning_rate'\?\)"):
        resolve("Caser", path)
    with pytest.raises(ConfigError, match=r"--set: unknown parameter 'stoping_step' \(did you mean 'stopping_step'\?\)"):
        resolve("Caser", overrides={"stoping_step": 3})
    with pytest.raises(ConfigError, match="unknown parameter 'hidden_size'"):
        resolve("Caser", overrides={"hidden_size": 3})  # a GRU4RecF name is not Caser's


def test_bad_trainer_values_fail_at_resolve_time():
    with pytest.raises(ConfigError, match="learning_rate: expected a positive number, got -0.1"):
        resolve("Caser", overrides={"learning_rate": -0.1})
    with pytest.raises(ConfigError, match="train_batch_size: expected an integer >= 1"):
        resolve("GRU4RecF", overrides={"train_batch_size": "big"})
    with pytest.raises(ConfigError, match="valid_metric"):
        resolve("Caser", overrides={"valid_metric": "NDCG"})


def test_recbole_files_may_say_no_negative_sampling_for_ce_but_not_sample_with_it():
    assert resolve("Caser", overrides={"train_neg_sample_args": None})["train_neg_sample_args"] is None
    with pytest.raises(ConfigError, match="must be ~ .None. when loss_type is CE"):
        resolve("Caser", overrides={"train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}})
    bpr = {"loss_type": "BPR", "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}}
    assert resolve("Caser", overrides=bpr)["loss_type"] == "BPR"
    with pytest.raises(ConfigError, match="only ~ or"):
        resolve("Caser", overrides={**bpr, "train_neg_sample_args": {"distribution": "popularity", "sample_num": 1}})


def test_an_unknown_model_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown model 'SASRec'"):
        resolve("SASRec")


def test_trainer_config_reads_recbole_spellings():
    config = TrainerConfig.from_settings({**TRAIN_DEFAULTS, "topk": 5, "metrics": "NDCG", "valid_metric": "MRR@10"})
    assert config.topk == (5,) and config.metrics == ("ndcg",) and config.valid_metric == "mrr@10"
    # the validation metric is computed even when not listed in metrics/topk
    assert config.report_metrics() == (("ndcg", "mrr"), (5, 10))
