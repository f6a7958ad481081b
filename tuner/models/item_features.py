"""Embeddings of item features, pooled per item: RecBole's FeatureSeqEmbLayer for one model.

What RecBole 1.2.1 does (``recbole/model/layers.py``, ContextSeqEmbAbstractLayer), kept here:
* a ``token`` field (one id per item) is looked up in ONE table shared by all token fields, each
  field's ids shifted by the sizes of the fields before it (FMEmbedding); id 0 is NOT masked;
* a ``token_seq`` field (several ids per item, 0-padded) has its own table (no padding_idx) and is
  pooled over its ids with padding masked: ``sum`` (padding contributes 0), ``mean`` (sum divided by
  count + 1e-8, so an item without ids gives 0), ``max`` (padding lowered by 1e9 first, so an item
  without ids gives its padding embedding - 1e9);
* fields are concatenated token fields first, then token_seq fields, each in the order selected.
* no dropout on features.
RecBole pools at every position of every sequence; pooling is per item, so here it is done once
per forward for the whole item table and then indexed, which gives the same numbers.

Input tables: ``item_features[field]`` is (n_item_ids, F) long for a token_seq field and
(n_item_ids,) long for a token field (the data module's (n_item_ids, 1) tables are token_seq
fields: with one id per item the two kinds differ only for items whose id is 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from tuner.models.embedding import lookup

POOLING_MODES = ("sum", "mean", "max")

# RecBole's constants: the mean's guard against 0/0 and the max's penalty on padding.
_MEAN_EPS = 1e-8
_MAX_PENALTY = 1e9


class ItemFeatureEmbedding(nn.Module):
    """(B, L) item ids -> (B, L, n_fields * d): each item's pooled feature embeddings, concatenated."""

    def __init__(
        self,
        item_features: Mapping[str, torch.Tensor],
        feature_sizes: Mapping[str, int],
        selected: Sequence[str],
        pooling_mode: str,
        embedding_size: int,
    ):
        super().__init__()
        tables = {name: _checked_table(name, item_features[name], feature_sizes) for name in selected}
        self.token_fields = tuple(n for n in selected if tables[n].dim() == 1)
        self.token_seq_fields = tuple(n for n in selected if tables[n].dim() == 2)
        self.pooling_mode = pooling_mode
        self.n_fields = len(selected)
        d = embedding_size
        if self.token_fields:
            sizes = [int(feature_sizes[n]) for n in self.token_fields]
            offsets = torch.tensor([0] + sizes[:-1]).cumsum(0)  # (n_token,)
            ids = torch.stack([tables[n] for n in self.token_fields], 1) + offsets  # (n_item_ids, n_token)
            self.register_buffer("token_ids", ids, persistent=False)
            self.token_embedding = nn.Embedding(sum(sizes), d)
        self.token_seq_embeddings = nn.ModuleList(nn.Embedding(int(feature_sizes[n]), d) for n in self.token_seq_fields)
        for i, name in enumerate(self.token_seq_fields):
            self.register_buffer(f"token_seq_ids_{i}", tables[name], persistent=False)

    def item_table(self) -> torch.Tensor:
        """(n_item_ids, n_fields, d): every item's feature embeddings, pooled."""
        fields = []
        if self.token_fields:
            fields.append(self.token_embedding(self.token_ids))  # (n_item_ids, n_token, d)
        for i, table in enumerate(self.token_seq_embeddings):
            ids = getattr(self, f"token_seq_ids_{i}")  # (n_item_ids, F)
            fields.append(self._pool(table(ids), (ids != 0).float()).unsqueeze(1))  # (n_item_ids, 1, d)
        return torch.cat(fields, 1)

    def _pool(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(n, F, d) embeddings and (n, F) 0/1 mask -> (n, d), RecBole's formulas."""
        mask3 = mask.unsqueeze(-1)  # (n, F, 1)
        if self.pooling_mode == "max":
            return (embedded - (1 - mask3) * _MAX_PENALTY).max(-2).values
        summed = (embedded * mask3).sum(-2)  # (n, d)
        if self.pooling_mode == "sum":
            return summed
        return summed / (mask.sum(-1, keepdim=True) + _MEAN_EPS)

    def forward(self, item_seq: torch.Tensor) -> torch.Tensor:
        table = self.item_table().flatten(1)  # (n_item_ids, n_fields * d)
        return lookup(item_seq, table)  # (B, L, n_fields * d)


def _checked_table(name: str, table: torch.Tensor, feature_sizes: Mapping[str, int]) -> torch.Tensor:
    if name not in feature_sizes:
        raise ValueError(f"item feature {name!r} has a table but no entry in feature_sizes")
    if table.dtype != torch.long or table.dim() not in (1, 2):
        raise ValueError(f"item feature {name!r}: expected a long tensor (n_item_ids,) or (n_item_ids, F), "
                         f"got {table.dtype} {tuple(table.shape)}")
    if table.numel() and (int(table.min()) < 0 or int(table.max()) >= int(feature_sizes[name])):
        raise ValueError(f"item feature {name!r}: ids must lie in 0..{int(feature_sizes[name]) - 1}")
    return table
