"""``tuner.training.train``: settings to metrics, with the real data loader and models."""

from __future__ import annotations

import gc

import pytest
import torch

from tuner.data import load_dataset
from tuner.errors import ConfigError
from tuner.training import RunResult, train

QUICK = {"MAX_ITEM_LIST_LENGTH": 5, "epochs": 2}


def test_train_loads_the_named_dataset_and_returns_a_run_result():
    result = train("Caser", QUICK, dataset="synthetic-tiny")
    assert isinstance(result, RunResult) and result.epochs == 2
    assert "ndcg@10" in result.valid and "ndcg@10" in result.test


def test_gru4recf_gets_its_item_features_loaded():
    calls = []
    result = train("GRU4RecF", {**QUICK, "dataset": "synthetic-tiny"}, on_epoch=lambda e, v: calls.append(e))
    assert calls == [1, 2] and result.best_epoch in (1, 2)


def test_learning_beats_the_untrained_model_on_the_planted_pattern():
    fast = {**QUICK, "train_batch_size": 64, "learning_rate": 0.01}
    trained = train("Caser", {**fast, "epochs": 8}, dataset="synthetic-tiny")
    untrained = train("Caser", {**fast, "epochs": 1, "learning_rate": 1e-9}, dataset="synthetic-tiny")
    assert trained.test["ndcg@10"] > untrained.test["ndcg@10"] + 0.1


def test_a_given_dataset_must_match_the_sequence_length():
    data = load_dataset("synthetic-tiny", {"MAX_ITEM_LIST_LENGTH": 7})
    with pytest.raises(ConfigError, match="MAX_ITEM_LIST_LENGTH is 5 but the given dataset"):
        train("Caser", QUICK, dataset=data)


def test_threads_set_torchs_cpu_threads():
    before = torch.get_num_threads()
    try:
        train("Caser", {**QUICK, "epochs": 1}, dataset="synthetic-tiny", threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_many_calls_in_one_process_leave_no_tensors_behind():
    counts = []
    for seed in range(4):
        train(("Caser", "GRU4RecF")[seed % 2], {**QUICK, "seed": seed}, dataset="synthetic-tiny")
        gc.collect()
        counts.append(sum(1 for o in gc.get_objects() if type(o) in (torch.Tensor, torch.nn.Parameter)))
    assert counts[2] == counts[3], counts
