"""Dropout whose CPU mask costs a fraction of ``nn.Dropout``'s.

PyTorch's CPU dropout draws one Bernoulli sample per element through a serial generator call:
about 11 ms for Caser's (2048, 336) activations on a 2-core machine, a tenth of its training step.
Here one 64-bit random word gives four 15-bit uniform integers and an element is kept when its
integer is at least ``round(p * 2**15)``: the drop probability is p to within 2**-16, and the kept
elements are scaled by the exact ``1 / keep`` so the expectation is unchanged, as in ``nn.Dropout``.
In float32 the C++ kernels (``csrc/dropout.cpp``) make the words from one seed drawn from torch's
generator, in one parallel pass (0.2 against 2 ms for Caser's mask); elsewhere torch's generator
draws every word. Off the CPU (where the fused kernel is already fast) and in eval mode it is
``nn.functional.dropout``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tuner.models.native import cpu_kernels

_LEVELS = 1 << 15  # a 15-bit uniform integer per element
_LOW_15_BITS = _LEVELS - 1


def keep_mask(shape: torch.Size, p: float, *, dtype: torch.dtype, generator: torch.Generator | None = None) -> torch.Tensor:
    """A CPU tensor of ``shape``: ``1 / keep`` where an element is kept, 0 where it is dropped.

    ``keep = 1 - round(p * 2**15) / 2**15``, the probability an element is kept.
    """
    n = shape.numel()
    threshold = round(p * _LEVELS)
    keep = 1.0 - threshold / _LEVELS
    scale = 1.0 / keep if keep > 0 else 0.0  # p within 2**-16 of 1 drops everything, as nn.Dropout(1.0)
    kernels = cpu_kernels() if dtype == torch.float32 else None
    if kernels is not None:
        seed = int(torch.empty((), dtype=torch.int64).random_(generator=generator))
        return kernels.dropout_keep_mask(n, threshold, scale, seed).view(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(generator=generator)  # 63 random bits each
    # the four int16 lanes of a word, low 15 bits each (bit 63 is always 0, bit 15 of each lane ignored)
    lanes = words.view(torch.int16)[:n].bitwise_and_(_LOW_15_BITS)  # (n,) uniform on 0 .. 2**15-1
    return lanes.ge_(threshold).to(dtype).mul_(scale).view(shape)


class Dropout(nn.Module):
    """``nn.Dropout(p)`` with the cheap mask above on the CPU (same interface, no parameters)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        return x * keep_mask(x.shape, self.p, dtype=x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"
