"""Device discovery and slot plans, with the GPU count replaced by a fake (this machine has no GPU)."""

from __future__ import annotations

import pytest

from tuner.errors import ConfigError
from tuner.service.devices import Slot, cuda_device_count, plan_slots


def gpus(n: int):
    return lambda: n


def test_auto_uses_every_visible_gpu_with_k_slots_each():
    slots, note = plan_slots("auto", 2, gpu_count=gpus(2), cores=16)
    assert note is None
    assert slots == [
        Slot(0, "cuda:0", 4, 2), Slot(1, "cuda:0", 4, 2), Slot(2, "cuda:1", 4, 2), Slot(3, "cuda:1", 4, 2),
    ]


def test_auto_without_gpu_says_it_uses_the_cpu_and_splits_the_cores():
    slots, note = plan_slots("auto", 2, gpu_count=gpus(0), cores=8)
    assert note == "--devices auto: no GPU visible to torch, using the CPU"
    assert slots == [Slot(0, "cpu", 4, 2), Slot(1, "cpu", 4, 2)]


def test_this_machine_really_has_no_gpu_and_auto_means_cpu():
    assert cuda_device_count() == 0
    slots, note = plan_slots("auto", 1)
    assert [s.device for s in slots] == ["cpu"] and "using the CPU" in note


def test_explicit_gpu_list_and_cpu_mix():
    slots, _ = plan_slots("cuda:1,cpu", 1, gpu_count=gpus(2), cores=4)
    assert [(s.device, s.threads) for s in slots] == [("cuda:1", 2), ("cpu", 4)]


@pytest.mark.parametrize(
    "devices, count, message",
    [
        ("cuda:2", 2, "--devices cuda:2: torch sees 2 GPU(s): cuda:0..cuda:1"),
        ("cuda:0", 0, "--devices cuda:0: torch sees no GPU"),
        ("gpu", 1, "--devices 'gpu': expected auto, cpu, or cuda:N"),
        ("cuda:0,cuda:0", 1, "cuda:0 given twice"),
    ],
)
def test_bad_device_lists_are_explained(devices, count, message):
    with pytest.raises(ConfigError) as error:
        plan_slots(devices, 1, gpu_count=gpus(count))
    assert message in str(error.value)


def test_total_spreads_slots_over_devices_in_turn():
    slots, _ = plan_slots("auto", total=3, gpu_count=gpus(2), cores=6)
    assert [s.device for s in slots] == ["cuda:0", "cuda:1", "cuda:0"]
    assert [s.per_device for s in slots] == [2, 1, 2]


def test_environment_defaults(monkeypatch):
    monkeypatch.setenv("TUNER_DEVICES", "cuda:0")
    monkeypatch.setenv("TUNER_TRIALS_PER_DEVICE", "3")
    slots, _ = plan_slots(gpu_count=gpus(1), cores=6)
    assert [(s.device, s.threads) for s in slots] == [("cuda:0", 2)] * 3
    monkeypatch.setenv("TUNER_TRIALS_PER_DEVICE", "many")
    with pytest.raises(ConfigError, match=r"\$TUNER_TRIALS_PER_DEVICE='many': expected a whole number"):
        plan_slots(gpu_count=gpus(1))
