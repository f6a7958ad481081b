"""K members' bias-free GRU layers as one batched recurrence (torch ops, CPU and CUDA alike).

``torch.func.vmap`` has no batching rule for ``nn.GRU`` (pytorch#134606), and cuDNN's GRU takes one
weight set. Here the input projection of all members and steps is one ``bmm``, and each time step
one ``bmm`` of the K states against their recurrent weights plus the gate arithmetic: nn.GRU's
formulas (gate order r, z, n; ``h = n + z * (h_prev - n)``), so a member's layer is the one its
unfused model computes. Autograd records the steps; the C++ whole-sequence kernel of
:mod:`tuner.models.gru` serves one member and is not batched (yet).
"""

from __future__ import annotations

import torch


def batched_gru_layer(x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
    """(K, B, L, H): the outputs of K bias-free GRU layers starting from a zero state.

    ``x`` (K, B, L, I); ``w_ih`` (K, 3H, I) and ``w_hh`` (K, 3H, H), nn.GRU's ``weight_ih_l*`` and
    ``weight_hh_l*`` stacked.
    """
    K, B, L, _ = x.shape
    H = w_hh.shape[2]
    gates_in = torch.bmm(x.reshape(K, B * L, -1), w_ih.transpose(1, 2)).view(K, B, L, 3 * H)
    w_hh_t = w_hh.transpose(1, 2)  # (K, H, 3H)
    h = x.new_zeros(K, B, H)
    outputs = []
    for t in range(L):
        gi = gates_in[:, :, t]  # (K, B, 3H)
        gh = torch.bmm(h, w_hh_t)  # (K, B, 3H)
        r = torch.sigmoid(gi[..., :H] + gh[..., :H])
        z = torch.sigmoid(gi[..., H : 2 * H] + gh[..., H : 2 * H])
        n = torch.tanh(gi[..., 2 * H :] + r * gh[..., 2 * H :])
        h = n + z * (h - n)
        outputs.append(h)
    return torch.stack(outputs, 2)  # (K, B, L, H)


def batched_gru(x: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """(K, B, L, H): stacked layers (no dropout between them, as GRU4RecF's GRUs), ``layers`` =
    [(w_ih, w_hh) per layer], each stacked over the members."""
    for w_ih, w_hh in layers:
        x = batched_gru_layer(x, w_ih, w_hh)
    return x
