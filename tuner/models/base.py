"""The contract every sequential model follows.

A batch is a :class:`Batch` of tensors on the model's device. Ids are the dataset's internal ids:
0 is padding, items are ``1 .. n_item_ids - 1``. Sequences are left-aligned and zero-padded
(RecBole's layout): ``item_seq[b, :item_len[b]]`` holds the history, oldest first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from tuner.models.native import cpu_kernels


@dataclass(frozen=True)
class Batch:
    user: torch.Tensor  # (B,) long
    item_seq: torch.Tensor  # (B, L) long, left-aligned, 0-padded
    item_len: torch.Tensor  # (B,) long, 1 <= item_len <= L
    target: torch.Tensor  # (B,) long, the next item
    neg_item: torch.Tensor | None = None  # (B,) long, one sampled negative (BPR loss only)

    def to(self, device: torch.device | str) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(move(self.user), move(self.item_seq), move(self.item_len), move(self.target), move(self.neg_item))


class SequentialRecommender(nn.Module, ABC):
    """A model that turns a history into a vector and scores every item against it."""

    #: True when :meth:`loss` needs ``batch.neg_item`` (BPR).
    needs_negative: bool = False

    @abstractmethod
    def sequence_representation(self, batch: Batch) -> torch.Tensor:
        """(B, d): the representation the item scores are dot products with."""

    @abstractmethod
    def loss(self, batch: Batch) -> torch.Tensor:
        """(): the training loss of the batch, regularisation included."""

    @abstractmethod
    def full_sort_scores(self, batch: Batch) -> torch.Tensor:
        """(B, n_item_ids): a score for every item id, padding included (the evaluator masks it)."""

    def prepare(self, device: torch.device) -> None:
        """Load what training will need on ``device`` before it is timed: on the CPU the C++ kernels
        (the cross-entropy of both models, Caser's convolutions), built once per machine (a worker
        slot has them built before its first trial: tuner.training.run.prepare_device)."""
        if torch.device(device).type == "cpu":
            cpu_kernels()
