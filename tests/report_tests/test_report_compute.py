"""The report's compute section: epochs and seconds per configuration, and where pruned trials stopped."""

from __future__ import annotations

from tuner import records
from tuner.report import build_job
from tuner.report.compute import job_compute
from tuner.report.html import render

ATTRS = {records.OBJECTIVE: "ndcg@10", records.MODEL: "Caser", records.DATASET: "ml-100k", records.N_TRIALS: 4}


def _trials(make_trial):
    done = {records.VALID_METRICS: {"ndcg@10": 0.07}, records.TEST_METRICS: {"ndcg@10": 0.06}, records.BEST_EPOCH: 4}
    a, b, c = {"learning_rate": 0.01}, {"learning_rate": 0.001}, {"learning_rate": 0.0001}
    return [
        make_trial(0, "PRUNED", params=a, user_attrs={records.EPOCHS: 1, records.SECONDS: 2.0}, curve={1: 0.03}),
        make_trial(1, "PRUNED", params=b, user_attrs={records.EPOCHS: 3, records.SECONDS: 6.5}, curve={1: 0.01, 3: 0.02}),
        make_trial(2, "PRUNED", params=c, user_attrs={records.EPOCHS: 1, records.SECONDS: 2.5}, curve={1: 0.005}),
        make_trial(3, "COMPLETE", 0.07, params=a, user_attrs={**done, records.EPOCHS: 6, records.SECONDS: 12.0, records.PROMOTED_FROM: 0}),
        make_trial(4, "WAITING", None, params=c, start_s=None),
    ]


def test_compute_adds_up_epochs_and_seconds_per_configuration_and_counts_the_rungs(make_trial):
    spent = job_compute(build_job("j", ATTRS, "maximize", _trials(make_trial)).trials)
    assert (spent.epochs, spent.seconds, spent.trials) == (11, 23.0, 4)
    assert spent.pruned_at == {1: 2, 3: 1}
    first = spent.configurations[0]
    assert (first.params, first.trials, first.epochs, first.seconds) == ({"learning_rate": 0.01}, (0, 3), 7, 14.0)
    assert (first.states, first.pruned_at, first.best_value) == ({"PRUNED": 1, "COMPLETE": 1}, (1,), 0.07)
    assert [c.epochs for c in spent.configurations] == [7, 3, 1]  # the waiting trial trained nothing


def test_the_report_shows_the_compute_section(make_trial):
    page = render([build_job("j", ATTRS, "maximize", _trials(make_trial))])
    assert "<h3>Compute spent</h3>" in page
    assert "11 epochs" in page and "over 4 trials and 3 configurations; pruned trials stopped: 2 at epoch 1, 1 at epoch 3." in page
