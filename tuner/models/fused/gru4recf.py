"""K GRU4RecF members trained as one: batched lookups, feature pooling, GRUs and products over K.

Per step, for all K members at once: one lookup of the item embeddings (K, B, L, d), each member's
dropout on its slice, the pooled feature table of every member (K, n_item_ids, n_fields * d, built
from the stacked feature embeddings with RecBole's pooling) and its lookup, the two batched GRUs of
:mod:`tuner.models.fused.gru`, the dense layer and the item scores as ``bmm`` over K.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tuner.models.base import Batch
from tuner.models.fused.gru import batched_gru
from tuner.models.fused.stacked import FusedModel, linear, next_item_losses, stack, stacked_lookup
from tuner.models.gru4recf import GRU4RecF


class FusedGRU4RecF(FusedModel):
    def __init__(self, members: Sequence[GRU4RecF], generators: Sequence[torch.Generator | None]):
        super().__init__(members, generators)
        self.config = members[0].config

    def member_losses(self, batch: Batch) -> torch.Tensor:
        members = list(self.members)
        items = stack(members, lambda m: m.item_embedding.weight)  # (K, n_item_ids, d)
        embedded = self.dropout(stacked_lookup(batch.item_seq, items, padding_idx=0))  # (K, B, L, d)
        features = stacked_lookup(batch.item_seq, self._feature_tables(members))  # (K, B, L, n_fields*d)
        item_out = batched_gru(embedded, _gru_weights(members, lambda m: m.item_gru))  # (K, B, L, H)
        feature_out = batched_gru(features, _gru_weights(members, lambda m: m.feature_gru))  # (K, B, L, H)
        K, B, _, H = item_out.shape
        last = (batch.item_len - 1).view(1, -1, 1, 1).expand(K, -1, 1, H)  # (K, B, 1, H)
        both = torch.cat([item_out.gather(2, last), feature_out.gather(2, last)], -1).squeeze(2)  # (K, B, 2H)
        sequence = linear(both, stack(members, lambda m: m.dense.weight), stack(members, lambda m: m.dense.bias))
        return next_item_losses(self.config.loss_type, sequence, items, batch)  # (K,)

    @staticmethod
    def _feature_tables(members) -> torch.Tensor:
        """(K, n_item_ids, n_fields * d): each member's ``features.item_table()``, batched."""
        first = members[0].features
        fields = []
        if first.token_fields:
            table = stack(members, lambda m: m.features.token_embedding.weight)  # (K, n_tokens, d)
            fields.append(stacked_lookup(first.token_ids, table))  # (K, n_item_ids, n_token, d)
        for i in range(len(first.token_seq_embeddings)):
            table = stack(members, lambda m: m.features.token_seq_embeddings[i].weight)  # (K, size, d)
            ids = getattr(first, f"token_seq_ids_{i}")  # (n_item_ids, F), the same for every member
            pooled = first._pool(stacked_lookup(ids, table), (ids != 0).float())  # (K, n_item_ids, d)
            fields.append(pooled.unsqueeze(2))
        return torch.cat(fields, 2).flatten(2)


def _gru_weights(members, gru) -> list[tuple[torch.Tensor, torch.Tensor]]:
    layers = gru(members[0]).num_layers
    return [(stack(members, lambda m: getattr(gru(m), f"weight_ih_l{i}")), stack(members, lambda m: getattr(gru(m), f"weight_hh_l{i}")))
            for i in range(layers)]
