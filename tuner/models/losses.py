"""The two losses RecBole's sequential models train with, and the negative sampler BPR needs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tuner.models.base import Batch
from tuner.models.native import cpu_kernels

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
    return full_softmax_cross_entropy(sequence, item_weight, batch.target)


def full_softmax_cross_entropy(sequence: torch.Tensor, item_weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``F.cross_entropy(sequence @ item_weight.T, target)``, with both gradients formed in the forward.

    Autograd's version makes five passes over the (B, n_item_ids) scores besides the three matrix
    products (log-softmax, its gradient, the one-hot NLL gradient); here it is one softmax, two
    row maxima and an in-place one-hot subtraction, and backward only scales the two gradients.
    On the CPU in float32 a C++ kernel goes further (tuner/models/csrc/cross_entropy.cpp): each
    thread forms the scores of 64 rows at a time and turns them into both gradients while they
    sit in its cache, so the score matrix never goes through memory.
    """
    if not (torch.is_grad_enabled() and (sequence.requires_grad or item_weight.requires_grad)):
        return F.cross_entropy(sequence @ item_weight.t(), target)
    return _SoftmaxCrossEntropy.apply(sequence, item_weight, target)


def _kernels_for(sequence: torch.Tensor, item_weight: torch.Tensor):
    """The C++ kernels where they handle these tensors (float32 on the CPU) and have built, else None."""
    if sequence.device.type == "cpu" and sequence.dtype == item_weight.dtype == torch.float32:
        return cpu_kernels()
    return None


# Item rows are padded to a multiple of this for the products: MKL's score product with n_item_ids =
# 1683 (ml-100k) ran at half the speed of 1688 (7.4 vs 4.2 ms at batch 2048 on a 2-core CPU).
_ITEM_ALIGNMENT = 8


class _SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sequence, item_weight, target):
        B = sequence.shape[0]
        kernels = _kernels_for(sequence, item_weight)
        if kernels is not None:
            per_row, grad_sequence, grad_weight = kernels.softmax_cross_entropy(sequence, item_weight, target)
            loss = per_row.sum() / B
        else:
            loss, grad_sequence, grad_weight = _softmax_cross_entropy(sequence, item_weight, target)
        ctx.save_for_backward(grad_sequence, grad_weight)
        ctx.batch_size = B
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss):
        grad_sequence, grad_weight = ctx.saved_tensors
        scale = grad_loss / ctx.batch_size
        return grad_sequence * scale, grad_weight * scale, None


def _softmax_cross_entropy(sequence, item_weight, target):
    """(mean loss, sum-over-batch gradients of sequence and item_weight) with torch ops."""
    B, (n, d) = sequence.shape[0], item_weight.shape
    pad = -n % _ITEM_ALIGNMENT
    items = torch.cat([item_weight, item_weight.new_zeros(pad, d)]) if pad else item_weight  # (m, d)
    m = n + pad
    scores = sequence @ items.t()  # (B, m)
    if pad:
        scores[:, n:] = float("-inf")  # padding items get probability exactly 0
    at_target = torch.arange(B, device=sequence.device) * m + target  # flat index of each target score
    target_score = scores.view(-1).index_select(0, at_target)  # (B,)
    top_score = scores.amax(1)  # (B,)
    p = torch.softmax(scores, 1)  # (B, m)
    del scores
    # -log p[target] = logsumexp - score[target], and logsumexp = top score - log p[top]: p[top] >= 1/n
    # never underflows, where p[target] can (a target trailing the top score by more than ~87)
    loss = ((top_score - target_score) - p.amax(1).log()).sum() / B
    d_scores = p.view(-1).index_add_(0, at_target, p.new_full((B,), -1.0)).view(B, m)  # softmax - one_hot
    return loss, d_scores @ items, (d_scores.t() @ sequence)[:n]  # (B, d), (n, d)


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
