"""Load RecBole 1.2.1 weights into this project's models (parameter names and layouts differ).

Ids are not translated: the state dict's rows are RecBole's internal ids, so the model must number
users, items and feature tokens as RecBole did (the data module reproduces RecBole's numbering).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from tuner.models.caser import Caser
from tuner.models.gru4recf import GRU4RecF


def load_recbole_state_dict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy a RecBole ``Caser`` or ``GRU4RecF`` state dict into ``model`` (strict: every parameter
    of both sides must be accounted for, shapes must agree)."""
    if isinstance(model, Caser):
        ours = _caser(model, dict(state_dict))
    elif isinstance(model, GRU4RecF):
        ours = _gru4recf(model, dict(state_dict))
    else:
        raise TypeError(f"no RecBole translation for {type(model).__name__}")
    model.load_state_dict(ours, strict=True)


def _take(state: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    try:
        return state.pop(name)
    except KeyError:
        raise KeyError(f"RecBole state dict has no {name!r}") from None


def _done(state: dict[str, torch.Tensor], model_name: str) -> None:
    if state:
        raise KeyError(f"RecBole {model_name} state dict has parameters this model lacks: {sorted(state)}")


def _caser(model: Caser, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    L, nh, nv = model.config.max_seq_length, model.config.nh, model.config.nv
    out = {name: _take(state, name) for name in
           ("user_embedding.weight", "item_embedding.weight", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")}
    out["conv_v_weight"] = _take(state, "conv_v.weight").reshape(nv, L)  # (nv, 1, L, 1) -> (nv, L)
    out["conv_v_bias"] = _take(state, "conv_v.bias")
    # conv_h.{h-1}.weight (nh, 1, h, d) -> rows h(h-1)/2 .. of the packed (S, nh, d)
    heights = range(1, L + 1) if nh else ()
    weights = [_take(state, f"conv_h.{h - 1}.weight")[:, 0].permute(1, 0, 2) for h in heights]  # (h, nh, d) each
    biases = [_take(state, f"conv_h.{h - 1}.bias") for h in heights]  # (nh,) each
    d = model.config.embedding_size
    out["conv_h_weight"] = torch.cat(weights) if weights else torch.empty(0, nh, d)
    out["conv_h_bias"] = torch.stack(biases) if biases else torch.empty(0, nh)
    _done(state, "Caser")
    return out


def _gru4recf(model: GRU4RecF, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {"item_embedding.weight": _take(state, "item_embedding.weight"),
           "dense.weight": _take(state, "dense_layer.weight"),
           "dense.bias": _take(state, "dense_layer.bias")}
    prefix = "feature_embed_layer."
    if model.features.token_fields:
        out["features.token_embedding.weight"] = _take(state, prefix + "token_embedding_table.item.embedding.weight")
    for i in range(len(model.features.token_seq_fields)):
        out[f"features.token_seq_embeddings.{i}.weight"] = _take(state, prefix + f"token_seq_embedding_table.item.{i}.weight")
    for theirs, ours in (("item_gru_layers.", "item_gru."), ("feature_gru_layers.", "feature_gru.")):
        for name in [n for n in state if n.startswith(theirs)]:
            out[ours + name[len(theirs):]] = state.pop(name)
    _done(state, "GRU4RecF")
    return out
