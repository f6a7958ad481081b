"""Exports: the trials table read back from CSV, JSON and Parquet, and the RecBole config parsed back."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
import yaml

from tuner import records
from tuner.errors import JobError
from tuner.report import build_job, read_jobs, recbole_config, recbole_yaml, table_bytes, trials_frame
from tuner.report.export import RECBOLE_EVAL_ARGS


@pytest.fixture(scope="module")
def caser(store):
    (job,) = read_jobs(store, ["caser-ml100k"])
    return job


def test_frame_has_one_row_per_trial_and_flat_columns(caser):
    frame = trials_frame(caser)
    assert len(frame) == len(caser.trials)
    for column in ("number", "state", "value", "param_learning_rate", "param_nh", "valid_ndcg@10", "test_ndcg@10",
                   "test_recall@10", "best_epoch", "epochs", "seconds", "gpu_peak_mib", "datetime_start", "datetime_complete",
                   "device", "host", "worker", "reason", "retry_of"):
        assert column in frame.columns, column
    best = frame.set_index("number").loc[caser.best.number]
    assert best["test_ndcg@10"] == caser.best.test["ndcg@10"]
    assert best["param_nh"] == caser.best.params["nh"]
    assert set(frame["state"]) == {"COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"}
    assert frame["best_epoch"].dtype == "Int64"


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_tables_read_back(caser, fmt):
    data = table_bytes(caser, fmt)
    if fmt == "csv":
        back = pd.read_csv(io.BytesIO(data))
    elif fmt == "json":
        back = pd.DataFrame(json.loads(data))
    else:
        back = pd.read_parquet(io.BytesIO(data))
    assert len(back) == len(caser.trials)
    row = back[back["number"] == caser.best.number].iloc[0]
    assert row["state"] == "COMPLETE"
    assert row["value"] == pytest.approx(caser.best.value, rel=1e-12)
    assert row["test_ndcg@10"] == pytest.approx(caser.best.test["ndcg@10"], rel=1e-12)
    assert row["param_learning_rate"] == pytest.approx(caser.best.params["learning_rate"], rel=1e-12)


def test_parquet_takes_a_parameter_of_mixed_types(make_trial):
    trials = [make_trial(0, params={"hidden": 64}), make_trial(1, params={"hidden": "auto"})]
    job = build_job("mixed", {records.OBJECTIVE: "ndcg@10"}, "maximize", trials)
    back = pd.read_parquet(io.BytesIO(table_bytes(job, "parquet")))
    assert list(back["param_hidden"]) == ["64", "auto"]


def recbole_loader():
    """A loader that reads YAML as RecBole's Config does: PyYAML's FullLoader plus a float resolver that
    also takes exponent forms without a dot (``1e-4``)."""

    class Loader(yaml.FullLoader):
        pass

    float_re = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)|\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X)
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", float_re, list("-+0123456789."))
    return Loader


def test_recbole_config_round_trips_with_recbole_types(caser):
    text = recbole_yaml(caser)
    config = yaml.safe_load(text)
    assert config == yaml.load(text, Loader=recbole_loader())  # RecBole reads exactly the same values
    assert config == recbole_config(caser)
    best = caser.best
    assert config["model"] == "Caser" and config["dataset"] == "ml-100k"
    assert config["eval_args"] == RECBOLE_EVAL_ARGS == {
        "split": {"LS": "valid_and_test"}, "group_by": "user", "order": "TO", "mode": "full"}
    assert config["valid_metric"] == "NDCG@10" and config["topk"] == [10]
    assert config["metrics"] == ["Recall", "NDCG", "MRR", "Hit", "Precision"]
    assert "train_neg_sample_args" in config and config["train_neg_sample_args"] is None  # CE loss
    for name, value in best.params.items():  # the tuned parameters, with their types
        assert config[name] == value and type(config[name]) is type(value), name
    assert type(config["nh"]) is int and type(config["learning_rate"]) is float
    assert config["epochs"] == 30 and config["stopping_step"] == 5  # fixed in the spec
    assert config["MAX_ITEM_LIST_LENGTH"] == 10 and config["load_col"] is None
    assert "device" not in config
    assert f"trial {best.number}" in text.splitlines()[0]


def _job_with(make_trial, params, fixed, objective="ndcg@10"):
    ua = {records.VALID_METRICS: {objective: 0.05}, records.TEST_METRICS: {objective: 0.04}}
    attrs = {records.OBJECTIVE: objective, records.MODEL: "GRU4RecF", records.DATASET: "ml-1m",
             records.SPEC: {"params": fixed}}
    return build_job("j", attrs, "maximize", [make_trial(0, params=params, user_attrs=ua)])


def test_small_floats_lists_and_bpr(make_trial):
    job = _job_with(make_trial, {"learning_rate": 1e-05, "reg_weight": 0.0001, "loss_type": "BPR",
                                 "selected_features": "['class']"},
                    {"n_h": 4, "device": "cuda:0", "data_path": "/data/ml-1m", "topk": [5, 20], "metrics": ["NDCG"]})
    text = recbole_yaml(job)
    config = yaml.load(text, Loader=recbole_loader())
    assert config == yaml.safe_load(text)
    assert config["learning_rate"] == 1e-05 and isinstance(config["learning_rate"], float)
    assert config["reg_weight"] == 0.0001
    assert config["selected_features"] == ["class"]
    assert config["nh"] == 4 and "n_h" not in config  # RecBole's own name
    assert "train_neg_sample_args" not in config  # BPR keeps RecBole's default sampling
    assert config["data_path"] == "/data" and "device" not in config
    assert config["topk"] == [5, 10, 20] and config["metrics"] == ["NDCG"]


def test_a_dataset_folder_becomes_recbole_data_path_and_name(make_trial):
    job = _job_with(make_trial, {"learning_rate": 0.001}, {})
    attrs = {records.OBJECTIVE: "ndcg@10", records.MODEL: "Caser", records.DATASET: "/srv/data/my-shop"}
    config = recbole_config(build_job("j", attrs, "maximize", list(job.frozen)))
    assert config["dataset"] == "my-shop" and config["data_path"] == "/srv/data"


def test_a_name_with_newlines_cannot_inject_yaml(make_trial):
    job = _job_with(make_trial, {"learning_rate": 0.001}, {})
    job = build_job("evil\nmodel: Pop\n#", {records.OBJECTIVE: "ndcg@10", records.MODEL: "Caser"}, "maximize",
                    list(job.frozen))
    config = yaml.safe_load(recbole_yaml(job))
    assert config["model"] == "Caser"


def test_no_complete_trial_is_a_job_error(make_trial):
    job = build_job("j", {records.OBJECTIVE: "ndcg@10"}, "maximize", [make_trial(0, "FAIL")])
    with pytest.raises(JobError, match="no complete trial"):
        recbole_config(job)
