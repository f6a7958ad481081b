"""``nn.GRU`` whose CPU float32 forward and backward run as whole-sequence kernels (``csrc/gru.cpp``).

torch's CPU GRU computes each time step's cell as a dozen tensor operations, each recorded for
autograd; their backward adds a ``cat`` of the three gates' gradients per step. For GRU4RecF's two
GRUs (batch 2048, L = 10, hidden 128) those elementwise steps cost about a third of a training step.
The kernels make each step two products and one pass over the rows that forms the gates and the
new state, and each backward step one pass and four products. The arithmetic is nn.GRU's (gate
order r, z, n; ``h = n + z * (h_prev - n)``), so weights, state dicts and results carry over.

Only the configuration GRU4RecF uses takes the kernels: no biases, ``batch_first``, one direction,
no initial state, no dropout between layers, no projection, CPU float32. Anything else, and any
machine where the kernels can't build, is nn.GRU outright.
"""

from __future__ import annotations

import torch
from torch import nn

from tuner.models.native import cpu_kernels


class GRU(nn.GRU):
    """nn.GRU with the CPU kernels above for bias-free, batch-first, unidirectional layers."""

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None):
        kernels = self._kernels_for(input, hx)
        if kernels is None:
            return super().forward(input, hx)
        layer_input, last_states = input, []
        for layer in range(self.num_layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}")
            if torch.is_grad_enabled() and (layer_input.requires_grad or w_ih.requires_grad or w_hh.requires_grad):
                layer_input = _GRULayer.apply(layer_input, w_ih, w_hh)
            else:
                (layer_input,) = kernels.gru_forward(layer_input, w_ih, w_hh, False)
            last_states.append(layer_input[:, -1])
        return layer_input, torch.stack(last_states)  # (B, L, H), (num_layers, B, H)

    def _kernels_for(self, input: torch.Tensor, hx: torch.Tensor | None):
        plain = (
            not self.bias and self.batch_first and not self.bidirectional and self.proj_size == 0
            and (self.dropout == 0.0 or not self.training or self.num_layers == 1)
        )
        if not plain or hx is not None or input.dim() != 3 or input.shape[1] == 0:
            return None
        if input.device.type != "cpu" or input.dtype != torch.float32 or self.weight_hh_l0.dtype != torch.float32:
            return None
        return cpu_kernels()


class _GRULayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ih, w_hh):
        output, *gates = cpu_kernels().gru_forward(x, w_ih, w_hh, True)  # gates: each step's, (B, 4H)
        ctx.save_for_backward(x, w_ih, w_hh, output, *gates)
        return output  # (B, L, H)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, w_ih, w_hh, output, *gates = ctx.saved_tensors
        grad_x, grad_w_ih, grad_w_hh = cpu_kernels().gru_backward(
            grad_out, x, w_ih, w_hh, output, gates, ctx.needs_input_grad[0]
        )
        return grad_x, grad_w_ih, grad_w_hh
