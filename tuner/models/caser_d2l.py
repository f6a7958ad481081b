"""Caser as the Dive into Deep Learning tutorial builds it ("Sequence-Aware Recommender Systems").

Not RecBole's Caser (:mod:`tuner.models.caser`): the user embedding joins *after* the fully connected
layer, the score has its own output embedding Q' and an item bias, and there is no padding. The last L
items' embeddings (B, L, k) go through
* a vertical convolution: ``d_prime`` filters of height L with bias, i.e. weightings of the L rows;
* horizontal convolutions: ``d`` filters for every height h = 1..L (kernel (h, k)), ReLU, max over time;
then dropout on the concatenation, a fully connected layer to k with ReLU (z), and the score of item i
is ``[z, P_u] . Q'_i + b_i``. Parameter names and shapes are the tutorial's (``P``, ``Q``, ``conv_v``,
``conv_h.N``, ``fc.0``, ``Q_prime``, ``b``), so its state dict loads as is.

Ids are D2L's: users ``0 .. n_user_ids - 1``, items ``0 .. n_item_ids - 1``, no padding id (every
window is full, so ``item_len`` is unused).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tuner.errors import ConfigError
from tuner.models.base import Batch, SequentialRecommender
from tuner.models.params import at_least, checked_fields, probability


@dataclass(frozen=True)
class CaserD2LConfig:
    n_user_ids: int  # users (0-based, no padding row)
    n_item_ids: int  # items (0-based, no padding row)
    max_seq_length: int  # L: history length of a window (settings: MAX_ITEM_LIST_LENGTH, alias L)
    num_factors: int = 10  # k: size of P and Q; z, Q' and the score vector have 2k
    d: int = 16  # horizontal filters per height 1..L (0 drops the horizontal branch)
    d_prime: int = 4  # vertical filters (0 drops the vertical branch)
    drop_ratio: float = 0.05  # dropout on the concatenated convolution outputs

    def __post_init__(self) -> None:
        checked_fields(self, {
            "n_user_ids": at_least(1), "n_item_ids": at_least(2),
            "max_seq_length": lambda _, value: at_least(1)("MAX_ITEM_LIST_LENGTH (L)", value),
            "num_factors": at_least(1), "d": at_least(0), "d_prime": at_least(0), "drop_ratio": probability,
        })
        if self.d == 0 and self.d_prime == 0:
            raise ConfigError("d, d_prime: at least one of them must be >= 1 (both 0 leaves no convolution)")


class CaserD2L(SequentialRecommender):
    needs_negative = True  # BPR against one sampled negative

    def __init__(self, config: CaserD2LConfig):
        super().__init__()
        self.config = config
        L, k, d, d_prime = config.max_seq_length, config.num_factors, config.d, config.d_prime
        self.P = nn.Embedding(config.n_user_ids, k)
        self.Q = nn.Embedding(config.n_item_ids, k)
        # the tutorial's modules, kept for their parameters; forward computes them as matmuls (below)
        self.conv_v = nn.Conv2d(1, d_prime, (L, 1)) if d_prime else None
        self.conv_h = nn.ModuleList([nn.Conv2d(1, d, (h, k)) for h in range(1, L + 1)]) if d else nn.ModuleList()
        self.fc = nn.Sequential(nn.Linear(d_prime * k + d * L, k), nn.ReLU())
        self.Q_prime = nn.Embedding(config.n_item_ids, 2 * k)
        self.b = nn.Embedding(config.n_item_ids, 1)
        self.apply(_init_weights)

    def prepare(self, device: torch.device) -> None:
        """Nothing to load: this model uses no C++ kernels."""

    def convolutions(self, item_seq: torch.Tensor) -> torch.Tensor:
        """(B, d_prime * k + d * L): both branches' outputs, before dropout, in the tutorial's order."""
        E = self.Q(item_seq)  # (B, L, k)
        B, L, k = E.shape
        parts = []
        if self.conv_v is not None:
            w = self.conv_v.weight[:, 0, :, 0]  # (d_prime, L)
            v = torch.einsum("cl,blk->bck", w, E) + self.conv_v.bias[None, :, None]  # (B, d_prime, k)
            parts.append(v.reshape(B, -1))  # (B, d_prime * k), filter-major as conv_v's output reshaped
        for conv in self.conv_h:
            h = conv.weight.shape[2]
            windows = E.unfold(1, h, 1).transpose(2, 3).reshape(B, L - h + 1, h * k)  # (B, L-h+1, h*k)
            out = torch.relu(windows @ conv.weight.reshape(conv.weight.shape[0], h * k).T + conv.bias)  # (B, L-h+1, d)
            parts.append(out.max(dim=1).values)  # (B, d): max over time (its backward is a scatter, amax's a division)
        return torch.cat(parts, dim=1)

    def _representation(self, user: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        z = self.fc(F.dropout(features, self.config.drop_ratio, self.training))  # (B, k)
        return torch.cat([z, self.P(user)], dim=1)  # (B, 2k)

    def sequence_representation(self, batch: Batch) -> torch.Tensor:
        """(B, 2k): ``[z, P_u]``, what item scores are dot products with (plus the item bias)."""
        return self._representation(batch.user, self.convolutions(batch.item_seq))

    def score(self, x: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """(B,): ``x . Q'_item + b_item`` for representations x (B, 2k) and items (B,)."""
        return (x * self.Q_prime(item)).sum(dim=1) + self.b(item)[:, 0]

    def loss(self, batch: Batch) -> torch.Tensor:
        """BPR, mean over the batch. The tutorial calls the net once for the positive and once for the
        negative, so each gets its own dropout mask; the convolutions (no randomness) are shared, and
        both halves go through fc as one (2B, F) batch."""
        features = self.convolutions(batch.item_seq)  # (B, F)
        both = features.expand(2, *features.shape)  # (2, B, F)
        if self.training and self.config.drop_ratio > 0:
            both = both * dropout_scale(both.shape, self.config.drop_ratio, both.device)
        z = self.fc(both.reshape(-1, features.shape[1])).reshape(2, features.shape[0], -1)  # (2, B, k)
        user = self.P(batch.user)  # (B, k)
        positive = self.score(torch.cat([z[0], user], dim=1), batch.target)
        negative = self.score(torch.cat([z[1], user], dim=1), batch.neg_item)
        return -F.logsigmoid(positive - negative).mean()

    def full_sort_scores(self, batch: Batch) -> torch.Tensor:
        """(B, n_item_ids): every item's score (there is no padding column)."""
        x = self.sequence_representation(batch)  # (B, 2k)
        return x @ self.Q_prime.weight.T + self.b.weight[:, 0]


def dropout_scale(shape: tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """Inverted dropout's factors: 0 with probability p, else 1 / (1 - p). On the CPU the uniforms come from
    numpy's PCG64 (about 1 ns a number; torch's CPU mt19937, behind F.dropout, takes 13 ns and was a fifth of
    a training step), seeded from torch's generator so ``torch.manual_seed`` still fixes every mask."""
    if device.type != "cpu":
        uniform = torch.rand(shape, device=device)
    else:
        seed = int(torch.randint(2**62, (1,)))
        uniform = torch.from_numpy(np.random.default_rng(seed).random(shape, dtype=np.float32))
    return torch.where(uniform >= p, 1.0 / (1.0 - p), 0.0)


def _init_weights(module: nn.Module) -> None:
    """The tutorial's init (MXNet's ``init.Normal(0.01)``): every weight normal(0, 0.01), biases zero."""
    if isinstance(module, (nn.Embedding, nn.Conv2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.01)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
