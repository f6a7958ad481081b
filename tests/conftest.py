"""Fixtures every test directory shares."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _denormals_back_on():
    """Training flushes denormal floats to zero for the rest of the process (tuner.training.trainer);
    hypothesis refuses to draw floats in such a process, so each test hands the next one IEEE floats."""
    yield
    torch.set_flush_denormal(False)
