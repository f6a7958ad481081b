"""Caser's two convolution branches as one autograd node, where the C++ kernels run them.

``caser_convolutions`` is ``cat([vertical_conv(E).flatten(1), relu(horizontal_max_pool(E))], 1)``:
RecBole's concatenated convolution output before dropout. As one node, its backward reads the
incoming gradient in place (no ``cat`` backward copies), takes the bias gradients from the kernels'
own passes, and the horizontal kernel adds its input gradient to the vertical one's: one (B, L, d)
gradient for the embedding lookup instead of two and their sum. Elsewhere (CUDA, float64, a
branch switched off with nv = 0 or nh = 0, no kernels) it is the composition above.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tuner.models.horizontal import horizontal_max_pool
from tuner.models.native import cpu_kernels
from tuner.models.vertical import kernels_for as vertical_kernels_for
from tuner.models.vertical import vertical_conv


def caser_convolutions(E, v_weight, v_bias, h_weight, h_bias, groups=None) -> torch.Tensor:
    """(B, nv*d + L*nh) from ``E`` (B, L, d), the vertical filters ``v_weight`` (nv, L) and
    ``v_bias`` (nv,), and the packed horizontal ones ``h_weight`` (L(L+1)/2, nh, d) and ``h_bias`` (L, nh)."""
    nv, nh = v_weight.shape[0], h_weight.shape[1]
    # where the vertical kernel runs (CPU, float32, d a multiple of 8), the horizontal one does too
    if nv > 0 and nh > 0 and h_weight.dtype == torch.float32 and vertical_kernels_for(E, v_weight) is not None:
        return _CaserConvolutions.apply(E, v_weight, v_bias, h_weight, h_bias)
    parts = []
    if nv:
        parts.append(vertical_conv(E, v_weight, v_bias).flatten(1))  # RecBole's view(-1, nv*d) order
    if nh:
        parts.append(F.relu(horizontal_max_pool(E, h_weight, h_bias, groups)))
    return torch.cat(parts, 1)


class _CaserConvolutions(torch.autograd.Function):
    @staticmethod
    def forward(ctx, E, v_weight, v_bias, h_weight, h_bias):
        kernels = cpu_kernels()
        E, v_weight, h_weight = E.detach(), v_weight.detach(), h_weight.detach()
        vertical = kernels.vertical_forward(E, v_weight, v_bias.detach())  # (B, nv, d)
        values, start = kernels.horizontal_forward(E, h_weight)  # (B, L*nh): max over starts, bias excluded
        horizontal = values.add_(h_bias.detach().reshape(1, -1)).relu_()
        ctx.save_for_backward(E, v_weight, h_weight, start, horizontal)
        return torch.cat([vertical.flatten(1), horizontal], 1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        E, v_weight, h_weight, start, horizontal = ctx.saved_tensors
        kernels = cpu_kernels()
        B, L, d = E.shape
        split = v_weight.shape[0] * d
        grad_E, grad_v_weight, grad_v_bias = kernels.vertical_backward(E, v_weight, grad[:, :split].view(B, -1, d))
        grad_h = grad[:, split:].masked_fill(horizontal <= 0, 0)  # ReLU's gradient, as threshold_backward
        _, grad_h_weight = kernels.horizontal_backward(E, h_weight, start, grad_h, grad_E)  # adds into grad_E
        return grad_E, grad_v_weight, grad_v_bias, grad_h_weight, grad_h.sum(0).view(L, -1)
