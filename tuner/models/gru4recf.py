"""GRU4RecF (Hidasi et al., RecSys 2016, parallel architecture) as RecBole 1.2.1 builds it.

Item embeddings (with dropout) feed one bias-free GRU; the items' pooled feature embeddings
(:mod:`tuner.models.item_features`, no dropout) feed a second bias-free GRU; the two outputs at the
last real position (``item_len - 1``) are concatenated and projected to embedding_size by a dense
layer: the sequence representation. Item scores are its dot products with the item embeddings.
No regularisation term (RecBole has none for this model).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from tuner.models.base import Batch, SequentialRecommender
from tuner.models.dropout import Dropout
from tuner.models.embedding import Embedding
from tuner.models.gru import GRU
from tuner.models.item_features import POOLING_MODES, ItemFeatureEmbedding
from tuner.models.losses import next_item_loss
from tuner.models.params import SHARED_CHECKS, at_least, check_members, check_name_list, checked_fields, one_of


@dataclass(frozen=True)
class GRU4RecFConfig:
    n_item_ids: int  # item embedding rows, padding id 0 included (RecBole's item_num)
    max_seq_length: int  # L: the longest history a batch may hold (MAX_ITEM_LIST_LENGTH)
    embedding_size: int = 64  # d: item and feature embedding size, also the representation size
    hidden_size: int = 128  # hidden size of each of the two GRUs
    num_layers: int = 1  # stacked layers in each GRU
    dropout_prob: float = 0.3  # dropout on the item embeddings (not on the features)
    selected_features: tuple[str, ...] = ("class",)  # item feature fields fed to the feature GRU
    pooling_mode: str = "sum"  # how a token_seq feature's ids are pooled: sum, mean or max
    loss_type: str = "CE"  # "CE": softmax over all items; "BPR": against one sampled negative

    def __post_init__(self) -> None:
        checked_fields(self, {**SHARED_CHECKS, "hidden_size": at_least(1), "num_layers": at_least(1),
                              "selected_features": check_name_list, "pooling_mode": one_of(POOLING_MODES)})


class GRU4RecF(SequentialRecommender):
    def __init__(self, config: GRU4RecFConfig, item_features: Mapping[str, torch.Tensor], feature_sizes: Mapping[str, int]):
        super().__init__()
        check_members("selected_features", config.selected_features, item_features, "an item feature of this dataset")
        self.config = config
        d, H = config.embedding_size, config.hidden_size
        self.needs_negative = config.loss_type == "BPR"
        self.item_embedding = Embedding(config.n_item_ids, d, padding_idx=0)
        self.features = ItemFeatureEmbedding(item_features, feature_sizes, config.selected_features, config.pooling_mode, d)
        for name in config.selected_features:
            if item_features[name].shape[0] != config.n_item_ids:
                raise ValueError(f"item feature {name!r} has {item_features[name].shape[0]} rows, expected n_item_ids = {config.n_item_ids}")
        self.item_gru = GRU(d, H, config.num_layers, bias=False, batch_first=True)
        self.feature_gru = GRU(d * len(config.selected_features), H, config.num_layers, bias=False, batch_first=True)
        self.dense = nn.Linear(2 * H, d)
        self.dropout = Dropout(config.dropout_prob)
        self.apply(_init_weights)

    def sequence_representation(self, batch: Batch) -> torch.Tensor:
        item_out, _ = self.item_gru(self.dropout(self.item_embedding(batch.item_seq)))  # (B, L, H)
        feature_out, _ = self.feature_gru(self.features(batch.item_seq))  # (B, L, H)
        # the dense layer acts per position, so taking the last real position first is the same
        last = (batch.item_len - 1).view(-1, 1, 1).expand(-1, 1, item_out.shape[-1])  # (B, 1, H)
        both = torch.cat([item_out.gather(1, last), feature_out.gather(1, last)], -1)  # (B, 1, 2H)
        return self.dense(both.squeeze(1))  # (B, d)

    forward = sequence_representation

    def loss(self, batch: Batch) -> torch.Tensor:
        return next_item_loss(self.config.loss_type, self.sequence_representation(batch), self.item_embedding.weight, batch)

    def full_sort_scores(self, batch: Batch) -> torch.Tensor:
        return self.sequence_representation(batch) @ self.item_embedding.weight.t()  # (B, n_item_ids)


def _init_weights(module: nn.Module) -> None:
    """RecBole's xavier_normal_initialization: embeddings (padding row too) and linear weights
    xavier-normal, linear biases 0; the GRUs keep PyTorch's default."""
    if isinstance(module, nn.Embedding):
        nn.init.xavier_normal_(module.weight)
    elif isinstance(module, nn.Linear):
        nn.init.xavier_normal_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
