"""Canonical digests of a built dataset, computed the same way from RecBole's output and from ours."""

from __future__ import annotations

import hashlib
import json

# RecBole's load_col null reads every file and column; ours reads the .inter file only, RecBole's ml-100k default
ALL_FILES = {"inter": "*", "item": "*", "user": "*"}
RECBOLE_ML100K_INTER = {"inter": ["user_id", "item_id", "rating", "timestamp"]}  # RecBole's ml-100k.yaml load_col

# option sets run on ml-100k (RecBole's normalize_all null is our false)
ML100K_CASES: dict[str, dict] = {
    "default": {},
    "rating_3_up": {"val_interval": {"rating": "[3,inf)"}},
    "5_core": {"user_inter_num_interval": "[5,inf)", "item_inter_num_interval": "[5,inf)"},
    "bounded_counts": {"user_inter_num_interval": "(30,300]", "item_inter_num_interval": "[10,200]"},
    "rating_4_5_and_10_core": {
        "val_interval": {"rating": "[4,5]"},
        "user_inter_num_interval": "[10,inf)",
        "item_inter_num_interval": "[10,inf)",
    },
    "years_95_to_97": {"val_interval": {"release_year": ["1995", "1996", "1997"]}},
    "raw_timestamps": {"normalize_all": False},
    "inter_only": {"load_col": {"inter": ["user_id", "item_id", "timestamp"]}},
    "recbole_defaults_rating_3_up": {"val_interval": {"rating": "[3,inf)"}, "load_col": RECBOLE_ML100K_INTER},
    "recbole_defaults_rating_3_up_10_core_L20": {
        "val_interval": {"rating": "[3,inf)"},
        "user_inter_num_interval": "[10,inf)",
        "item_inter_num_interval": "[10,inf)",
        "MAX_ITEM_LIST_LENGTH": 20,
        "load_col": RECBOLE_ML100K_INTER,
    },
    "gru4recf_columns_L10": {
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"], "item": ["item_id", "release_year", "class"]},
        "MAX_ITEM_LIST_LENGTH": 10,
    },
}


def our_options(recbole_options: dict) -> dict:
    """The options that mean for us what ``recbole_options`` meant for RecBole."""
    return recbole_options if "load_col" in recbole_options else {**recbole_options, "load_col": ALL_FILES}


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()).hexdigest()


def digest(users: list[str], items: list[str], splits: dict[str, list], features: dict[str, dict]) -> dict[str, str]:
    """sha256 of the id tables, of each split's sorted [user, [history], target] rows, and of each feature."""
    out = {"user_tokens": _sha(users), "item_tokens": _sha(items)}
    out.update({part: _sha(sorted(rows)) for part, rows in splits.items()})
    out.update({f"feature {field}": _sha(table) for field, table in features.items()})
    return out


def rows_of(dataset, part: str) -> list:
    """Our split as RecBole's raw-token rows."""
    split = getattr(dataset, part)
    users, items = dataset.user_tokens, dataset.item_tokens
    return sorted(
        [users[u], [items[i] for i in seq[:n]], items[t]]
        for u, seq, n, t in zip(split.user.tolist(), split.item_seq.tolist(), split.item_len.tolist(), split.target.tolist())
    )


def features_of(dataset) -> dict[str, dict]:
    out = {}
    items = dataset.item_tokens
    for field, table in dataset.item_features.items():
        tokens = dataset.feature_tokens[field]
        per_item = {items[i]: [tokens[v] for v in row if v] for i, row in enumerate(table.tolist()) if i}
        out[field] = {"tokens": tokens, "items": per_item}
    return out


def build_record(dataset) -> tuple[dict, dict[str, list], dict[str, dict]]:
    splits = {part: rows_of(dataset, part) for part in ("train", "valid", "test")}
    return dataset.stats(), splits, features_of(dataset)
