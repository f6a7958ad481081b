"""Model names, their tunable parameters (RecBole names and defaults), and one way to build them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from tuner.config import canonical, suggest
from tuner.errors import ConfigError
from tuner.models.base import SequentialRecommender
from tuner.models.caser import Caser, CaserConfig
from tuner.models.caser_d2l import CaserD2L, CaserD2LConfig
from tuner.models.gru4recf import GRU4RecF, GRU4RecFConfig

MODEL_NAMES: tuple[str, ...] = ("Caser", "GRU4RecF", "CaserD2L")

_CONFIGS = {"Caser": CaserConfig, "GRU4RecF": GRU4RecFConfig, "CaserD2L": CaserD2LConfig}

# Config fields that come from the dataset, not from the user's parameters.
_STRUCTURE = ("n_user_ids", "n_item_ids", "max_seq_length")


def model_name(name: str) -> str:
    """The registered spelling of ``name`` (case-insensitive), or ConfigError with a suggestion."""
    by_lower = {n.lower(): n for n in MODEL_NAMES}
    if isinstance(name, str) and name.lower() in by_lower:
        return by_lower[name.lower()]
    raise ConfigError(f"model: unknown model {name!r}{suggest(str(name), MODEL_NAMES)}; expected one of {', '.join(MODEL_NAMES)}")


def model_defaults(name: str) -> dict[str, Any]:
    """The tunable parameters of a model and their defaults, RecBole's names (lists as lists)."""
    config = _CONFIGS[model_name(name)]
    out = {}
    for f in dataclasses.fields(config):
        if f.name in _STRUCTURE:
            continue
        out[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
    return out


def build_model(
    name: str,
    params: Mapping[str, Any],
    *,
    n_user_ids: int,
    n_item_ids: int,
    max_seq_length: int,
    item_features: Mapping[str, torch.Tensor] | None = None,
    feature_sizes: Mapping[str, int] | None = None,
) -> SequentialRecommender:
    """A freshly initialised model (seed the RNG first for reproducible weights).

    ``params`` may hold any other keys (trainer, data); only this model's are taken, aliases
    (``n_h``, ``n_v``) included, missing ones default. Invalid values raise ConfigError naming the
    parameter and the allowed values.
    """
    name = model_name(name)
    wanted = model_defaults(name)
    mine = {canonical(k): v for k, v in params.items() if canonical(k) in wanted}
    if name == "Caser":
        config = CaserConfig(n_user_ids=n_user_ids, n_item_ids=n_item_ids, max_seq_length=max_seq_length, **mine)
        return Caser(config)
    if name == "CaserD2L":  # D2L's ids: no padding row, so the dataset's counts are the table sizes
        return CaserD2L(CaserD2LConfig(n_user_ids=n_user_ids, n_item_ids=n_item_ids, max_seq_length=max_seq_length, **mine))
    config = GRU4RecFConfig(n_item_ids=n_item_ids, max_seq_length=max_seq_length, **mine)
    return GRU4RecF(config, item_features or {}, feature_sizes or {})
