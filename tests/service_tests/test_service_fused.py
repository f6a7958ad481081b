"""``--fuse K`` / spec ``fuse: K``: a slot trains several queued trials of a job as one fused model."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from tests.service_tests.helpers import trials_of
from tuner import records
from tuner.errors import ConfigError, JobError
from tuner.service import run_worker, submit
from tuner.service.spec import read_spec
from tuner.training import train

FAST = {"devices": "cpu", "heartbeat_interval": 1, "grace_period": 4, "poll_interval": 0.1}
PARAMS = {"epochs": 3, "stopping_step": 3, "MAX_ITEM_LIST_LENGTH": 5, "train_batch_size": 128}


def caser_spec(write_spec, space: str, **keys):
    return write_spec(space, model="Caser", params=PARAMS, **keys)


def test_a_slot_fuses_a_grid_and_each_trial_gets_its_unfused_curve(write_spec, sqlite_url, capsys):
    submit(caser_spec(write_spec, "learning_rate choice [0.01,0.002]\ndropout_prob choice [0.0,0.3]\n"), sqlite_url)
    assert run_worker(sqlite_url, until_done=True, fuse=4, **FAST) == 0
    assert "trials 0, 1, 2, 3 start as one fused model of 4" in capsys.readouterr().err
    trials = trials_of(sqlite_url, "job")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    for t in trials:
        alone = []
        train("Caser", {**PARAMS, **t.params}, dataset="synthetic-tiny", on_epoch=lambda e, v: alone.append(v["ndcg@10"]))
        assert [t.intermediate_values[e] for e in (1, 2, 3)] == pytest.approx(alone, abs=1e-4)
        assert t.user_attrs[records.EPOCHS] == 3 and t.user_attrs[records.EPOCH_METRICS]["epoch"] == [1, 2, 3]


def test_trials_of_another_shape_are_trained_unfused_with_the_reason_logged(write_spec, sqlite_url, capsys):
    submit(caser_spec(write_spec, "embedding_size choice [32,64]\nlearning_rate choice [0.01,0.002]\n",
                      sampler={"name": "grid"}, fuse=4), sqlite_url)
    assert run_worker(sqlite_url, until_done=True, **FAST) == 0  # the spec's fuse: 4
    log = capsys.readouterr().err
    trials = trials_of(sqlite_url, "job")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    first = trials[0].params["embedding_size"]
    other = [t for t in trials if t.params["embedding_size"] != first]
    for t in other:
        assert f"trial {t.number} trained unfused: it differs from trial 0 in embedding_size ({first} vs " in log
    assert "start as one fused model of 2" in log


def test_tpe_draws_the_members_one_after_another(write_spec, sqlite_url):
    space = "learning_rate loguniform -7,-4\ndropout_prob uniform 0,0.5\n"
    submit(caser_spec(write_spec, space, sampler={"name": "tpe", "seed": 1, "constant_liar": True}, n_trials=3), sqlite_url)
    assert run_worker(sqlite_url, until_done=True, fuse=3, **FAST) == 0
    trials = trials_of(sqlite_url, "job")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert len({t.params["learning_rate"] for t in trials}) == 3


@pytest.mark.parametrize("fuse", [0, -2])
def test_fuse_below_one_is_an_error(write_spec, sqlite_url, fuse):
    with pytest.raises(ConfigError, match=f"--fuse {fuse}: expected a whole number >= 1"):
        run_worker(sqlite_url, until_done=True, fuse=fuse, **FAST)
    with pytest.raises(JobError, match=rf"job.yaml:\d+: fuse: {fuse}: expected a whole number >= 1"):
        read_spec(caser_spec(write_spec, "learning_rate choice [0.01]\n", fuse=fuse))
