"""Which devices a worker uses and how its slots share them.

``--devices auto`` means every GPU torch can see, else the CPU. A GPU slot is pinned to its GPU with
``torch.cuda.set_device`` and trains on ``cuda:N``; ``CUDA_VISIBLE_DEVICES`` is left as the user set it
(so ``cuda:N`` means what it means in the user's shell, nvidia-smi's order permitting). CPU slots split
the cores between them (torch threads), so two slots do not each spin up every core.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from tuner.environment import DEVICES, TRIALS_PER_DEVICE
from tuner.errors import ConfigError

_CUDA = re.compile(r"cuda(?::(\d+))?")


@dataclass(frozen=True)
class Slot:
    """One worker slot: a process that runs one trial at a time."""

    index: int  # 0, 1, ... within the worker
    device: str  # "cpu" or "cuda:N"
    threads: int  # torch intra-op threads for this slot
    per_device: int  # slots sharing this slot's device


def cuda_device_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_devices(spec: str, gpu_count: int) -> tuple[list[str], str | None]:
    """``auto`` / ``cpu`` / ``cuda:0,cuda:1`` -> the device list, and a note for the log (or None)."""
    spec = spec.strip().lower()
    if spec == "auto":
        if gpu_count == 0:
            return ["cpu"], "--devices auto: no GPU visible to torch, using the CPU"
        return [f"cuda:{i}" for i in range(gpu_count)], None
    devices: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if part == "cpu":
            device = "cpu"
        elif match := _CUDA.fullmatch(part):
            index = int(match.group(1) or 0)
            if index >= gpu_count:
                seen = f"{gpu_count} GPU(s): cuda:0..cuda:{gpu_count - 1}" if gpu_count else "no GPU"
                visible = os.environ.get("CUDA_VISIBLE_DEVICES")
                hint = f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""
                raise ConfigError(f"--devices {part}: torch sees {seen}{hint}")
            device = f"cuda:{index}"
        else:
            raise ConfigError(f"--devices {part!r}: expected auto, cpu, or cuda:N[,cuda:M...]")
        if device in devices:
            raise ConfigError(f"--devices: {device} given twice (use --trials-per-device for more slots on one device)")
        devices.append(device)
    return devices, None


def plan_slots(
    devices: str | None = None,
    trials_per_device: int | None = None,
    *,
    total: int | None = None,
    gpu_count: Callable[[], int] = cuda_device_count,
    cores: int | None = None,
) -> tuple[list[Slot], str | None]:
    """The slots a worker runs, and a note for the log.

    ``devices``/``trials_per_device`` default to ``$TUNER_DEVICES`` (else ``auto``) and
    ``$TUNER_TRIALS_PER_DEVICE`` (else 1). ``total`` (``tuner run --workers N``) instead spreads N slots
    over the devices in turn. ``gpu_count`` is replaceable so tests can pretend to have GPUs.
    """
    devices = devices or os.environ.get(DEVICES) or "auto"
    device_list, note = resolve_devices(devices, gpu_count())
    if total is not None:
        if total < 1:
            raise ConfigError(f"--workers {total}: expected at least 1")
        assigned = [device_list[i % len(device_list)] for i in range(total)]
    else:
        per = trials_per_device if trials_per_device is not None else _env_int(TRIALS_PER_DEVICE, 1)
        if per < 1:
            raise ConfigError(f"--trials-per-device {per}: expected at least 1")
        assigned = [d for d in device_list for _ in range(per)]
    cores = cores or cpu_cores()
    n_cpu = sum(d == "cpu" for d in assigned)
    slots = []
    for index, device in enumerate(assigned):
        sharing = assigned.count(device)
        # CPU slots split the cores; GPU slots only feed their GPU, so each gets an even share of all cores.
        threads = max(1, cores // n_cpu) if device == "cpu" else max(1, cores // len(assigned))
        slots.append(Slot(index=index, device=device, threads=threads, per_device=sharing))
    return slots, note


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"${name}={value!r}: expected a whole number") from None


def pin(slot: Slot) -> None:
    """Set up this process for its slot: torch threads, and the GPU it is pinned to."""
    import torch

    torch.set_num_threads(slot.threads)
    if slot.device.startswith("cuda"):
        torch.cuda.set_device(torch.device(slot.device))


def release_memory(device: str, *, collect: bool = True) -> int | None:
    """After a trial: free its garbage and return cached GPU memory to the driver; the trial's peak
    GPU memory in MiB (None on the CPU). ``collect``: run a full garbage collection first (about 0.1 s
    with torch loaded: worth it after real training, skipped after a trial that did almost nothing)."""
    import gc

    if collect:
        gc.collect()
        from tuner.training.heap import release_freed_memory

        release_freed_memory()
    if not device.startswith("cuda"):
        return None
    import torch

    peak = torch.cuda.max_memory_allocated(device) // 2**20
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    return int(peak)
