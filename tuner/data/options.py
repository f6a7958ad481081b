"""The dataset options (``DATA_DEFAULTS`` keys), checked once and frozen.

Every value a user can get wrong is checked here, so the pipeline below never meets a bad option;
errors are :class:`ConfigError` naming the option and the expected form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tuner.config import DATA_DEFAULTS
from tuner.data.intervals import Intervals, parse_intervals
from tuner.errors import ConfigError

ATOMIC_SUFFIXES = ("inter", "item", "user")


@dataclass(frozen=True)
class DataOptions:
    """Preprocessing options after checking (RecBole's names; see ``DATA_DEFAULTS``)."""

    data_path: str | None  # a dataset folder, or the folder holding ``<name>/``
    user_field: str  # USER_ID_FIELD
    item_field: str  # ITEM_ID_FIELD
    time_field: str  # TIME_FIELD
    # suffix -> columns to load (None: all of them); a file left out is not read (default: .inter only)
    load_col: dict[str, tuple[str, ...] | None]
    # field -> as given; read against the field's type once the header is known (preprocess.py)
    val_interval: dict[str, Any]
    filter_inter_by_user_or_item: bool
    user_inter_num: Intervals | None  # user_inter_num_interval
    item_inter_num: Intervals | None  # item_inter_num_interval
    rm_dup_inter: str | None  # None, "first" or "last"
    normalize_all: bool  # min-max scale float fields; decides how timestamps tie (prepared.py)
    max_item_list_length: int  # MAX_ITEM_LIST_LENGTH

    def cache_key_fields(self) -> dict[str, Any]:
        """What the parsed, filtered, remapped and sorted interactions depend on (not L, not the path)."""
        return {
            "fields": [self.user_field, self.item_field, self.time_field],
            "load_col": {k: list(v) if v is not None else None for k, v in sorted(self.load_col.items())},
            "val_interval": {k: repr(v) for k, v in sorted(self.val_interval.items())},
            "filter_inter_by_user_or_item": self.filter_inter_by_user_or_item,
            "user_inter_num": self.user_inter_num.text if self.user_inter_num else None,
            "item_inter_num": self.item_inter_num.text if self.item_inter_num else None,
            "rm_dup_inter": self.rm_dup_inter,
            "normalize_all": self.normalize_all,
        }


def dataset_option_names() -> list[str]:
    """The option names :func:`tuner.data.load_dataset` reads (``DATA_DEFAULTS`` keys)."""
    return list(DATA_DEFAULTS)


def with_item_fields(load_col: Any, fields: list[str], item_field: str = "item_id") -> dict[str, Any]:
    """``load_col`` extended so the .item file's ``fields`` are loaded too (GRU4RecF's selected_features).

    None (the .inter file only) becomes ``{inter: null, item: [item_id, *fields]}``; a file already
    loaded whole (``'*'`` or null) stays so.
    """
    if load_col is not None and not isinstance(load_col, Mapping):
        return load_col  # not a load_col: resolve_options reports it
    out: dict[str, Any] = {"inter": None} if load_col is None else dict(load_col)
    item = out.get("item", [])
    if item is not None and item != "*":
        out["item"] = list(dict.fromkeys([item_field, *item, *fields]))
    return out


def resolve_options(options: Mapping[str, Any] | None) -> DataOptions:
    """Defaults overlaid with ``options``' ``DATA_DEFAULTS`` keys (others, such as a whole run
    configuration's, are ignored: callers check names where users type them); bad values raise
    :class:`ConfigError`."""
    given = {k: v for k, v in (options or {}).items() if k in DATA_DEFAULTS}
    o = {**DATA_DEFAULTS, **given}
    return DataOptions(
        data_path=_optional_str(o["data_path"], "data_path"),
        user_field=_field_name(o["USER_ID_FIELD"], "USER_ID_FIELD"),
        item_field=_field_name(o["ITEM_ID_FIELD"], "ITEM_ID_FIELD"),
        time_field=_field_name(o["TIME_FIELD"], "TIME_FIELD"),
        load_col=_load_col(o["load_col"]),
        val_interval=_val_interval(o["val_interval"]),
        filter_inter_by_user_or_item=_bool(o["filter_inter_by_user_or_item"], "filter_inter_by_user_or_item"),
        user_inter_num=_intervals_or_none(o["user_inter_num_interval"], "user_inter_num_interval"),
        item_inter_num=_intervals_or_none(o["item_inter_num_interval"], "item_inter_num_interval"),
        rm_dup_inter=_rm_dup(o["rm_dup_inter"]),
        normalize_all=_bool(o["normalize_all"], "normalize_all", none_is=False),
        max_item_list_length=_positive_int(o["MAX_ITEM_LIST_LENGTH"], "MAX_ITEM_LIST_LENGTH"),
    )


def _optional_str(value: Any, option: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{option}: expected a folder path, got {value!r}")
    return value


def _field_name(value: Any, option: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{option}: expected a column name such as 'user_id', got {value!r}")
    return value


def _bool(value: Any, option: str, none_is: bool | None = None) -> bool:
    if value is None and none_is is not None:
        return none_is
    if not isinstance(value, bool):
        raise ConfigError(f"{option}: expected true or false, got {value!r}")
    return value


def _positive_int(value: Any, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{option}: expected a positive integer, got {value!r}")
    return value


def _rm_dup(value: Any) -> str | None:
    if value is None or value in ("first", "last"):
        return value
    raise ConfigError(f"rm_dup_inter: expected first, last or null, got {value!r}")


def _intervals_or_none(value: Any, option: str) -> Intervals | None:
    return None if value is None else parse_intervals(value, option)


def _load_col(value: Any) -> dict[str, tuple[str, ...] | None]:
    if value is None:
        return {"inter": None}  # RecBole's ml-100k default: the interactions, every column
    if not isinstance(value, Mapping):
        raise ConfigError(f"load_col: expected a mapping such as {{inter: [user_id, item_id, timestamp]}}, got {value!r}")
    out: dict[str, tuple[str, ...] | None] = {}
    for suffix, columns in value.items():
        if suffix not in ATOMIC_SUFFIXES:
            raise ConfigError(f"load_col: unknown file suffix {suffix!r}; expected one of {', '.join(ATOMIC_SUFFIXES)}")
        if columns == "*" or columns is None:
            out[suffix] = None
        elif isinstance(columns, (list, tuple)) and all(isinstance(c, str) and c for c in columns):
            out[suffix] = tuple(columns)
        else:
            raise ConfigError(f"load_col.{suffix}: expected a list of column names or '*', got {columns!r}")
    if "inter" not in out:
        raise ConfigError("load_col: must name the inter file's columns (the .inter file is always needed)")
    return out


def _val_interval(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f'val_interval: expected a mapping such as {{rating: "[3,inf)"}}, got {value!r}')
    for field, interval in value.items():
        if not isinstance(interval, (str, list, tuple)):
            raise ConfigError(
                f'val_interval.{field}: expected an interval such as "[3,inf)" (float field) '
                f"or a list of tokens to keep (token field), got {interval!r}"
            )
    return {str(field): interval for field, interval in value.items()}
