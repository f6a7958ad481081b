"""Raw tokens -> internal ids, numbered as RecBole 1.2.1 numbers them (``Dataset._remap``).

RecBole concatenates a field's values over the tables holding it (interactions first, then the
.user or .item file), factorises them in order of first appearance and adds 1, so 0 stays free
for padding; an empty token becomes 0. Items of the .item file without interactions still get ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tuner.data.atomic import SEQ_SEPARATOR, Table

PAD = "[PAD]"


@dataclass(frozen=True)
class IdMap:
    """One id space: the ids of the rows of each table, and the id -> token table."""

    tokens: list[str]  # internal id -> raw token; index 0 is "[PAD]"
    inter_ids: np.ndarray  # (rows of .inter,) int64
    feature_ids: np.ndarray  # (rows of .user/.item,) int64; empty when that file is not loaded


def remap_ids(inter: Table, features: Table | None, field: str) -> IdMap:
    inter_tokens = inter.frame[field].to_numpy()
    feature_tokens = features.frame[field].to_numpy() if features is not None else inter_tokens[:0]
    codes, uniques = pd.factorize(np.concatenate([inter_tokens, feature_tokens]))
    ids = codes.astype(np.int64) + 1
    return IdMap(
        tokens=[PAD, *uniques.tolist()],
        inter_ids=ids[: len(inter_tokens)],
        feature_ids=ids[len(inter_tokens) :],
    )


def item_feature_tables(item: Table | None, item_ids: np.ndarray, n_item_ids: int, item_field: str):
    """Per-item feature ids of every token / token_seq column of the .item file.

    Returns ``(features, sizes, vocabularies)``: field -> (n_item_ids, F) int64 (0-padded; F = 1 for a
    token field, the longest sequence for a token_seq field), field -> vocabulary size with padding,
    field -> id -> token list.
    """
    features: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
    vocabularies: dict[str, list[str]] = {}
    if item is None:
        return features, sizes, vocabularies
    for field in item.fields_of_type("token", "token_seq"):
        if field == item_field:
            continue
        values = item.frame[field].to_numpy()
        if item.types[field] == "token":
            sequences = [[v] if v else [] for v in values]
        else:
            sequences = [[t for t in v.split(SEQ_SEPARATOR) if t] for v in values]
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        flat = np.array([t for s in sequences for t in s], dtype=object)
        codes, uniques = pd.factorize(flat)
        width = max(int(lengths.max(initial=0)), 1)
        table = np.zeros((n_item_ids, width), dtype=np.int64)
        rows = np.repeat(item_ids, lengths)
        columns = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        table[rows, columns] = codes + 1
        features[field] = table
        sizes[field] = len(uniques) + 1
        vocabularies[field] = [PAD, *uniques.tolist()]
    return features, sizes, vocabularies
