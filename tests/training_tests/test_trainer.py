"""The epoch loop against a tiny real model on hand-built data."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.training_tests.tiny import Bigram, cycle_dataset
from tuner.errors import ConfigError, NonFiniteLossError, TrainingError
from tuner.training import RunResult, fit
from tuner.training.evaluation import evaluate
from tuner.training.seeding import init_seed

ROOT = Path(__file__).resolve().parents[2]

FAST = {
    "learning_rate": 0.05,
    "train_batch_size": 16,
    "epochs": 30,
    "stopping_step": 3,
    "topk": [1, 5],
    "valid_metric": "NDCG@5",
}


def trained(settings=FAST, seed=7, data=None, **kwargs) -> tuple[Bigram, RunResult]:
    init_seed(seed)
    data = data or cycle_dataset()
    model = Bigram(data.n_item_ids, **kwargs.pop("model", {}))
    return model, fit(model, data, {**settings, "seed": seed}, **kwargs)


def test_learns_the_pattern_and_reports_every_metric():
    _, result = trained()
    assert result.test["hit@1"] > 0.9  # next item = last + 1, learnt
    assert set(result.test) == {f"{m}@{k}" for m in ("recall", "ndcg", "mrr", "hit", "precision") for k in (1, 5)}
    assert result.valid == result.history[result.best_epoch - 1]["valid"]
    assert 1 <= result.best_epoch <= result.epochs
    assert result.epochs == len(result.history) and result.seconds > 0


def test_per_user_ranks_give_the_reported_metrics():
    """The ranks of the best validation epoch and of the test, one per user in split order, are what
    the mean metrics were computed from; train_loss is the last epoch's mean batch loss."""
    from tuner.per_user import per_user_values

    data = cycle_dataset()
    _, result = trained(data=data)
    assert set(result.ranks) == {"valid", "test"}
    for split, metrics in (("valid", result.valid), ("test", result.test)):
        ranks = result.ranks[split]
        assert ranks.shape == (len(getattr(data, split)),) and 0 <= ranks.min() and ranks.max() <= 5
        for key in ("ndcg@5", "mrr@5", "hit@1", "precision@5"):
            assert per_user_values(ranks, key).mean() == pytest.approx(metrics[key], rel=1e-9)
    batches = -(-len(data.train) // FAST["train_batch_size"])
    assert result.train_loss == pytest.approx(result.history[-1]["loss"] / batches)


def test_an_untrained_model_scores_far_worse():
    init_seed(7)
    data = cycle_dataset()
    model = Bigram(data.n_item_ids)
    before = evaluate(model, data.test, metrics=["hit"], topk=[1], batch_size=64)
    assert before["hit@1"] < 0.5


def test_test_metrics_use_the_best_validation_weights():
    model, result = trained()
    data = cycle_dataset()
    # the model ends on the best weights: evaluating it again gives the reported test and valid metrics
    assert evaluate(model, data.test, metrics=["ndcg"], topk=[5], batch_size=4)["ndcg@5"] == pytest.approx(
        result.test["ndcg@5"]
    )
    assert evaluate(model, data.valid, metrics=["ndcg"], topk=[5], batch_size=4)["ndcg@5"] == pytest.approx(
        result.valid["ndcg@5"]
    )


def test_early_stopping_ends_the_run_stopping_step_plus_one_validations_after_the_best():
    # Validation contradicts the training pattern, so learning makes it worse and the run stops early.
    _, result = trained({**FAST, "epochs": 100, "stopping_step": 2}, data=cycle_dataset(contradicting_valid=True))
    assert result.epochs < 100
    assert result.epochs == result.best_epoch + 2 + 1
    scores = [round(r["valid"]["ndcg@5"], 4) for r in result.history]
    assert max(scores) == scores[result.best_epoch - 1]
    assert all(s < scores[result.best_epoch - 1] for s in scores[result.best_epoch :])


def test_equal_validation_scores_never_stop_the_run():
    # learning_rate tiny enough that rankings never change: every validation ties the best, which
    # RecBole counts as an improvement, so the run goes to the last epoch and that epoch is the best.
    _, result = trained({**FAST, "learning_rate": 1e-12, "epochs": 6, "stopping_step": 0})
    assert result.epochs == 6 and result.best_epoch == 6


def test_eval_step_validates_every_nth_epoch_and_calls_the_hook_then():
    calls = []
    _, result = trained(
        {**FAST, "epochs": 7, "eval_step": 3}, on_epoch=lambda epoch, valid: calls.append((epoch, valid["ndcg@5"]))
    )
    assert [c[0] for c in calls] == [3, 6]
    assert [("valid" in r) for r in result.history] == [False, False, True, False, False, True, False]
    assert result.best_epoch in (3, 6) and result.epochs == 7


def test_progress_sees_every_epoch_record():
    records = []
    _, result = trained({**FAST, "epochs": 3}, progress=records.append)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert all(r["loss"] > 0 and r["train_seconds"] >= 0 and "ndcg@5" in r["valid"] for r in records)


class Pruned(Exception):
    pass


def test_a_hook_exception_propagates_and_the_optimizer_is_released():
    def prune(epoch, valid):
        if epoch == 2:
            raise Pruned

    init_seed(1)
    model = Bigram(cycle_dataset().n_item_ids)
    with pytest.raises(Pruned) as caught:
        fit(model, cycle_dataset(), FAST, on_epoch=prune)
    gc.collect()
    # even while the exception (and its traceback) is alive, no optimizer state survives
    assert caught.value is not None
    assert not [o for o in gc.get_objects() if type(o) is torch.optim.Adam]
    assert all(p.grad is None for p in model.parameters())


def test_a_non_finite_loss_stops_the_run():
    with pytest.raises(NonFiniteLossError, match="epoch 1"):
        trained(model={"loss_scale": float("inf")})


def test_same_seed_same_run_other_seed_other_run():
    _, a = trained({**FAST, "epochs": 3}, seed=3)
    _, b = trained({**FAST, "epochs": 3}, seed=3)
    _, c = trained({**FAST, "epochs": 3}, seed=4)
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    assert [r["loss"] for r in a.history] != [r["loss"] for r in c.history]


def test_bpr_models_get_a_negative_that_is_not_the_target():
    init_seed(0)
    model = Bigram(cycle_dataset().n_item_ids, loss_type="BPR")
    model.record_batches = True
    result = fit(model, cycle_dataset(), {**FAST, "epochs": 2})
    assert result.epochs == 2 and model.seen_batches
    for batch in model.seen_batches:
        assert batch.neg_item is not None and batch.neg_item.shape == batch.target.shape
        assert not (batch.neg_item == batch.target).any() and (batch.neg_item >= 1).all()


def test_device_names_are_checked():
    with pytest.raises(ConfigError, match="expected cpu, cuda or cuda:N"):
        trained(device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            trained(device="cuda:0")


def test_bad_trainer_values_are_config_errors():
    for key, value, message in [
        ("learning_rate", 0, "positive number"),
        ("learning_rate", "fast", "positive number"),
        ("epochs", 2.5, "integer >= 1"),
        ("stopping_step", -1, "integer >= 0"),
        ("valid_metric", "GAUC", "METRIC@K"),
        ("valid_metric", "AUC", "only the D2L protocol"),
        ("metrics", ["NDCG", "GAUC"], "unknown metric"),
        ("reproducibility", "yes", "true or false"),
    ]:
        with pytest.raises(ConfigError, match=message):
            trained({**FAST, key: value})


def test_an_empty_split_is_refused():
    data = cycle_dataset()
    empty = type(data.valid)(*(t[:0] for t in (data.valid.user, data.valid.item_seq, data.valid.item_len, data.valid.target)))
    from dataclasses import replace

    with pytest.raises(TrainingError, match="valid split is empty"):
        fit(Bigram(data.n_item_ids), replace(data, valid=empty), FAST)


def live_tensor_count() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) in (torch.Tensor, torch.nn.Parameter))


