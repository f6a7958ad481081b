"""Pruners beyond Optuna's (``topk``) and the submit-time checks of pruner settings."""

from __future__ import annotations

import logging

import optuna
import pytest
from optuna.trial import TrialState

from tests.service_tests import objectives
from tests.service_tests.helpers import trials_of
from tuner import records
from tuner.errors import JobError
from tuner.service import run_job, submit
from tuner.service.optimizers import pruner_warnings
from tuner.service.pruners import TopKPruner
from tuner.service.queue import FIXED_PARAMS
from tuner.service.spec import parse_spec

FAST = dict(heartbeat_interval=1, poll_interval=0.1, devices="cpu")
SPACE = "learning_rate choice [0.01,0.005,0.001]\nnum_layers choice [1,2]\n"


def _run_to(study: optuna.Study, values: dict[int, list[float]]) -> list[bool]:
    """Ask one trial per curve in turn, report its values; the pruner's answers at each trial's last report."""
    answers = []
    for number in sorted(values):
        trial = study.ask({"x": optuna.distributions.CategoricalDistribution(list(range(10)))})
        for step, value in enumerate(values[number], start=1):
            trial.report(value, step)
            if trial.should_prune():
                study.tell(trial, state=TrialState.PRUNED)
                answers.append(True)
                break
        else:
            study.tell(trial, values[number][-1])
            answers.append(False)
    return answers


def test_topk_prunes_every_first_stage_trial_then_queues_the_k_best_once():
    study = optuna.create_study(direction="maximize", pruner=TopKPruner(k=2, epoch=2))
    for x in range(5):
        study.enqueue_trial({"x": x})
    # x=3 and x=1 lead at epoch 2 (not at epoch 1); the last first-stage trial queues them
    assert _run_to(study, {0: [0.1, 0.2, 0.9], 1: [0.1, 0.6], 2: [0.5, 0.3], 3: [0.0, 0.7], 4: [0.2, 0.1]}) == [True] * 5
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [(t.system_attrs[FIXED_PARAMS], t.user_attrs) for t in waiting] == [
        ({"x": 3}, {records.PROMOTED_FROM: 3}), ({"x": 1}, {records.PROMOTED_FROM: 1})]
    assert _run_to(study, {5: [0.0, 0.7, 0.8], 6: [0.1, 0.6, 0.65]}) == [False, False]
    assert study.best_trial.params == {"x": 3} and len(study.trials) == 7  # nothing queued twice


def test_topk_waits_for_trials_still_short_of_its_epoch():
    study = optuna.create_study(direction="maximize", pruner=TopKPruner(k=1, epoch=1))
    study.enqueue_trial({"x": 0})
    study.enqueue_trial({"x": 1})
    first = study.ask({"x": optuna.distributions.CategoricalDistribution(list(range(10)))})
    second = study.ask({"x": optuna.distributions.CategoricalDistribution(list(range(10)))})
    first.report(0.5, 1)
    assert first.should_prune() and not study.get_trials(states=(TrialState.WAITING,))  # second has not reported
    study.tell(first, state=TrialState.PRUNED)
    second.report(0.4, 1)
    assert second.should_prune()
    assert [t.system_attrs[FIXED_PARAMS] for t in study.get_trials(states=(TrialState.WAITING,))] == [{"x": 0}]


def test_topk_does_not_wait_for_replicates_of_the_confirmation_stage():
    study = optuna.create_study(direction="maximize", pruner=TopKPruner(k=1, epoch=1))
    study.enqueue_trial({"x": 0})
    study.enqueue_trial({"x": 1}, user_attrs={records.ROLE: records.REPLICATE})
    assert _run_to(study, {0: [0.5, 0.6]}) == [True]
    queued = study.get_trials(states=(TrialState.WAITING,))
    assert [t.user_attrs for t in queued] == [{records.ROLE: records.REPLICATE}, {records.PROMOTED_FROM: 0}]


@pytest.mark.parametrize("settings", [{"k": 0}, {"epoch": 0}, {"k": 1.5}])
def test_topk_rejects_settings_that_are_not_positive_whole_numbers(settings):
    with pytest.raises(ValueError):
        TopKPruner(**settings)


