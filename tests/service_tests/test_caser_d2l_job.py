"""A CaserD2L tuning job: the shipped spec, the auc objective, the holdout rule, and a real run with its exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuner.errors import JobError
from tuner.report import read_jobs
from tuner.report.export import recbole_config, table_bytes
from tuner.service import run_job
from tuner.service.jobs import prepare

ROOT = Path(__file__).resolve().parents[2]
D2L = {"model": "CaserD2L", "params": {"holdout": "valid_and_test", "L": 3, "train_batch_size": 64, "epochs": 2}}


def test_the_shipped_study_prepares():
    prepared = prepare(ROOT / "studies" / "caser-d2l-ml100k.yaml", load_data=False)
    assert prepared.spec.model == "CaserD2L" and prepared.spec.objective == "hit@10"
    assert set(prepared.space.names) == {"learning_rate", "weight_decay", "num_factors", "L", "drop_ratio"}


def test_auc_objective_is_caser_d2ls_alone_and_a_job_needs_a_validation_split(write_spec):
    assert prepare(write_spec("drop_ratio choice [0.0,0.1]\n", objective="auc", **D2L)).spec.metric == "AUC"
    with pytest.raises(JobError, match=r"params: valid_metric: AUC needs the target's rank among every candidate"):
        prepare(write_spec(objective="auc", model="GRU4RecF"))
    with pytest.raises(JobError, match=r"params.holdout: a job selects on a validation split; set holdout: valid_and_test"):
        prepare(write_spec("drop_ratio choice [0.0,0.1]\n", model="CaserD2L", params={"L": 3}))


@pytest.mark.slow
def test_a_job_runs_end_to_end_and_exports_tables_but_no_recbole_config(write_spec, sqlite_url):
    spec = write_spec("drop_ratio choice [0.0,0.1]\n", objective="hit@10", **D2L)
    outcome = run_job(spec, sqlite_url, devices="cpu", heartbeat_interval=1, poll_interval=0.1)
    assert outcome.status.complete == 2
    (job,) = read_jobs(sqlite_url, ["job"])
    rows = json.loads(table_bytes(job, "json"))
    assert {"valid_hit@10", "valid_hit@50", "valid_auc", "test_auc", "param_drop_ratio"} <= set(rows[0])
    assert all(0.5 < row["test_auc"] <= 1.0 for row in rows)
    assert table_bytes(job, "csv").decode().startswith("job,")
    with pytest.raises(JobError, match=r"RecBole has no model 'CaserD2L'.*use --format csv or json"):
        recbole_config(job)
