"""The D2L protocol (tuner.training.d2l): negatives, ranking metrics against a brute force, runs and errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from tuner.cli import main
from tuner.data import clear_memory
from tuner.data.d2l import build_d2l
from tuner.errors import ConfigError
from tuner.models import build_model
from tuner.training import train
from tuner.training.d2l import metrics_of, rank_holdout, sample_negatives
from tuner.training.settings import resolve

TINY = {"dataset": "synthetic-tiny", "MAX_ITEM_LIST_LENGTH": 3, "train_batch_size": 64, "epochs": 3}


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNER_CACHE_DIR", str(tmp_path / "cache"))
    clear_memory()
    yield
    clear_memory()


def random_data(seed: int = 0, users: int = 9, items: int = 15, per_user: int = 8):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        chosen = rng.choice(items, per_user, replace=False)
        rows += [(str(u), str(i), float(rng.integers(0, 5))) for i in chosen]  # coarse times: many ties
    return build_d2l("random", pd.DataFrame(rows, columns=["user", "item", "time"]), L=2, holdout="valid_and_test")


def test_negatives_are_never_an_interaction_of_the_user_and_cover_the_rest():
    data = random_data()
    g = torch.Generator().manual_seed(0)
    user = data.windows.user.repeat(200)
    negatives = sample_negatives(user, data.not_negative, g)
    assert not data.not_negative[user, negatives].any()
    drawn = torch.zeros_like(data.not_negative)
    drawn[user, negatives] = True
    assert torch.equal(drawn, ~data.not_negative)  # every allowed item turns up


@pytest.mark.parametrize("split", ["valid", "test"])
def test_ranks_hits_and_auc_equal_a_brute_force(split):
    data = random_data(seed=3)
    torch.manual_seed(0)
    model = build_model("CaserD2L", {"num_factors": 4}, n_user_ids=data.n_users, n_item_ids=data.n_items, max_seq_length=2)
    with torch.no_grad():
        model.b.weight[::3] = 0.5  # some exact ties: broken towards the lower item id
        model.Q_prime.weight[::3] = 0.0
    holdout = getattr(data, split)
    ranks, counts = rank_holdout(model, holdout, batch_size=4)
    from tuner.models.base import Batch

    model.eval()
    with torch.no_grad():
        scores = model.full_sort_scores(Batch(holdout.user, holdout.item_seq, torch.empty(0), holdout.target))
    expected_ranks, expected_auc = [], []
    for u in range(len(holdout)):
        target = int(holdout.target[u])
        candidates = [i for i in range(data.n_items) if not holdout.seen[u, i]]
        assert target in candidates
        ordered = sorted(candidates, key=lambda i: (-float(scores[u, i]), i))
        rank = ordered.index(target) + 1
        expected_ranks.append(rank)
        expected_auc.append((len(candidates) - rank) / (len(candidates) - 1))
    assert ranks.tolist() == expected_ranks
    metrics = metrics_of(ranks, counts, ["hit", "ndcg", "auc"], [1, 3])
    assert set(metrics) == {"hit@1", "hit@3", "ndcg@1", "ndcg@3", "auc"}
    assert metrics["hit@3"] == pytest.approx(np.mean([r <= 3 for r in expected_ranks]))
    assert metrics["ndcg@3"] == pytest.approx(np.mean([1 / math.log2(r + 1) if r <= 3 else 0 for r in expected_ranks]))
    assert metrics["auc"] == pytest.approx(np.mean(expected_auc))


def test_reproduction_run_has_no_validation_and_tests_after_the_last_epoch():
    records = []
    result = train("CaserD2L", {**TINY, "seed": 1}, progress=records.append)
    assert result.valid == {} and result.epochs == result.best_epoch == 3
    assert set(result.test) == {"hit@10", "hit@50", "auc"} and 0.0 <= result.test["auc"] <= 1.0
    assert result.train_loss == records[-1]["loss"] and 0 < result.train_loss < math.log(2) + 0.01
    assert [set(r) for r in records] == [{"epoch", "loss", "train_seconds"}] * 3
    assert set(result.ranks) == {"test"} and result.ranks["test"].shape == (60,)
    again = train("CaserD2L", {**TINY, "seed": 1})
    assert again.test == result.test and again.train_loss == result.train_loss  # seeded fully


def test_tuning_run_validates_every_epoch_reports_the_objective_and_learns():
    seen = []
    settings = {**TINY, "holdout": "valid_and_test", "valid_metric": "AUC", "epochs": 6, "learning_rate": 0.02}
    result = train("CaserD2L", settings, on_epoch=lambda epoch, valid: seen.append((epoch, valid["auc"])))
    assert [e for e, _ in seen] == list(range(1, 7))
    best = max(seen, key=lambda ev: ev[1])
    assert result.best_epoch == best[0] and result.valid["auc"] == best[1]
    assert set(result.ranks) == {"valid", "test"}
    assert result.valid["auc"] > 0.7  # the planted cycle is learnt (chance is 0.5)
    assert ((result.ranks["test"] >= 0) & (result.ranks["test"] <= 50)).all()


def test_auc_for_a_model_that_cannot_rank_every_candidate_names_the_parameter():
    with pytest.raises(ConfigError, match=r"^valid_metric: AUC needs the target's rank among every candidate"):
        resolve("Caser", overrides={"valid_metric": "AUC"})
    with pytest.raises(ConfigError, match=r"^metrics: AUC .*CaserD2L"):
        resolve("GRU4RecF", overrides={"metrics": ["Hit", "AUC"]})
    assert resolve("CaserD2L", overrides={"valid_metric": "auc"})["valid_metric"] == "auc"


def test_bad_settings_are_clear_errors():
    with pytest.raises(ConfigError, match=r"holdout: tuning selects on a validation split"):
        train("CaserD2L", TINY, on_epoch=lambda *_: None)
    with pytest.raises(ConfigError, match=r"train_batch_size: 4096 is more than the \d+ training windows"):
        train("CaserD2L", {**TINY, "train_batch_size": 4096})
    with pytest.raises(ConfigError, match=r"MAX_ITEM_LIST_LENGTH \(L\) = 30: .* use L <= "):
        train("CaserD2L", {**TINY, "MAX_ITEM_LIST_LENGTH": 30})
    with pytest.raises(ConfigError, match=r"holdout: expected one of test, valid_and_test"):
        resolve("CaserD2L", overrides={"holdout": "valid"})


def test_cli_json_prints_train_loss_and_the_d2l_metrics(capsys):
    assert main(["train", "--model", "CaserD2L", "--dataset", "synthetic-tiny", "--set", "L=3",
                 "--set", "train_batch_size=64", "--set", "epochs=2", "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["valid"] == {} and set(summary["test"]) == {"hit@10", "hit@50", "auc"}
    assert summary["train_loss"] > 0 and summary["epochs"] == summary["best_epoch"] == 2
    assert [line.split()[:2] for line in err.strip().splitlines()] == [["epoch", "1"], ["epoch", "2"]]
