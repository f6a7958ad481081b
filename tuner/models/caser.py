"""Caser (Tang & Wang, WSDM 2018) as RecBole 1.2.1 builds it, with vectorised horizontal convolutions.

Architecture (RecBole's ``Caser``): the last L items' embeddings (B, L, d) go through
* a vertical convolution: nv filters of size (L, 1), i.e. nv learned weightings of the L rows;
* horizontal convolutions of every height h = 1..L with nh filters each (kernel (h, d)), ReLU,
  max-pooled over time (see :mod:`tuner.models.horizontal` for how they run without a loop);
then dropout, fc1 + ReLU, concatenation with the user embedding, fc2 + ReLU: the sequence
representation. Item scores are its dot products with the item embeddings.
Padding items are NOT masked (RecBole convolves the padding embedding too); ``item_len`` is unused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tuner.errors import ConfigError
from tuner.models.base import Batch, SequentialRecommender
from tuner.models.convolutions import caser_convolutions
from tuner.models.dropout import Dropout
from tuner.models.embedding import Embedding
from tuner.models.horizontal import height_of_rows, packed_rows, plan_height_groups
from tuner.models.losses import next_item_loss
from tuner.models.norms import sum_of_norms
from tuner.models.params import SHARED_CHECKS, at_least, check_float, checked_fields


@dataclass(frozen=True)
class CaserConfig:
    n_user_ids: int  # user embedding rows, padding id 0 included (RecBole's user_num)
    n_item_ids: int  # item embedding rows, padding id 0 included (RecBole's item_num)
    max_seq_length: int  # L: history length the convolutions span (MAX_ITEM_LIST_LENGTH)
    embedding_size: int = 64  # d: user and item embedding size, also the representation size
    nh: int = 8  # horizontal filters per height (0 drops the horizontal branch)
    nv: int = 4  # vertical filters (0 drops the vertical branch)
    dropout_prob: float = 0.4  # dropout on the concatenated convolution outputs
    reg_weight: float = 1e-4  # weight of the L2 norms added to the loss (RecBole's RegLoss)
    loss_type: str = "CE"  # "CE": softmax over all items; "BPR": against one sampled negative

    def __post_init__(self) -> None:
        checked_fields(self, {**SHARED_CHECKS, "n_user_ids": at_least(2), "nh": at_least(0), "nv": at_least(0),
                              "reg_weight": lambda name, value: check_float(name, value, 0.0)})
        if self.nh == 0 and self.nv == 0:
            raise ConfigError("nh, nv: at least one of them must be >= 1 (both 0 leaves no convolution)")


class Caser(SequentialRecommender):
    def __init__(self, config: CaserConfig):
        super().__init__()
        self.config = config
        L, d, nh, nv = config.max_seq_length, config.embedding_size, config.nh, config.nv
        self.needs_negative = config.loss_type == "BPR"
        self.user_embedding = Embedding(config.n_user_ids, d, padding_idx=0)
        self.item_embedding = Embedding(config.n_item_ids, d, padding_idx=0)
        # vertical filters: out_v[b, v, :] = sum_l conv_v_weight[v, l] * E[b, l, :] + conv_v_bias[v]
        self.conv_v_weight = nn.Parameter(torch.empty(nv, L))
        self.conv_v_bias = nn.Parameter(torch.empty(nv))
        # horizontal filters of all heights, packed by height (layout in tuner.models.horizontal)
        self.conv_h_weight = nn.Parameter(torch.empty(packed_rows(L) if nh else 0, nh, d))
        self.conv_h_bias = nn.Parameter(torch.empty(L if nh else 0, nh))
        self.height_groups = plan_height_groups(L, nh, d) if nh else ()
        # each packed filter row's height - 1: the groups of the per-height norms in regularization()
        self.register_buffer("height_of_row", height_of_rows(L) - 1, persistent=False)
        self.fc1 = nn.Linear(nv * d + nh * L, d)
        self.fc2 = nn.Linear(d + d, d)
        self.dropout = Dropout(config.dropout_prob)
        self._init_weights()

    def _init_weights(self) -> None:
        """RecBole's: embeddings N(0, std 1/d), linear layers xavier-normal with zero bias; the
        convolutions keep PyTorch's Conv2d default, uniform(+-1/sqrt(fan_in)) for weight and bias."""
        d, L = self.config.embedding_size, self.config.max_seq_length
        for embedding in (self.user_embedding, self.item_embedding):
            nn.init.normal_(embedding.weight, 0.0, 1.0 / d)  # overwrites the padding row, as RecBole
        for linear in (self.fc1, self.fc2):
            nn.init.xavier_normal_(linear.weight)
            nn.init.zeros_(linear.bias)
        bound = 1.0 / math.sqrt(L)  # conv_v: fan_in = L * 1
        nn.init.uniform_(self.conv_v_weight, -bound, bound)
        nn.init.uniform_(self.conv_v_bias, -bound, bound)
        with torch.no_grad():
            for h in range(1, L + 1 if self.config.nh else 1):
                bound = 1.0 / math.sqrt(h * d)  # conv_h of height h: fan_in = h * d
                self.conv_h_weight[h * (h - 1) // 2 : h * (h + 1) // 2].uniform_(-bound, bound)
                self.conv_h_bias[h - 1].uniform_(-bound, bound)

    def sequence_representation(self, batch: Batch) -> torch.Tensor:
        E = self.item_embedding(batch.item_seq)  # (B, L, d)
        user = self.user_embedding(batch.user)  # (B, d)
        out = self.dropout(self.convolutions(E))
        z = F.relu(self.fc1(out))  # (B, d)
        return F.relu(self.fc2(torch.cat([z, user], 1)))  # (B, d)

    forward = sequence_representation

    def convolutions(self, E: torch.Tensor) -> torch.Tensor:
        """(B, nv*d + L*nh): the vertical convolution, then each height's horizontal filters
        max-pooled over time and ReLU'd, in RecBole's concatenation order."""
        return caser_convolutions(
            E, self.conv_v_weight, self.conv_v_bias, self.conv_h_weight, self.conv_h_bias, self.height_groups
        )

    def regularization(self) -> torch.Tensor:
        """RecBole's: reg_weight * (sum of the L2 norms of the embeddings, conv_v, fc1 and fc2
        weights) + reg_weight * (sum over heights of the horizontal filters' L2 norms)."""
        weights = [self.user_embedding.weight, self.item_embedding.weight, self.conv_v_weight, self.fc1.weight,
                   self.fc2.weight]
        if not self.config.nh:
            return self.config.reg_weight * sum_of_norms(weights)
        L = self.config.max_seq_length
        return self.config.reg_weight * sum_of_norms(weights, self.conv_h_weight, self.height_of_row, L)

    def loss(self, batch: Batch) -> torch.Tensor:
        sequence = self.sequence_representation(batch)
        return next_item_loss(self.config.loss_type, sequence, self.item_embedding.weight, batch) + self.regularization()

    def full_sort_scores(self, batch: Batch) -> torch.Tensor:
        return self.sequence_representation(batch) @ self.item_embedding.weight.t()  # (B, n_item_ids)
