"""RecBole's filtering and id remapping, with its option names and meaning.

Order (RecBole 1.2.1 ``Dataset._data_filtering`` then ``_remap_ID_all``): remove duplicate
interactions, filter by field values (``val_interval``), drop interactions whose user or item was
filtered out of the .user/.item file, k-core filter by interaction counts repeated until stable,
then number users, items and feature tokens by first appearance (0 is padding).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.data.atomic import Table
from tuner.errors import DataError

USER, ITEM, TIME = "user_id", "item_id", "timestamp"

_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,]+?)\s*,\s*([^,]+?)\s*([\])])\s*$")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    low_closed: bool
    high_closed: bool

    def contains(self, values: np.ndarray) -> np.ndarray:
        above = values >= self.low if self.low_closed else values > self.low
        below = values <= self.high if self.high_closed else values < self.high
        return above & below


def parse_intervals(text: object, option: str) -> list[Interval] | None:
    """RecBole's interval strings: ``"[5,inf)"``, ``"(0,10]"``, several joined by ``;``. None: no filter."""
    if text is None:
        return None
    if isinstance(text, (list, tuple)) and len(text) == 2 and all(isinstance(v, (int, float)) for v in text):
        text = f"[{text[0]},{text[1]}]"  # YAML read "[5,10]" as a list: RecBole reads the same text as closed
    if not isinstance(text, str):
        raise DataError(f"{option}: expected an interval string such as \"[5,inf)\", got {text!r}")
    out = []
    for part in text.split(";"):
        m = _INTERVAL.match(part)
        if not m:
            raise DataError(f"{option}: {part.strip()!r} is not an interval; expected e.g. \"[5,inf)\" or \"(0,10]\"")
        try:
            low, high = float(m.group(2)), float(m.group(3))
        except ValueError:
            raise DataError(f"{option}: {part.strip()!r} has a bound that is not a number (use inf for no bound)") from None
        if low > high:
            raise DataError(f"{option}: {part.strip()!r} has its lower bound above the upper one")
        out.append(Interval(low, high, m.group(1) == "[", m.group(4) == "]"))
    return out


def within(values: np.ndarray, intervals: list[Interval]) -> np.ndarray:
    keep = np.zeros(len(values), dtype=bool)
    for interval in intervals:
        keep |= interval.contains(values)
    return keep


@dataclass
class Tables:
    """The loaded files of one dataset, changed in place by the steps below."""

    inter: pd.DataFrame
    item: pd.DataFrame | None
    user: pd.DataFrame | None
    types: dict[str, dict[str, str]]  # "inter"/"item"/"user" -> field -> type
    paths: dict[str, Path]


def remove_duplicates(t: Tables, keep: object) -> None:
    """``rm_dup_inter``: None keeps everything; "first"/"last" keeps one of each (user, item) pair by time."""
    if keep is None:
        return
    if keep not in ("first", "last"):
        raise DataError(f"rm_dup_inter: expected null, 'first' or 'last', got {keep!r}")
    inter = t.inter.sort_values(TIME, kind="stable") if TIME in t.inter else t.inter
    t.inter = inter.drop_duplicates(subset=[USER, ITEM], keep=keep).sort_index()


def filter_by_value(t: Tables, val_interval: object) -> None:
    """``val_interval: {field: "[low,high)"}`` keeps rows of whichever file holds the field."""
    if val_interval is None:
        return
    if not isinstance(val_interval, Mapping):
        raise DataError(f"val_interval: expected a mapping such as {{rating: \"[3,inf)\"}}, got {val_interval!r}")
    for field, spec in val_interval.items():
        intervals = parse_intervals(spec, f"val_interval.{field}")
        found = False
        for part in ("inter", "item", "user"):
            frame = getattr(t, part)
            if frame is None or field not in frame:
                continue
            if t.types[part][field] != "float":
                raise DataError(f"{t.paths[part]}: val_interval field {field!r} is {t.types[part][field]}, expected a float column")
            found = True
            values = frame[field].to_numpy()
            setattr(t, part, frame[within(values, intervals)])
        if not found:
            raise DataError(f"val_interval: no loaded file has a column {field!r}")


