"""Shared builders for the model tests (a uniquely named module: test folders are not packages)."""

import os
from pathlib import Path

import pytest
import torch

from tuner.models import Batch, native

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def random_batch(batch_size: int, max_seq_length: int, n_user_ids: int, n_item_ids: int) -> Batch:
    """Left-aligned, 0-padded histories of random lengths 1..L, with a negative for BPR."""
    lengths = torch.randint(1, max_seq_length + 1, (batch_size,))
    items = torch.randint(1, n_item_ids, (batch_size, max_seq_length))
    items[torch.arange(max_seq_length)[None, :] >= lengths[:, None]] = 0
    return Batch(
        user=torch.randint(1, n_user_ids, (batch_size,)),
        item_seq=items,
        item_len=lengths,
        target=torch.randint(1, n_item_ids, (batch_size,)),
        neg_item=torch.randint(1, n_item_ids, (batch_size,)),
    )


def load_fixture(name: str) -> dict:
    """RecBole 1.2.1's weights, batch and outputs on ml-100k (see /work/shared/reference)."""
    return torch.load(FIXTURES / f"recbole-{name}-ml100k.pt", weights_only=True)


def require_kernels():
    """Skip where the C++ CPU kernels can't build here, but fail on CI, whose machines have g++ and ninja."""
    if native.cpu_kernels() is None:
        if os.environ.get("CI"):
            pytest.fail("the C++ CPU kernels did not build; CI machines have g++ and ninja")
        pytest.skip("no C++ build here: the torch-op path is what runs")


KERNEL_PATHS = ["C++ kernels", "torch ops"]


def take_path(path: str, module, monkeypatch) -> str:
    """For a fixture parametrised by KERNEL_PATHS: on "torch ops" ``module`` sees no C++ kernels;
    otherwise the kernels must be there (see require_kernels)."""
    if path == "torch ops":
        monkeypatch.setattr(module, "cpu_kernels", lambda: None)
    else:
        require_kernels()
    return path


class CountingKernels:
    """The real C++ kernels, recording in ``calls`` each entry point looked up whose name starts with
    ``prefix`` (every one with the default); monkeypatch a module's ``cpu_kernels`` to return it."""

    def __init__(self, calls: list, prefix: str = ""):
        self.real, self.calls, self.prefix = native.cpu_kernels(), calls, prefix

    def __getattr__(self, name):
        if name.startswith(self.prefix):
            self.calls.append(name)
        return getattr(self.real, name)
