"""K Caser members trained as one: grouped convolutions and batched products over a leading K dimension.

Layer by layer, for all K members at once (B examples, L positions, d the embedding size):
* the embedding lookups are one lookup into the (K * n_item_ids, d) stack: E (K, B, L, d);
* the vertical filters are one ``einsum``; the horizontal ones the batched products of
  :mod:`tuner.models.fused.horizontal` (as many per step as for one member, whatever K);
* fc1, fc2 and the item scores are ``baddbmm``/``bmm`` over K; the cross-entropy is one call on the
  (K * B, n_item_ids) scores, then averaged per member.
The unfused model's C++ CPU kernels work on one member's tensors and are not used here: the
members' products are batched torch ops (MKL on the CPU, cuBLAS/cuDNN on a GPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from tuner.models.base import Batch
from tuner.models.caser import Caser
from tuner.models.fused.horizontal import fused_horizontal_max_pool
from tuner.models.fused.stacked import FusedModel, linear, next_item_losses, stack, stacked_lookup


class FusedCaser(FusedModel):
    def __init__(self, members: Sequence[Caser], generators: Sequence[torch.Generator | None]):
        super().__init__(members, generators)
        first = members[0].config
        self.config = first
        self.L, self.d, self.nh, self.nv = first.max_seq_length, first.embedding_size, first.nh, first.nv

    def member_losses(self, batch: Batch) -> torch.Tensor:
        members = list(self.members)
        K, L, d, nh, nv = len(members), self.L, self.d, self.nh, self.nv
        items = stack(members, lambda m: m.item_embedding.weight)  # (K, n_item_ids, d)
        users = stack(members, lambda m: m.user_embedding.weight)  # (K, n_user_ids, d)
        E = stacked_lookup(batch.item_seq, items, padding_idx=0)  # (K, B, L, d)
        parts = []
        if nv:
            weight = stack(members, lambda m: m.conv_v_weight)  # (K, nv, L)
            bias = stack(members, lambda m: m.conv_v_bias)  # (K, nv)
            vertical = torch.einsum("kvl,kbld->kbvd", weight, E) + bias[:, None, :, None]  # (K, B, nv, d)
            parts.append(vertical.reshape(K, -1, nv * d))  # RecBole's view(-1, nv*d) order per member
        if nh:
            weight = stack(members, lambda m: m.conv_h_weight)  # (K, L(L+1)/2, nh, d)
            bias = stack(members, lambda m: m.conv_h_bias)  # (K, L, nh)
            parts.append(F.relu(fused_horizontal_max_pool(E, weight, bias)))  # (K, B, L*nh), column (h-1)*nh + f
        out = self.dropout(torch.cat(parts, 2))  # (K, B, nv*d + L*nh)
        z = F.relu(linear(out, stack(members, lambda m: m.fc1.weight), stack(members, lambda m: m.fc1.bias)))  # (K, B, d)
        user = stacked_lookup(batch.user, users)  # (K, B, d)
        both = torch.cat([z, user], 2)  # (K, B, 2d)
        sequence = F.relu(linear(both, stack(members, lambda m: m.fc2.weight), stack(members, lambda m: m.fc2.bias)))
        losses = next_item_losses(self.config.loss_type, sequence, items, batch)  # (K,)
        return losses + self._regularization(members, items, users, L)

    def _regularization(self, members, items, users, L) -> torch.Tensor:
        """(K,): each member's :meth:`Caser.regularization`, its reg_weight times its weights' L2 norms."""
        reg_weight = torch.tensor([m.config.reg_weight for m in members], dtype=items.dtype, device=items.device)
        norms = items.flatten(1).norm(dim=1) + users.flatten(1).norm(dim=1)  # (K,)
        for weight in (lambda m: m.conv_v_weight, lambda m: m.fc1.weight, lambda m: m.fc2.weight):
            norms = norms + stack(members, weight).flatten(1).norm(dim=1)
        if self.nh:
            packed = stack(members, lambda m: m.conv_h_weight)  # (K, S, nh, d)
            squares = packed.pow(2).sum((2, 3))  # (K, S)
            per_height = squares.new_zeros(len(members), L).index_add(1, members[0].height_of_row, squares)  # (K, L)
            norms = norms + per_height.sqrt().sum(1)
        return reg_weight * norms