def drop_orphan_interactions(t: Tables) -> None:
    """Interactions of users/items absent from a loaded .user/.item file go (RecBole's filter_inter_by_user_or_item)."""
    if t.user is not None and USER in t.user:
        t.inter = t.inter[t.inter[USER].isin(t.user[USER])]
    if t.item is not None and ITEM in t.item:
        t.inter = t.inter[t.inter[ITEM].isin(t.item[ITEM])]


def filter_by_inter_num(t: Tables, user_interval: object, item_interval: object) -> None:
    """k-core filtering: drop users/items whose interaction count falls outside the interval, until stable."""
    users = parse_intervals(user_interval, "user_inter_num_interval")
    items = parse_intervals(item_interval, "item_inter_num_interval")
    if users is None and items is None:
        return
    while True:
        ban_users = _illegal(t.inter[USER], t.user, USER, users)
        ban_items = _illegal(t.inter[ITEM], t.item, ITEM, items)
        if not len(ban_users) and not len(ban_items):
            return
        if t.user is not None and len(ban_users):
            t.user = t.user[~t.user[USER].isin(ban_users)]
        if t.item is not None and len(ban_items):
            t.item = t.item[~t.item[ITEM].isin(ban_items)]
        t.inter = t.inter[~(t.inter[USER].isin(ban_users) | t.inter[ITEM].isin(ban_items))]


def _illegal(inter_ids: pd.Series, feat: pd.DataFrame | None, field: str, intervals: list[Interval] | None) -> np.ndarray:
    if intervals is None:
        return np.array([], dtype=object)
    counts = inter_ids.value_counts()
    bad = counts.index[~within(counts.to_numpy().astype(np.float64), intervals)].to_numpy()
    if feat is not None and field in feat:
        # ids listed in the file but never interacted with count 0
        absent = feat[field][~feat[field].isin(counts.index)].to_numpy()
        if len(absent) and not within(np.zeros(1), intervals)[0]:
            bad = np.concatenate([bad, absent])
    return bad


def remap(first: pd.Series, extra: pd.Series | None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Number tokens by first appearance over ``first`` then ``extra`` (1-based; 0 = padding)."""
    tokens = first if extra is None else pd.concat([first, extra], ignore_index=True)
    codes, uniques = pd.factorize(tokens.to_numpy(), use_na_sentinel=True)
    codes = codes + 1
    head = codes[: len(first)]
    tail = codes[len(first):] if extra is not None else None
    return head, tail, ["[PAD]", *map(str, uniques)]


def feature_table(item_ids: np.ndarray, values: pd.Series, ftype: str, n_item_ids: int) -> tuple[np.ndarray, int]:
    """(n_item_ids, F) ids of one token / token_seq item field, tokens numbered by first appearance."""
    lists = values.map(lambda v: [v] if isinstance(v, str) else list(v)) if ftype == "token" else values
    lists = lists.map(lambda v: [x for x in v if x != ""])
    lengths = lists.map(len).to_numpy()
    flat = pd.Series([x for v in lists for x in v], dtype=object)
    codes, uniques = pd.factorize(flat.to_numpy()) if len(flat) else (np.zeros(0, np.int64), [])
    width = max(int(lengths.max()) if len(lengths) else 0, 1)
    table = np.zeros((n_item_ids, width), dtype=np.int64)
    rows = np.repeat(item_ids, lengths)
    cols = np.concatenate([np.arange(n) for n in lengths]) if len(lengths) else np.zeros(0, np.int64)
    table[rows, cols] = codes + 1
    return table, len(uniques) + 1


def check_not_empty(t: Tables, what: str) -> None:
    if len(t.inter) == 0:
        raise DataError(f"{t.paths['inter']}: no interactions left after {what}; loosen the filter")


def is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)
