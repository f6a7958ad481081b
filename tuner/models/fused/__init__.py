"""Horizontal fusion (HFTA, Wang et al., MLSys 2021): K same-shape models trained as one.

``fuse(members, generators)`` wraps K unfused models of one class and shape (Caser or GRU4RecF) in a
model whose :meth:`member_losses` gives every member's loss from one batched forward; see
:mod:`tuner.models.fused.stacked` for what each member keeps, and :mod:`tuner.training.fused` for
the epoch loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tuner.models.base import SequentialRecommender
from tuner.models.caser import Caser
from tuner.models.fused.caser import FusedCaser
from tuner.models.fused.gru4recf import FusedGRU4RecF
from tuner.models.fused.stacked import FusedModel
from tuner.models.gru4recf import GRU4RecF

__all__ = ["FusedCaser", "FusedGRU4RecF", "FusedModel", "fuse"]


def fuse(members: Sequence[SequentialRecommender], generators: Sequence[torch.Generator | None]) -> FusedModel:
    """One fused model of ``members`` (all Caser or all GRU4RecF, configs equal up to dropout_prob and
    reg_weight); ``generators[k]`` draws member k's dropout masks."""
    kinds = {type(m) for m in members}
    if len(kinds) != 1 or kinds.pop() not in (Caser, GRU4RecF):
        raise ValueError(f"fused members must all be Caser or all GRU4RecF, got {sorted(type(m).__name__ for m in members)}")
    shapes = {_shape(m) for m in members}
    if len(shapes) != 1:
        raise ValueError(f"fused members must share their shapes; got {len(shapes)} different ones")
    return (FusedCaser if isinstance(members[0], Caser) else FusedGRU4RecF)(members, generators)


def _shape(model: SequentialRecommender) -> tuple:
    """The model's config without the fields a member may have of its own."""
    return tuple((k, v) for k, v in vars(model.config).items() if k not in ("dropout_prob", "reg_weight"))
