"""The two losses RecBole's sequential models train with, and the negative sampler BPR needs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tuner.models.base import Batch

LOSS_TYPES = ("CE", "BPR")

# RecBole's BPRLoss adds gamma inside the log so that a saturated sigmoid never gives log(0).
BPR_GAMMA = 1e-10


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """RecBole's BPRLoss: ``-log(gamma + sigmoid(positive - negative)).mean()``."""
    return -torch.log(BPR_GAMMA + torch.sigmoid(positive - negative)).mean()


def next_item_loss(loss_type: str, sequence: torch.Tensor, item_weight: torch.Tensor, batch: Batch) -> torch.Tensor:
    """The loss of ``sequence`` (B, d) predicting ``batch.target`` among items ``item_weight`` (n_item_ids, d).

    ``CE``: cross-entropy over every item id, the padding id 0 included (as RecBole does).
    ``BPR``: the target against ``batch.neg_item``.
    """
    if loss_type == "BPR":
        if batch.neg_item is None:
            raise ValueError("loss_type BPR needs batch.neg_item (see tuner.models.sample_negatives)")
        positive = (sequence * item_weight[batch.target]).sum(-1)  # (B,)
        negative = (sequence * item_weight[batch.neg_item]).sum(-1)  # (B,)
        return bpr_loss(positive, negative)
    logits = sequence @ item_weight.t()  # (B, n_item_ids)
    return F.cross_entropy(logits, batch.target)


def sample_negatives(target: torch.Tensor, n_item_ids: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One negative per example, uniform over the real items 1..n_item_ids-1 except the target.

    This is what RecBole 1.2.1 does for sequential models (``RepeatableSampler``, uniform): it
    draws from ``randint(1, item_num)`` and redraws only while the draw equals the example's own
    target; items elsewhere in the user's history CAN be drawn. Here the redraw is replaced by an
    exact shift (draw from n_item_ids - 2 values and step over the target), so one call suffices.
    The result is on ``target``'s device; ``generator`` must live on that device too.
    """
    if n_item_ids < 3:
        raise ValueError(f"BPR needs at least 2 real items to draw a negative, got n_item_ids={n_item_ids}")
    draw = torch.randint(1, n_item_ids - 1, target.shape, device=target.device, generator=generator)
    return draw + (draw >= target).long()
