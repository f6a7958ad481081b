"""Caser's vertical convolution: nv filters of size (L, 1), i.e. nv learned weightings of the L rows.

``out[b, v, :] = bias[v] + sum_l weight[v, l] * E[b, l, :]``, RecBole's ``conv_v`` output viewed as
(B, nv, d). With torch ops it is one small product per example (``bmm``), whose per-product
overhead dominated: 4.5 ms of a 60 ms Caser step at batch 2048. On the CPU in float32, with the
embedding size a multiple of 8, C++ kernels (``csrc/vertical.cpp``) do it in a few vector passes.
"""

from __future__ import annotations

import torch

from tuner.models.native import cpu_kernels


def kernels_for(E: torch.Tensor, weight: torch.Tensor):
    """The C++ kernels where they run this convolution (CPU, float32, d a multiple of 8), else None."""
    if E.device.type == "cpu" and E.dtype == weight.dtype == torch.float32 and E.shape[2] % 8 == 0:
        return cpu_kernels()
    return None


def vertical_conv(E: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(B, nv, d) from ``E`` (B, L, d), ``weight`` (nv, L) and ``bias`` (nv,)."""
    if kernels_for(E, weight) is None:
        # torch.matmul would transpose E into a copy first; bmm reads it as it is
        return torch.bmm(weight.expand(E.shape[0], -1, -1), E) + bias[:, None]
    return _VerticalConv.apply(E, weight, bias)


class _VerticalConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, E, weight, bias):
        ctx.save_for_backward(E, weight)
        return cpu_kernels().vertical_forward(E, weight, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        E, weight = ctx.saved_tensors
        return tuple(cpu_kernels().vertical_backward(E, weight, grad))  # grad_E, grad_weight, grad_bias
