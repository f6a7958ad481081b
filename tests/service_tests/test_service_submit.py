"""``submit``: checks everything first and writes nothing on error; queues the budget exactly."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tuner import __version__, records
from tuner.cli import main
from tuner.errors import DataError, JobError, SpaceError
from tuner.service import submit
from tuner.service.queue import FIXED_PARAMS

from tests.service_tests.helpers import trials_of


def test_grid_job_queues_every_configuration_once_with_its_spec(write_spec, sqlite_url):
    spec = write_spec()
    assert submit(spec, sqlite_url) == "job"
    study = optuna.load_study(study_name="job", storage=sqlite_url)
    attrs = study.user_attrs
    assert attrs[records.MODEL] == "GRU4RecF" and attrs[records.DATASET] == "synthetic-tiny"
    assert attrs[records.OBJECTIVE] == "ndcg@10" and attrs[records.N_TRIALS] == 6
    assert attrs[records.TOOL_VERSION] == __version__
    assert attrs[records.SPACE_TEXT] == (spec.parent / "space.hyper").read_text()
    assert attrs[records.SPACE_NAME] == "space.hyper"
    assert attrs[records.SPEC]["sampler"] == {"name": "grid", "seed": 0}
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.WAITING] * 6
    points = sorted((t.system_attrs[FIXED_PARAMS]["learning_rate"], t.system_attrs[FIXED_PARAMS]["num_layers"]) for t in trials)
    assert points == sorted((lr, n) for lr in (0.01, 0.005, 0.001) for n in (1, 2))
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE


def test_partial_grid_is_a_seeded_random_subset(write_spec, sqlite_url):
    submit(write_spec(n_trials=4), sqlite_url)
    points = [tuple(t.system_attrs[FIXED_PARAMS].values()) for t in trials_of(sqlite_url, "job")]
    assert len(points) == len(set(points)) == 4
    assert points != [(0.01, 1), (0.01, 2), (0.005, 1), (0.005, 2)]  # not simply the first four in file order


def test_sampled_job_queues_n_trials_empty_trials(write_spec, sqlite_url):
    submit(write_spec(sampler={"name": "tpe", "seed": 1}, n_trials=5, space="learning_rate loguniform -8,-4\n"), sqlite_url)
    trials = trials_of(sqlite_url, "job")
    assert [t.state for t in trials] == [TrialState.WAITING] * 5
    assert all(t.params == {} and t.system_attrs[FIXED_PARAMS] == {} for t in trials)


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"space": "hidden_sizes choice [64,128]\n"}, SpaceError, "hidden_sizes"),
        ({"params": {"epochs": 3, "learning_rat": 0.1}}, JobError, "job.yaml:7: params.learning_rat: not a parameter of GRU4RecF (did you mean 'learning_rate'?)"),
        ({"params": {"epochs": 3, "learning_rate": 0.1}}, JobError, "job.yaml:7: params.learning_rate: also in the search space space.hyper"),
        ({"params": {"epochs": 3, "dataset": "ml-1m"}}, JobError, "job.yaml:7: params.dataset: not a parameter of GRU4RecF (the dataset is the spec's own key"),
        ({"dataset": "no-such-dataset"}, DataError, "no-such-dataset"),
        ({"space": "learning_rate uniform 0.001,0.01\n"}, JobError, "sampler grid needs every parameter to be a choice; learning_rate"),
        ({"n_trials": 7}, JobError, "n_trials 7 is more than the grid's 6 configurations"),
        ({"pruner": {"name": "median", "n_warmup_steps": -1}}, JobError, "pruner"),
        ({"model": "SASRec"}, JobError, ("job.yaml:2: ", "unknown model 'SASRec'")),
        ({"params": {"epochs": 3, "valid_metric": "Recall@10"}}, JobError, "differs from objective 'ndcg@10'"),
        ({"search_space": "missing.hyper"}, SpaceError, "missing.hyper"),
    ],
)
def test_any_error_writes_nothing(write_spec, sqlite_url, change, error, message):
    space = change.pop("space", None)
    spec = write_spec(space, **change) if space else write_spec(**change)
    with pytest.raises(error) as raised:
        submit(spec, sqlite_url)
    for part in (message,) if isinstance(message, str) else message:
        assert part in str(raised.value)
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_a_name_that_exists_is_an_error_saying_how_to_continue(write_spec, sqlite_url):
    spec = write_spec()
    submit(spec, sqlite_url)
    with pytest.raises(JobError, match=r"job 'job' already exists in sqlite:///.*: continue it with `tuner worker --job job` or `tuner run SPEC`"):
        submit(spec, sqlite_url)
    assert len(trials_of(sqlite_url, "job")) == 6  # nothing queued twice
    assert submit(spec, sqlite_url, name="job-2") == "job-2"


def test_cli_prints_the_name_and_fails_with_a_message(write_spec, sqlite_url, capsys):
    spec = write_spec()
    assert main(["submit", str(spec), "--storage", sqlite_url, "--name", "from-cli"]) == 0
    assert capsys.readouterr().out == "from-cli\n"
    assert main(["submit", str(spec), "--storage", sqlite_url, "--name", "from-cli"]) == JobError.exit_code
    assert "already exists" in capsys.readouterr().err


def test_storage_comes_from_the_environment(write_spec, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("TUNER_STORAGE", url)
    submit(write_spec())
    assert len(trials_of(url, "job")) == 6
