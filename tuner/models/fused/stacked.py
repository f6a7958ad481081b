"""What every fused model shares: stacked member weights, per-member lookups, dropout and losses.

A fused model keeps its K members as the ordinary (unfused) modules, each with its own parameters,
and stacks their weights with a leading K dimension in every forward (``torch.stack``: K small
copies, autograd hands each member its own slice of the gradient). So each member keeps what an
unfused trial has, unchanged: its initial weights, its own ``torch.optim.Adam`` (same class, same
fused kernel, its own lr and weight decay), its state dict and its evaluation; only the training
forward and backward run as one batched kernel per layer for all K.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tuner.models.base import Batch, SequentialRecommender
from tuner.models.dropout import keep_mask
from tuner.models.losses import BPR_GAMMA


def stack(members: Sequence[nn.Module], weight: Callable[[nn.Module], torch.Tensor]) -> torch.Tensor:
    """(K, ...): ``weight(member)`` of every member, stacked."""
    return torch.stack([weight(m) for m in members])


def offsets(K: int, rows: int, device: torch.device) -> torch.Tensor:
    """(K, 1): where member k's rows start in its table flattened to (K * rows, d)."""
    return (torch.arange(K, device=device) * rows).view(K, 1)


def stacked_lookup(index: torch.Tensor, table: torch.Tensor, padding_idx: int | None = None) -> torch.Tensor:
    """(K, *index.shape, d): ``table[k][index]`` for every member k; ``index`` is shared by all.

    ``padding_idx`` gets no gradient from the lookup, as in ``nn.Embedding(padding_idx=...)``
    (other terms, such as a regulariser, may still reach that row).
    """
    K, rows, d = table.shape
    flat = (index.reshape(1, -1) + offsets(K, rows, index.device)).view(K, *index.shape)  # (K, *index.shape)
    return _StackedLookup.apply(flat, table, padding_idx)


class _StackedLookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx, flat, table, padding_idx):
        ctx.save_for_backward(flat)
        ctx.table_shape, ctx.padding_idx = table.shape, padding_idx
        return F.embedding(flat, table.reshape(-1, table.shape[-1]))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (flat,) = ctx.saved_tensors
        K, rows, d = ctx.table_shape
        grad_table = grad.new_zeros(K * rows, d).index_add_(0, flat.reshape(-1), grad.reshape(-1, d)).view(K, rows, d)
        if ctx.padding_idx is not None:
            grad_table[:, ctx.padding_idx] = 0
        return None, grad_table, None


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """(K, B, out): each member's ``nn.Linear`` on its rows; x (K, B, in), weight (K, out, in), bias (K, out)."""
    if bias is None:
        return torch.bmm(x, weight.transpose(1, 2))
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


class MemberDropout:
    """Each member's dropout on its slice of a (K, ...) tensor, with its own probability and masks.

    On the CPU member k's mask comes from :func:`tuner.models.dropout.keep_mask` with its own
    generator, which starts where the global generator stood after the member was built: the same
    draws, so the same masks, as its unfused trial (whose only later use of the global generator
    is dropout). On a GPU one uniform draw covers all members, each against its own probability:
    own masks, but not the unfused trial's (those come from CUDA's global Philox stream).
    """

    def __init__(self, probabilities: Sequence[float], generators: Sequence[torch.Generator | None]):
        self.probabilities = list(probabilities)
        self.generators = list(generators)

    def keep(self, indices: Sequence[int]) -> None:
        self.probabilities = [self.probabilities[i] for i in indices]
        self.generators = [self.generators[i] for i in indices]

    def __call__(self, x: torch.Tensor, member_dim: int = 0) -> torch.Tensor:
        if all(p == 0.0 for p in self.probabilities):
            return x
        if x.device.type == "cpu":
            shape = x.shape[:member_dim] + x.shape[member_dim + 1 :]
            ones = torch.ones((), dtype=x.dtype).expand(shape)
            masks = [keep_mask(shape, p, dtype=x.dtype, generator=g) if p > 0 else ones
                     for p, g in zip(self.probabilities, self.generators)]
            return x * torch.stack(masks, member_dim)
        p = torch.tensor(self.probabilities, device=x.device, dtype=x.dtype)
        view = [1] * x.dim()
        view[member_dim] = -1
        p = p.view(view)
        draw = torch.rand(x.shape, device=x.device, dtype=x.dtype, generator=self.generators[0])
        scale = torch.where(p < 1, 1.0 / (1.0 - p).clamp_min(1e-12), torch.zeros_like(p))
        return x * (draw >= p).to(x.dtype) * scale


def next_item_losses(loss_type: str, sequence: torch.Tensor, item_weight: torch.Tensor, batch: Batch) -> torch.Tensor:
    """(K,): each member's loss of ``sequence`` (K, B, d) against its items ``item_weight`` (K, n, d),
    :func:`tuner.models.losses.next_item_loss` for each member."""
    K, B, _ = sequence.shape
    if loss_type == "BPR":
        if batch.neg_item is None:
            raise ValueError("loss_type BPR needs batch.neg_item (see tuner.models.sample_negatives)")
        positive = (sequence * stacked_lookup(batch.target, item_weight)).sum(-1)  # (K, B)
        negative = (sequence * stacked_lookup(batch.neg_item, item_weight)).sum(-1)  # (K, B)
        return -torch.log(BPR_GAMMA + torch.sigmoid(positive - negative)).mean(1)
    scores = torch.bmm(sequence, item_weight.transpose(1, 2))  # (K, B, n)
    per_row = F.cross_entropy(scores.view(K * B, -1), batch.target.repeat(K), reduction="none")  # (K*B,)
    return per_row.view(K, B).mean(1)


class FusedModel(nn.Module):
    """K same-shape members trained as one; subclasses give :meth:`member_losses`."""

    def __init__(self, members: Sequence[SequentialRecommender], generators: Sequence[torch.Generator | None]):
        super().__init__()
        if not members:
            raise ValueError("a fused model needs at least one member")
        self.members = nn.ModuleList(members)
        self.needs_negative = members[0].needs_negative
        self.dropout = MemberDropout([m.dropout.p for m in members], generators)

    def __len__(self) -> int:
        return len(self.members)

    def member_losses(self, batch: Batch) -> torch.Tensor:  # pragma: no cover - abstract
        """(K,): each member's training loss (its regularisation included)."""
        raise NotImplementedError

    def keep(self, indices: Sequence[int]) -> None:
        """Keep only the members at ``indices`` (in that order): the others leave the fused model."""
        self.members = nn.ModuleList([self.members[i] for i in indices])
        self.dropout.keep(indices)

    def prepare(self, device: torch.device) -> None:
        self.members[0].prepare(device)  # the C++ kernels, for the members' own evaluation
