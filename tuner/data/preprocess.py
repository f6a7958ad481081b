"""RecBole's data filtering, in RecBole 1.2.1's order (``Dataset._data_filtering``):

1. drop rows without a user or item id (and .item/.user rows repeating an id, first kept: at load);
2. ``rm_dup_inter``: sort interactions by time, keep the first or last of each (user, item) pair;
3. ``val_interval``: keep rows whose value lies in the interval (float field) or among the tokens
   (token field), in every table holding that field;
4. ``filter_inter_by_user_or_item``: drop interactions whose user/item a loaded .user/.item lacks;
5. ``user_inter_num_interval`` / ``item_inter_num_interval``: drop users and items whose interaction
   count lies outside the interval, recounting and repeating until nothing changes (k-core);
6. fail if a table is left empty.

All steps are vectorised; the row order of what survives is kept (after step 2, time order), since
RecBole numbers ids by first appearance in that order.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from tuner.data.atomic import AtomicTables, Table
from tuner.data.intervals import Intervals, parse_intervals
from tuner.data.options import DataOptions
from tuner.errors import ConfigError, DataError


def preprocess(tables: AtomicTables, opts: DataOptions) -> AtomicTables:
    """The filtered tables (new frames; the input is not changed)."""
    inter = _drop_missing_ids(tables.inter, [opts.user_field, opts.item_field])
    user = _drop_repeated_ids(_drop_missing_ids(tables.user, [opts.user_field]), opts.user_field)
    item = _drop_repeated_ids(_drop_missing_ids(tables.item, [opts.item_field]), opts.item_field)
    if opts.rm_dup_inter is not None:
        inter = _remove_duplicates(inter, opts)
    filtered = AtomicTables(inter=inter, item=item, user=user)
    if opts.val_interval:
        filtered = _filter_by_value(filtered, opts)
    if opts.filter_inter_by_user_or_item:
        filtered = _filter_inter_by_user_or_item(filtered, opts)
    if opts.user_inter_num is not None or opts.item_inter_num is not None:
        filtered = _filter_by_inter_num(filtered, opts)
    for table in filtered.tables().values():
        if table.frame.empty:
            raise DataError(f"{table.source}: the filters left no rows ({_describe_filters(opts)})")
    return filtered


def _with_rows(table: Table | None, keep: np.ndarray) -> Table | None:
    if table is None or keep.all():
        return table
    return replace(table, frame=table.frame[keep].reset_index(drop=True))


def _drop_missing_ids(table: Table | None, fields: list[str]) -> Table | None:
    if table is None:
        return None
    keep = np.ones(len(table.frame), dtype=bool)
    for field in fields:
        keep &= table.frame[field].to_numpy() != ""
    return _with_rows(table, keep)


def _drop_repeated_ids(table: Table | None, field: str) -> Table | None:
    if table is None:
        return None
    return _with_rows(table, ~table.frame[field].duplicated(keep="first").to_numpy())


def _remove_duplicates(inter: Table, opts: DataOptions) -> Table:
    # RecBole sorts with pandas' default (unstable) quicksort; a stable sort keeps file order among ties.
    order = np.argsort(inter.frame[opts.time_field].to_numpy(), kind="stable")
    frame = inter.frame.iloc[order]
    frame = frame[~frame.duplicated(subset=[opts.user_field, opts.item_field], keep=opts.rm_dup_inter)]
    return replace(inter, frame=frame.reset_index(drop=True))


def _tables_holding(tables: AtomicTables, field: str, opts: DataOptions) -> list[str]:
    """Suffixes of the tables a field filter applies to (RecBole's ``field2feats``)."""
    loaded = tables.tables()
    if field == opts.user_field:
        return [s for s in ("inter", "user") if s in loaded]
    if field == opts.item_field:
        return [s for s in ("inter", "item") if s in loaded]
    holders = [s for s, table in loaded.items() if field in table.types]
    return holders[-1:]  # a field in several files belongs to the last loaded (inter, user, item), as in RecBole


def _filter_by_value(tables: AtomicTables, opts: DataOptions) -> AtomicTables:
    loaded = dict(tables.tables())
    for field, wanted in opts.val_interval.items():
        suffixes = _tables_holding(tables, field, opts)
        if not suffixes:
            columns = sorted({c for t in loaded.values() for c in t.types})
            raise ConfigError(f"val_interval: no loaded column {field!r} (loaded: {', '.join(columns)})")
        ftype = loaded[suffixes[0]].types[field]
        for suffix in suffixes:
            values = loaded[suffix].frame[field].to_numpy()
            keep = _value_mask(values, ftype, field, wanted)
            loaded[suffix] = _with_rows(loaded[suffix], keep)
    return AtomicTables(inter=loaded["inter"], item=loaded.get("item"), user=loaded.get("user"))


def _value_mask(values: np.ndarray, ftype: str, field: str, wanted: object) -> np.ndarray:
    option = f"val_interval.{field}"
    if ftype == "float":
        return parse_intervals(wanted, option).contains(values)
    if ftype == "token":
        if not isinstance(wanted, (list, tuple)):
            raise ConfigError(f"{option}: {field!r} is a token field; expected a list of the tokens to keep, got {wanted!r}")
        return pd.Series(values).isin([str(token) for token in wanted]).to_numpy()
    raise ConfigError(f"{option}: {field!r} is a {ftype} field; val_interval filters token and float fields")


def _filter_inter_by_user_or_item(tables: AtomicTables, opts: DataOptions) -> AtomicTables:
    frame = tables.inter.frame
    keep = np.ones(len(frame), dtype=bool)
    if tables.user is not None:
        keep &= frame[opts.user_field].isin(tables.user.frame[opts.user_field]).to_numpy()
    if tables.item is not None:
        keep &= frame[opts.item_field].isin(tables.item.frame[opts.item_field]).to_numpy()
    return replace(tables, inter=_with_rows(tables.inter, keep))


def _filter_by_inter_num(tables: AtomicTables, opts: DataOptions) -> AtomicTables:
    """RecBole's ``_filter_by_inter_num``: ban users and items together from the same counts, repeat until stable.

    An id is banned when it has interactions and their count lies outside the interval; an id of a
    loaded .user/.item file is also banned (dropped from that file) when its count is below the
    first interval's lower end, even with no interactions at all.
    """
    users = _IdCounter(tables.inter, tables.user, opts.user_field, opts.user_inter_num)
    items = _IdCounter(tables.inter, tables.item, opts.item_field, opts.item_inter_num)
    alive = np.ones(len(tables.inter.frame), dtype=bool)
    while True:
        banned_users = users.banned(alive)
        banned_items = items.banned(alive)
        if not banned_users.any() and not banned_items.any():
            break
        users.drop_feature_rows(banned_users)
        items.drop_feature_rows(banned_items)
        alive &= ~banned_users[users.inter_codes] & ~banned_items[items.inter_codes]
    return AtomicTables(
        inter=_with_rows(tables.inter, alive),
        user=_with_rows(tables.user, users.feature_alive) if tables.user is not None else None,
        item=_with_rows(tables.item, items.feature_alive) if tables.item is not None else None,
    )


class _IdCounter:
    """Interaction counts of one id field (users or items), over the interactions still alive."""

    def __init__(self, inter: Table, features: Table | None, field: str, interval: Intervals | None):
        inter_ids = inter.frame[field].to_numpy()
        feature_ids = features.frame[field].to_numpy() if features is not None else inter_ids[:0]
        codes, uniques = pd.factorize(np.concatenate([inter_ids, feature_ids]))
        self.inter_codes = codes[: len(inter_ids)]
        self.feature_codes = codes[len(inter_ids) :]
        self.feature_alive = np.ones(len(feature_ids), dtype=bool)
        self.n_ids = len(uniques)
        self.interval = interval

    def banned(self, alive: np.ndarray) -> np.ndarray:
        """Boolean mask over ids."""
        banned = np.zeros(self.n_ids, dtype=bool)
        if self.interval is None:
            return banned  # RecBole counts nothing, so bans nothing, for a field without an interval
        counts = np.bincount(self.inter_codes[alive], minlength=self.n_ids)
        banned |= (counts > 0) & ~self.interval.contains(counts)
        live_features = self.feature_codes[self.feature_alive]
        banned[live_features[counts[live_features] < self.interval.lowest]] = True
        return banned

    def drop_feature_rows(self, banned: np.ndarray) -> None:
        self.feature_alive &= ~banned[self.feature_codes]


def _describe_filters(opts: DataOptions) -> str:
    parts = []
    if opts.val_interval:
        parts.append(f"val_interval={opts.val_interval}")
    if opts.user_inter_num is not None:
        parts.append(f"user_inter_num_interval={opts.user_inter_num.text}")
    if opts.item_inter_num is not None:
        parts.append(f"item_inter_num_interval={opts.item_inter_num.text}")
    if opts.rm_dup_inter is not None:
        parts.append(f"rm_dup_inter={opts.rm_dup_inter}")
    if opts.filter_inter_by_user_or_item:
        parts.append("filter_inter_by_user_or_item=true")
    return ", ".join(parts) or "no filter set"
