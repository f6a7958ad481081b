"""Fused training against the unfused trials it stands for, on synthetic-tiny, with the real models."""

from __future__ import annotations

import pytest

from tuner.errors import TrainingError
from tuner.training import train
from tuner.training.fused import Member, differences, fit_fused, fusion_key

BASE = {"MAX_ITEM_LIST_LENGTH": 5, "epochs": 5, "train_batch_size": 128, "stopping_step": 100, "seed": 3}
# Members differ in everything a member may have of its own.
CASER = [
    {"learning_rate": 0.01, "dropout_prob": 0.0, "reg_weight": 0.0},
    {"learning_rate": 0.003, "dropout_prob": 0.3, "reg_weight": 1e-4},
    {"learning_rate": 0.001, "dropout_prob": 0.5, "reg_weight": 1e-5, "weight_decay": 1e-4},
]
GRU4RECF = [{"learning_rate": 0.01, "dropout_prob": 0.0}, {"learning_rate": 0.002, "dropout_prob": 0.4, "weight_decay": 1e-4}]


class Curve:
    """An epoch hook that records every validation metric; ``stop_at`` raises there, as a pruner."""

    def __init__(self, stop_at: int | None = None):
        self.epochs, self.metrics, self.stop_at = [], [], stop_at

    def __call__(self, epoch, valid):
        self.epochs.append(epoch)
        self.metrics.append(dict(valid))
        if epoch == self.stop_at:
            raise Pruned(f"pruned at {epoch}")


class Pruned(Exception):
    pass


def unfused(model, settings):
    curve = Curve()
    return train(model, {**BASE, **settings}, dataset="synthetic-tiny", on_epoch=curve), curve


def assert_same_curves(fused: Curve, alone: Curve, epochs: int):
    assert fused.epochs == alone.epochs == list(range(1, epochs + 1))
    for mine, theirs in zip(fused.metrics, alone.metrics):
        assert mine.keys() == theirs.keys()
        for key in mine:
            assert mine[key] == pytest.approx(theirs[key], abs=1e-4), key


@pytest.mark.parametrize("model, variants", [("Caser", CASER), ("GRU4RecF", GRU4RECF)])
def test_each_member_reproduces_its_unfused_trial_epoch_by_epoch(model, variants):
    curves = [Curve() for _ in variants]
    outcomes = fit_fused(model, "synthetic-tiny", [Member({**BASE, **v}, on_epoch=c) for v, c in zip(variants, curves)])
    finals = set()
    for variant, curve, outcome in zip(variants, curves, outcomes):
        result, alone = unfused(model, variant)
        assert_same_curves(curve, alone, 5)
        assert outcome.best_epoch == result.best_epoch and outcome.epochs == result.epochs == 5
        for key, value in result.test.items():
            assert outcome.test[key] == pytest.approx(value, abs=1e-4), key
        assert [r["loss"] for r in outcome.history] == pytest.approx([r["loss"] for r in result.history], rel=1e-4)
        finals.add(round(outcome.history[-1]["loss"], 3))
    assert len(finals) == len(variants)  # the members really trained differently


def test_a_member_that_leaves_early_leaves_the_others_unchanged():
    pruned, short, full = Curve(stop_at=2), Curve(), Curve()
    members = [Member({**BASE, **CASER[0]}, on_epoch=pruned), Member({**BASE, **CASER[1], "epochs": 3}, on_epoch=short),
               Member({**BASE, **CASER[2]}, on_epoch=full)]
    outcomes = fit_fused("Caser", "synthetic-tiny", members)
    assert isinstance(outcomes[0], Pruned) and pruned.epochs == [1, 2]
    assert outcomes[1].epochs == 3 and short.epochs == [1, 2, 3]
    assert_same_curves(full, unfused("Caser", CASER[2])[1], 5)
    assert_same_curves(short, unfused("Caser", {**CASER[1], "epochs": 3})[1], 3)


def test_bpr_members_share_the_unfused_negatives():
    bpr = {"loss_type": "BPR", "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}, "epochs": 3}
    curve = Curve()
    fit_fused("Caser", "synthetic-tiny", [Member({**BASE, **CASER[1], **bpr}, on_epoch=curve)])
    assert_same_curves(curve, unfused("Caser", {**CASER[1], **bpr})[1], 3)


def test_trials_of_different_shapes_are_refused_with_the_difference_named():
    with pytest.raises(TrainingError, match=r"embedding_size \(64 vs 32\)"):
        fit_fused("Caser", "synthetic-tiny", [Member(BASE), Member({**BASE, "embedding_size": 32})])


def test_the_fusion_key_ignores_exactly_the_member_settings():
    a = {**BASE, "learning_rate": 0.1, "reg_weight": 0.0, "dropout_prob": 0.1, "epochs": 3, "stopping_step": 1, "weight_decay": 0}
    b = {**BASE, "learning_rate": 0.2, "reg_weight": 1.0, "dropout_prob": 0.5, "epochs": 9, "stopping_step": 4, "weight_decay": 1}
    assert fusion_key(a) == fusion_key(b) and differences(a, b) == []
    assert fusion_key(a) != fusion_key({**a, "seed": 4}) and differences(a, {**a, "seed": 4}) == ["seed (3 vs 4)"]
