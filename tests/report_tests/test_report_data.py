"""The report's plain data: built from hand-made trials (exact values) and read from a real SQLite job."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from tuner import records
from tuner.errors import JobError, StorageError
from tuner.report import build_job, compare, read_jobs

ATTRS = {records.OBJECTIVE: "ndcg@10", records.MODEL: "Caser", records.DATASET: "ml-100k", records.N_TRIALS: 10,
         records.TOOL_VERSION: "0.1.0", records.CREATED_AT: "2025-01-06T09:00:00+00:00",
         records.SPEC: {"name": "j", "params": {"epochs": 5}, "storage": "postgresql://u:s3cret@db/tuner"},
         "versions": {"torch": "2.13.0"}, "db": "postgresql://u:s3cret@db/x"}


def complete(make_trial, number, valid, test, **kw):
    ua = {records.VALID_METRICS: {"ndcg@10": valid, "recall@10": 2 * valid},
          records.TEST_METRICS: {"ndcg@10": test, "recall@10": 2 * test},
          records.BEST_EPOCH: 3, records.EPOCHS: 5, records.SECONDS: 12.5, records.GPU_PEAK_MIB: 512.0,
          records.DEVICE: kw.pop("device", "cuda:0"), records.HOST: "h1", records.WORKER: kw.pop("worker", "h1:1:0")}
    ua.update(kw.pop("user_attrs", {}))
    return make_trial(number, "COMPLETE", valid, user_attrs=ua, curve={1: valid / 2, 2: valid, 3: valid}, **kw)


@pytest.fixture
def job(make_trial):
    trials = [
        complete(make_trial, 0, 0.05, 0.04, start_s=0),
        complete(make_trial, 1, 0.07, 0.06, start_s=10, device="cpu", worker="h2:9:0"),
        make_trial(2, "PRUNED", user_attrs={records.PRUNE_REASON: "below median", records.EPOCHS: 2,
                                            records.WORKER: "h1:1:0", records.DEVICE: "cuda:0"},
                   curve={1: 0.01, 2: 0.02}, start_s=20),
        make_trial(3, "FAIL", user_attrs={records.FAIL_REASON: "CUDA out of memory"}, start_s=30),
        make_trial(4, "FAIL", user_attrs={records.FAIL_REASON: "CUDA out of memory"}, start_s=40),
        complete(make_trial, 5, 0.06, 0.065, start_s=50, user_attrs={records.RETRY_OF: 3}),
        make_trial(6, "RUNNING", start_s=60, curve={1: 0.03}),
    ]
    return build_job("j", ATTRS, "maximize", trials, storage="sqlite:///x.db", read_at=dt.datetime(2025, 1, 6, 9, 5))


def test_ranking_puts_complete_trials_best_first_by_validation(job):
    assert [r.number for r in job.ranked] == [1, 5, 0]
    assert job.best.number == 1
    assert job.best.test == {"ndcg@10": 0.06, "recall@10": 0.12}
    assert job.best.params == {"learning_rate": 0.002, "embedding_size": 64}
    assert job.best.gpu_peak_mib == 512.0 and job.best.seconds == 12.5


def test_minimize_ranks_the_other_way(make_trial):
    trials = [complete(make_trial, 0, 0.05, 0.04), complete(make_trial, 1, 0.07, 0.06)]
    assert [r.number for r in build_job("j", ATTRS, "minimize", trials).ranked] == [0, 1]


def test_counts_reasons_and_retries(job):
    assert job.counts == {"COMPLETE": 3, "PRUNED": 1, "FAIL": 2, "RUNNING": 1}
    assert [(r.state, r.kind, r.count, r.trials, r.examples) for r in job.reasons] == [
        ("FAIL", "CUDA out of memory", 2, (3, 4), ("CUDA out of memory",)),
        ("PRUNED", "below median", 1, (2,), ("below median",))]
    assert job.trials[5].retry_of == 3


def test_reasons_are_grouped_by_kind_with_examples(make_trial):
    reasons = ["worker lost: no heartbeat (worker a:1:0)", "worker lost: no heartbeat (worker b:2:0)",
               "worker lost: no heartbeat (worker a:1:0)", "TrainingError: nan", None]
    trials = [make_trial(i, "FAIL", user_attrs={records.FAIL_REASON: r} if r else {}) for i, r in enumerate(reasons)]
    job = build_job("j", ATTRS, "maximize", trials)
    assert [(r.kind, r.count, r.trials) for r in job.reasons] == [
        ("worker lost", 3, (0, 1, 2)), ("(no reason recorded)", 1, (4,)), ("TrainingError", 1, (3,))]
    assert job.reasons[0].examples == ("worker lost: no heartbeat (worker a:1:0)", "worker lost: no heartbeat (worker b:2:0)")


def test_waiting_trials_are_counted_but_not_on_the_timeline(make_trial):
    trials = [complete(make_trial, 0, 0.05, 0.04), make_trial(1, "WAITING", params={}, start_s=None)]
    job = build_job("j", ATTRS, "maximize", trials)
    assert job.counts == {"COMPLETE": 1, "WAITING": 1}
    assert [s.number for s in job.timeline] == [0]
    assert job.trials[1].params == {} and job.trials[1].value is None


def test_spread_of_the_top_configurations(job):
    s = job.spread
    assert s.k == 3
    assert s.valid_mean == pytest.approx(0.06)
    assert s.valid_std == pytest.approx(0.01)
    assert (s.valid_min, s.valid_max) == (0.05, 0.07)
    assert s.test_mean == pytest.approx((0.04 + 0.06 + 0.065) / 3)


def test_history_keeps_the_best_so_far(job):
    assert job.history == ((0, 0.05, 0.05), (1, 0.07, 0.07), (5, 0.06, 0.07))


def test_learning_curves_include_pruned_and_running_trials(job):
    curves = {r.number: r.curve for r in job.trials}
    assert curves[2] == ((1, 0.01), (2, 0.02))
    assert curves[6] == ((1, 0.03),)
    assert job.trials[2].value == 0.02  # a pruned trial's value: its last reported epoch
    assert job.curves_note is None


def test_timeline_lanes_and_running_trials_end_at_read_time(job):
    spans = {s.number: s for s in job.timeline}
    assert spans[1].lane == "h2:9:0 (cpu)"
    assert spans[0].lane == "h1:1:0 (cuda:0)"
    assert spans[6].state == "RUNNING" and spans[6].end == dt.datetime(2025, 1, 6, 9, 5)
    assert spans[0].end - spans[0].start == dt.timedelta(seconds=10)


def test_environment_and_spec_with_urls_masked(job):
    env = job.environment
    assert env.devices == {"cuda:0": 3, "cpu": 1}
    assert env.workers == {"h1:1:0": 3, "h2:9:0": 1}
    assert env.first_start == dt.datetime(2025, 1, 6, 9, 0) and env.tool_version == "0.1.0"
    assert env.other == {"versions": {"torch": "2.13.0"}, "db": "postgresql://u:***@db/x"}  # unknown attributes kept
    assert job.spec["storage"] == "postgresql://u:***@db/tuner"
    assert job.param_names == ("learning_rate", "embedding_size")
    assert job.valid_metric_names == ("ndcg@10", "recall@10")


def test_importances_need_two_complete_trials_and_a_varying_parameter(make_trial):
    one = build_job("j", ATTRS, "maximize", [complete(make_trial, 0, 0.05, 0.04)])
    assert one.importances == {} and "at least 2 complete trials" in one.importance_note
    same = [complete(make_trial, i, 0.05 + i / 100, 0.04, params={"lr": 0.01}) for i in range(3)]
    flat = build_job("j", ATTRS, "maximize", same)
    assert flat.importances == {} and "varies" in flat.importance_note


def test_importances_find_the_parameter_that_matters(make_trial):
    # the objective follows lr; "noise" takes random values unrelated to it
    rng = random.Random(0)
    trials = []
    for i in range(60):
        lr = rng.uniform(0.001, 0.01)
        trials.append(complete(make_trial, i, lr * 10, 0.0, params={"lr": lr, "noise": rng.uniform(0.01, 0.9)}))
    job = build_job("j", ATTRS, "maximize", trials)
    assert job.importances, job.importance_note
    assert list(job.importances)[0] == "lr"
    assert job.importances["lr"] > job.importances["noise"]
    assert sum(job.importances.values()) == pytest.approx(1.0)


def test_an_empty_job_has_notes_not_errors():
    job = build_job("empty", ATTRS, "maximize", [])
    assert job.best is None and job.spread is None and job.ranked == ()
    assert job.importance_note and job.curves_note


def test_read_jobs_from_sqlite(store):
    caser, gru = read_jobs(store, ["caser-ml100k", "gru4recf-ml100k"])
    assert len(caser.trials) == 64 and len(gru.trials) == 40
    assert caser.model == "Caser" and gru.model == "GRU4RecF" and caser.objective == "ndcg@10"
    assert set(caser.counts) == {"COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"}
    assert len(caser.environment.workers) == 3 and set(caser.environment.devices) == {"cuda:0", "cuda:1", "cpu"}
    assert all(r.curve for r in caser.trials if r.state != "WAITING")
    best = caser.best
    assert best.value == max(r.value for r in caser.trials if r.state == "COMPLETE")
    assert best.valid["ndcg@10"] == best.value
    rows = compare([caser, gru])
    assert [c.job for c in rows] == ["caser-ml100k", "gru4recf-ml100k"]
    assert rows[1].best_valid == gru.best.value and len(rows[1].valid_values) == gru.counts["COMPLETE"]


def test_unknown_job_names_the_closest(store):
    with pytest.raises(JobError, match="did you mean 'caser-ml100k'"):
        read_jobs(store, ["caser-ml100"])


def test_missing_database_file_is_an_error_not_a_new_database(tmp_path):
    path = tmp_path / "nope.db"
    with pytest.raises(StorageError, match="no such database file"):
        read_jobs(f"sqlite:///{path}", ["x"])
    assert not path.exists()