def test_repeated_runs_leave_no_tensors_behind():
    data = cycle_dataset()
    counts = []
    for seed in range(4):
        init_seed(seed)
        model = Bigram(data.n_item_ids)
        fit(model, data, {**FAST, "epochs": 2})
        del model
        counts.append(live_tensor_count())
    assert counts[1] == counts[2] == counts[3], counts


def test_training_flushes_denormals_so_late_epochs_keep_their_speed():
    # in a fresh process: this one's earlier tests have trained already
    program = (
        "import torch; from tests.training_tests.test_trainer import FAST, trained\n"
        "tiny = torch.full((1000,), 1e-39)\n"
        "before = (tiny * 1.0).sum().item()\n"
        "trained({**FAST, 'epochs': 1})\n"
        "print(before, (tiny * 1.0).sum().item())\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=ROOT)
    before, after = map(float, done.stdout.split())
    assert before > 0  # denormals are kept by default
    assert after == 0.0  # flushed once training has run


def test_the_model_is_prepared_on_its_device_before_the_first_epoch():
    events = []

    class Recording(Bigram):
        def prepare(self, device):
            events.append(("prepare", torch.device(device).type))

    init_seed(7)
    data = cycle_dataset()
    fit(Recording(data.n_item_ids), data, {**FAST, "epochs": 2}, progress=lambda record: events.append("epoch"))
    assert events == [("prepare", "cpu"), "epoch", "epoch"]
