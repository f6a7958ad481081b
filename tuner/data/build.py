"""Loaded tables -> filtered, remapped, split tensors: the whole pipeline, in RecBole's order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from tuner.data import preprocess as pp
from tuner.data.dataset import SequentialDataset
from tuner.data.preprocess import ITEM, TIME, USER, Tables
from tuner.data.sequences import build_splits, sort_by_user_then_time
from tuner.errors import DataError


def build_dataset(name: str, t: Tables, options: Mapping[str, Any]) -> SequentialDataset:
    for field in (USER, ITEM, TIME):
        if field not in t.inter:
            raise DataError(f"{t.paths['inter']}: no column {field!r}; sequential models need {USER}, {ITEM} and {TIME}")
    if t.types["inter"][TIME] != "float":
        raise DataError(f"{t.paths['inter']}: column {TIME!r} must be float (a Unix time), not {t.types['inter'][TIME]}")
    if t.inter[TIME].isna().any():
        row = int(np.flatnonzero(t.inter[TIME].isna().to_numpy())[0])
        raise DataError(f"{t.paths['inter']}:{row + 2}: empty {TIME}; every interaction needs a time to be ordered")
    max_len = options.get("MAX_ITEM_LIST_LENGTH", 50)
    if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 1:
        raise DataError(f"MAX_ITEM_LIST_LENGTH: expected a positive integer, got {max_len!r}")

    pp.remove_duplicates(t, options.get("rm_dup_inter"))
    pp.filter_by_value(t, options.get("val_interval"))
    pp.check_not_empty(t, "val_interval")
    pp.drop_orphan_interactions(t)
    pp.check_not_empty(t, "dropping interactions of users/items missing from the .user/.item files")
    pp.filter_by_inter_num(t, options.get("user_inter_num_interval"), options.get("item_inter_num_interval"))
    pp.check_not_empty(t, "user_inter_num_interval / item_inter_num_interval")

    user_extra = t.user[USER] if t.user is not None and USER in t.user else None
    item_extra = t.item[ITEM] if t.item is not None and ITEM in t.item else None
    users, _, user_tokens = pp.remap(t.inter[USER], user_extra)
    items, item_file_ids, item_tokens = pp.remap(t.inter[ITEM], item_extra)

    features, sizes = {}, {}
    if t.item is not None and item_file_ids is not None:
        for field, ftype in t.types["item"].items():
            if field == ITEM or ftype not in ("token", "token_seq"):
                continue
            table, size = pp.feature_table(item_file_ids, t.item[field], ftype, len(item_tokens))
            features[field], sizes[field] = torch.from_numpy(table), size

    order = sort_by_user_then_time(users, t.inter[TIME].to_numpy())
    train, valid, test = build_splits(users[order], items[order], max_len)
    if len(train) + len(valid) + len(test) == 0:
        raise DataError(f"{t.paths['inter']}: no user has two interactions, so there is no sequence to learn from")
    return SequentialDataset(
        name=name,
        n_user_ids=len(user_tokens),
        n_item_ids=len(item_tokens),
        n_interactions=len(t.inter),
        train=train,
        valid=valid,
        test=test,
        user_tokens=user_tokens,
        item_tokens=item_tokens,
        item_features=features,
        feature_sizes=sizes,
    )