def test_a_topk_job_runs_in_the_service_and_completes_only_the_k_best(write_spec, sqlite_url):
    spec = write_spec(SPACE, params={"epochs": 3}, pruner={"name": "topk", "k": 2, "epoch": 1})
    outcome = run_job(spec, sqlite_url, workers=2, objective=objectives.quick, **FAST)
    trials = trials_of(sqlite_url, "job")
    first = [t for t in trials if records.PROMOTED_FROM not in t.user_attrs]
    promoted = [t for t in trials if records.PROMOTED_FROM in t.user_attrs]
    assert len(first) == 6 and all(t.state == TrialState.PRUNED and t.user_attrs[records.EPOCHS] == 1 for t in first)
    by_value = sorted(first, key=lambda t: -t.intermediate_values[1])  # quick(): epoch 1 ranks as the last epoch
    assert sorted(t.user_attrs[records.PROMOTED_FROM] for t in promoted) == sorted(t.number for t in by_value[:2])
    assert all(t.state == TrialState.COMPLETE and t.user_attrs[records.EPOCHS] == 3 for t in promoted)
    assert outcome.status.best_params == by_value[0].params


@pytest.mark.parametrize(
    "pruner, epochs, eval_step, n_trials, key",
    [
        ({"name": "median", "n_warmup_steps": 10}, 10, None, 20, "pruner.n_warmup_steps: median first judges trials at epoch 10"),
        ({"name": "median", "n_startup_trials": 5}, 10, None, 5, "pruner.n_startup_trials: 5 >= n_trials 5"),
        ({"name": "hyperband", "min_resource": 12}, 10, None, 20, "pruner.min_resource: hyperband first judges trials at epoch 12"),
        ({"name": "successive_halving", "min_resource": 2, "reduction_factor": 3, "min_early_stopping_rate": 2}, 10, None, 20,
         "pruner.min_resource: successive_halving first judges trials at epoch 18"),
        ({"name": "topk", "epoch": 10}, 10, None, 20, "pruner.epoch: topk first judges trials at epoch 10"),
        ({"name": "topk", "k": 6}, 10, None, 6, "pruner.k: 6 >= n_trials 6"),
        ({"name": "successive_halving", "min_resource": 1}, 20, 5, 20, "pruner.min_resource: successive_halving judges trials at epoch 1, before their first validation (epoch 5"),
    ],
)
def test_settings_that_cannot_prune_or_judge_before_a_validation_are_warned_about(pruner, epochs, eval_step, n_trials, key):
    (message,) = pruner_warnings(pruner, epochs, eval_step, n_trials)
    assert message.startswith(key), message


@pytest.mark.parametrize("pruner", [{"name": "median", "n_warmup_steps": 3}, {"name": "topk", "k": 2, "epoch": 1},
                                    {"name": "successive_halving"}, {"name": "hyperband", "min_resource": 1}, {"name": "none"}])
def test_settings_that_can_prune_are_not_warned_about(pruner):
    assert pruner_warnings(pruner, 10, 1, 20) == []


def test_submit_warns_naming_the_spec_and_the_key(write_spec, sqlite_url, caplog):
    spec = write_spec(SPACE, params={"epochs": 3}, pruner={"name": "median", "n_warmup_steps": 3})
    with caplog.at_level(logging.WARNING, logger="tuner.submit"):
        submit(spec, sqlite_url)
    assert [r.getMessage() for r in caplog.records] == [
        f"{spec}: warning: pruner.n_warmup_steps: median first judges trials at epoch 3, not before the last epoch "
        "(3, params.epochs): it can never prune"]


def test_an_unknown_pruner_is_an_error_listing_the_choices():
    text = "model: Caser\ndataset: x\nsearch_space: s.hyper\nobjective: ndcg@10\nn_trials: 3\npruner: {name: asha}\n"
    with pytest.raises(JobError) as error:
        parse_spec(text, "s.yaml")
    assert str(error.value) == "s.yaml:6: pruner.name: 'asha': expected one of none, median, hyperband, successive_halving, topk"
