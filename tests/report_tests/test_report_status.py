"""``tuner status JOB --json`` carries the recommended configuration; ``tuner export`` rows carry
config_id, seed and role, and ``--format recbole`` writes the recommended configuration. A real job
submitted to SQLite, its runs recorded by hand as the service records them."""

from __future__ import annotations

import json

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution

from tuner import records
from tuner.cli import main
from tuner.report.confidence import seed_interval
from tuner.service import submit

# learning rate -> validation NDCG@10 of its runs (seed 2020 first, the search run; then replicates)
RUNS = {0.01: [0.070, 0.060, 0.062], 0.005: [0.066, 0.065, 0.067], 0.001: [0.069]}


@pytest.fixture
def job_url(tmp_path):
    (tmp_path / "space.hyper").write_text("learning_rate choice [0.01,0.005,0.001]\n")
    spec = {"name": "job", "model": "GRU4RecF", "dataset": "synthetic-tiny", "search_space": "space.hyper",
            "params": {"epochs": 3}, "objective": "ndcg@10", "sampler": {"name": "grid", "seed": 0}, "n_trials": 3}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(spec))
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    submit(tmp_path / "job.yaml", url)
    study = optuna.load_study(study_name="job", storage=url)
    for lr, values in RUNS.items():
        for i, value in enumerate(values):
            params = {"learning_rate": lr}
            study.add_trial(optuna.trial.create_trial(
                value=value, params=params, distributions={"learning_rate": CategoricalDistribution([0.01, 0.005, 0.001])},
                user_attrs={records.VALID_METRICS: {"ndcg@10": value}, records.TEST_METRICS: {"ndcg@10": value - 0.01},
                            records.ROLE: records.SEARCH if i == 0 else records.REPLICATE, records.SEED: 2020 if i == 0 else i,
                            records.CONFIG_ID: records.config_id(params)}))
    return url


def test_status_json_has_the_recommended_configuration(job_url, capsys):
    assert main(["status", "job", "--storage", job_url, "--json"]) == 0
    (job,) = json.loads(capsys.readouterr().out)["jobs"]
    rec = job["recommended"]
    assert rec["params"] == {"learning_rate": 0.005} and rec["n_runs"] == 3 and rec["confirmed"]
    assert rec["valid_mean"] == pytest.approx(0.066) and rec["valid_ci95"] == seed_interval(RUNS[0.005]).ci95
    assert rec["test_mean"] == pytest.approx(0.056)
    assert rec["test_ci95"] == pytest.approx(seed_interval([v - 0.01 for v in RUNS[0.005]]).ci95)
    assert [t["params"] for t in rec["tied"]] == [{"learning_rate": 0.01}]  # 0.064 +- 0.005: not told apart
    assert 0.05 <= rec["tied"][0]["p_value"] <= 1
    assert job["best_trial"] is not None and job["best_value"] == 0.070  # the best single run, as before


def test_status_table_and_run_ranking_show_configurations(job_url, capsys):
    assert main(["status", "--storage", job_url]) == 0
    out = capsys.readouterr().out
    assert "ndcg@10 0.0660 [" in out and "(3 runs)" in out and "learning_rate=0.005" in out
    from tuner.service import ranking

    ranked = ranking(job_url, "job")
    assert [(r.params["learning_rate"], len(r.numbers)) for r in ranked] == [(0.005, 3), (0.01, 3), (0.001, 1)]
    assert ranked[1].tied and ranked[2].p_value is None and ranked[0].valid_ci95 is not None


def test_export_columns_and_recbole_of_the_recommended(job_url, tmp_path, capsys):
    out = tmp_path / "trials.json"
    assert main(["export", "job", "--storage", job_url, "--format", "json", "-o", str(out)]) == 0
    rows = [r for r in json.loads(out.read_text()) if r["state"] == "COMPLETE"]
    assert {(r["param_learning_rate"], r["config_id"]) for r in rows} == {
        (lr, records.config_id({"learning_rate": lr})) for lr in RUNS}
    assert sorted((r["param_learning_rate"], r["seed"], r["role"]) for r in rows if r["param_learning_rate"] == 0.005) == [
        (0.005, 1, "replicate"), (0.005, 2, "replicate"), (0.005, 2020, "search")]
    capsys.readouterr()
    assert main(["export", "job", "--storage", job_url, "--format", "recbole"]) == 0
    text = capsys.readouterr().out
    assert yaml.safe_load(text)["learning_rate"] == 0.005
    assert "recommended configuration" in text.splitlines()[0] and "3 runs" in text and "1 other configuration(s) tied" in text
