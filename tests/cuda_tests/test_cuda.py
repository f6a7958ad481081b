"""On a CUDA GPU (marked ``cuda``; skipped without one): discovery, slot pinning, unfused and fused
training on cuda:0, GPU memory over many trials. ``benchmarks/device_check.sh`` runs them there."""

from __future__ import annotations

import pytest
import torch

from tuner.service import devices
from tuner.training import train
from tuner.training.fused import Member, fit_fused

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

QUICK = {"MAX_ITEM_LIST_LENGTH": 5, "epochs": 3, "train_batch_size": 128, "stopping_step": 100, "dropout_prob": 0.0}


def test_auto_finds_every_gpu_and_plans_a_slot_on_each():
    slots, note = devices.plan_slots("auto", 2)
    assert note is None
    assert [s.device for s in slots] == [f"cuda:{i}" for i in range(torch.cuda.device_count()) for _ in range(2)]


def test_a_slot_is_pinned_to_its_gpu():
    last = torch.cuda.device_count() - 1
    devices.pin(devices.Slot(index=0, device=f"cuda:{last}", threads=2, per_device=1))
    assert torch.cuda.current_device() == last and torch.get_num_threads() == 2
    devices.pin(devices.Slot(index=0, device="cuda:0", threads=2, per_device=1))


@pytest.mark.parametrize("model", ["Caser", "GRU4RecF"])
def test_unfused_training_runs_on_the_gpu(model):
    seen = []
    result = train(model, QUICK, dataset="synthetic-tiny", device="cuda:0", on_epoch=lambda e, v: seen.append(v))
    assert result.epochs == 3 and 0 < result.test["ndcg@10"] <= 1 and len(seen) == 3
    assert torch.cuda.max_memory_allocated(0) > 0


@pytest.mark.parametrize("model", ["Caser", "GRU4RecF"])
def test_fused_members_follow_their_unfused_runs_on_the_gpu(model):
    variants = [{"learning_rate": 0.01}, {"learning_rate": 0.002, "weight_decay": 1e-4}]
    curves = [[] for _ in variants]
    outcomes = fit_fused(model, "synthetic-tiny", [Member({**QUICK, **v}, on_epoch=lambda e, m, c=c: c.append(m["ndcg@10"]))
                                                   for v, c in zip(variants, curves)], device="cuda:0")
    for variant, curve, outcome in zip(variants, curves, outcomes):
        alone = []
        train(model, {**QUICK, **variant}, dataset="synthetic-tiny", device="cuda:0", on_epoch=lambda e, m: alone.append(m["ndcg@10"]))
        assert outcome.epochs == 3
        assert curve == pytest.approx(alone, abs=2e-3)  # GPU kernels differ between batched and single products


def test_fused_dropout_draws_own_masks_on_the_gpu():
    curves = [[] for _ in range(2)]
    fit_fused("Caser", "synthetic-tiny", [Member({**QUICK, "dropout_prob": p}, on_epoch=lambda e, m, c=c: c.append(m["ndcg@10"]))
                                          for p, c in zip((0.0, 0.5), curves)], device="cuda:0")
    assert curves[0] != curves[1]


def test_gpu_memory_stays_flat_over_20_trials():
    allocated = []
    for seed in range(20):
        train(("Caser", "GRU4RecF")[seed % 2], {**QUICK, "epochs": 1, "seed": seed}, dataset="synthetic-tiny", device="cuda:0")
        devices.release_memory("cuda:0")
        allocated.append(torch.cuda.memory_allocated(0))
    assert allocated[-1] <= allocated[1] + 2**20, allocated
