"""K Caser members trained as one: grouped convolutions and batched products over a leading K dimension.

Layer by layer, for all K members at once (B examples, L positions, d the embedding size):
* the embedding lookups are one lookup into the (K * n_item_ids, d) stack, laid out (B, K, L, d) so
  that the members are the channels of the convolutions;
* the vertical filters are one ``conv2d`` with ``groups=K``; each height's horizontal filters are one
  more (L grouped convolutions a step, whatever K), max-pooled over time and ReLU'd;
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
        E = stacked_lookup(batch.item_seq, items, padding_idx=0).transpose(0, 1)  # (B, K, L, d): members as channels
        parts = []
        if nv:
            weight = stack(members, lambda m: m.conv_v_weight)  # (K, nv, L)
            bias = stack(members, lambda m: m.conv_v_bias)  # (K, nv)
            vertical = F.conv2d(E, weight.reshape(K * nv, 1, L, 1), bias.reshape(K * nv), groups=K)  # (B, K*nv, 1, d)
            parts.append(vertical.reshape(-1, K, nv * d))  # RecBole's view(-1, nv*d) order per member
        if nh:
            packed = stack(members, lambda m: m.conv_h_weight)  # (K, L(L+1)/2, nh, d)
            biases = stack(members, lambda m: m.conv_h_bias)  # (K, L, nh)
            pooled = []
            for h in range(1, L + 1):
                rows = packed[:, h * (h - 1) // 2 : h * (h + 1) // 2]  # (K, h, nh, d): row k is offset k
                weight = rows.permute(0, 2, 1, 3).reshape(K * nh, 1, h, d)  # RecBole's conv_h[h-1].weight per member
                out = F.conv2d(E, weight, biases[:, h - 1].reshape(K * nh), groups=K)  # (B, K*nh, L-h+1, 1)
                pooled.append(out.squeeze(3).max(2).values.view(-1, K, nh))  # (B, K, nh)
            parts.append(F.relu(torch.stack(pooled, 2)).reshape(-1, K, L * nh))  # column (h-1)*nh + f
        out = self.dropout(torch.cat(parts, 2), member_dim=1).transpose(0, 1)  # (K, B, nv*d + L*nh)
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
