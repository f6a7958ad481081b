"""What the data module hands to training: tensors, split RecBole's way, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Split:
    """One part of the leave-one-out split: N examples (a prefix of a user's history and its next item)."""

    user: torch.Tensor  # (N,) long
    item_seq: torch.Tensor  # (N, L) long, the last <= L items before the target, left-aligned, 0-padded
    item_len: torch.Tensor  # (N,) long
    target: torch.Tensor  # (N,) long

    def __len__(self) -> int:
        return int(self.target.shape[0])


@dataclass(frozen=True)
class SequentialDataset:
    """A dataset after preprocessing. Internal ids: 0 is padding for users, items and features."""

    name: str
    n_user_ids: int  # embedding table size: real users + 1 (RecBole's ``user_num``)
    n_item_ids: int  # real items + 1 (RecBole's ``item_num``)
    n_interactions: int  # after filtering
    train: Split
    valid: Split
    test: Split
    user_tokens: list[str]  # internal id -> raw token; index 0 is "[PAD]"
    item_tokens: list[str]
    # field -> (n_item_ids, F) long: each item's feature ids, 0-padded (token: F = 1; token_seq: the longest)
    item_features: dict[str, torch.Tensor] = field(default_factory=dict)
    # field -> vocabulary size, padding id 0 included
    feature_sizes: dict[str, int] = field(default_factory=dict)
    # field -> feature id -> raw token; index 0 is "[PAD]" (RecBole's numbering)
    feature_tokens: dict[str, list[str]] = field(default_factory=dict)

    def stats(self) -> dict[str, int]:
        """The figures ``tuner data --json`` prints (padding not counted)."""
        return {
            "n_users": self.n_user_ids - 1,
            "n_items": self.n_item_ids - 1,
            "n_interactions": self.n_interactions,
            "n_train": len(self.train),
            "n_valid": len(self.valid),
            "n_test": len(self.test),
        }
