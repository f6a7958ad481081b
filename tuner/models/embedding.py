"""``nn.Embedding`` whose CPU gradient is one straight pass (``csrc/embedding.cpp``).

torch's CPU embedding backward (``embedding_dense_backward``) sorts the looked-up indices before it
adds their gradients; the models' lookups are tens of thousands of rows into tables of a few
thousand, where adding each row in place, in index order, is several times faster. Everything else
(the forward, the parameter, ``padding_idx`` getting no gradient, state dicts) is nn.Embedding's;
off the CPU, in float64, or where the kernels can't build, it is nn.Embedding outright.
:func:`lookup` does the same for a table computed in the forward (GRU4RecF's pooled item features).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tuner.models.native import cpu_kernels


def _kernels_for(weight: torch.Tensor):
    if weight.device.type == "cpu" and weight.dtype == torch.float32 and weight.requires_grad:
        return cpu_kernels()
    return None


def lookup(index: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a computed (non-parameter) table, with the CPU gradient above: indexing's
    own gradient is an ``index_put_`` with accumulation, slower still than embedding_dense_backward."""
    if _kernels_for(table) is None:
        return F.embedding(index, table)
    return _Lookup.apply(index, table, -1)


class Embedding(nn.Embedding):
    """nn.Embedding with the CPU gradient above; only the defaults of max_norm and sparse are supported."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.max_norm is not None or self.sparse or self.scale_grad_by_freq or _kernels_for(self.weight) is None:
            return super().forward(input)
        return _Lookup.apply(input, self.weight, -1 if self.padding_idx is None else self.padding_idx)


class _Lookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx, index, weight, padding_idx):
        ctx.save_for_backward(index)
        ctx.n_rows, ctx.padding_idx = weight.shape[0], padding_idx
        return F.embedding(index, weight)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        d = grad.shape[-1]
        grad_weight = cpu_kernels().embedding_backward(grad.reshape(-1, d), index.reshape(-1).long(), ctx.n_rows, ctx.padding_idx)
        return None, grad_weight, None
