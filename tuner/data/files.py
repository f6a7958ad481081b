"""Load a dataset folder's atomic files as RecBole's ``load_col`` asks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tuner.data.atomic import SUFFIXES, atomic_files, read_table
from tuner.data.preprocess import Tables
from tuner.errors import DataError


def load_tables(folder: Path, name: str, load_col: object) -> Tables:
    """Load the files and columns ``load_col`` names, as RecBole does.

    None is RecBole's default: the .inter file alone (every column). A mapping loads only the files it
    names; a file mapped to null loads all its columns (an extension of RecBole's format).
    """
    files = atomic_files(folder, name)
    if load_col is None:
        load_col = {"inter": None}
    else:
        if not isinstance(load_col, Mapping) or any(k not in SUFFIXES for k in load_col):
            raise DataError(f"load_col: expected a mapping such as {{inter: [user_id, item_id, timestamp]}} with keys among {', '.join(SUFFIXES)}, got {load_col!r}")
        if "inter" not in load_col:
            raise DataError(f"load_col: must name the inter file, e.g. {{inter: [user_id, item_id, timestamp], item: [item_id, class]}}; got {load_col!r}")
        for part, cols in load_col.items():
            if part not in files:
                raise DataError(f"{folder / f'{name}.{part}'}: missing file (load_col names it)")
            if cols is not None and (not isinstance(cols, list) or not all(isinstance(c, str) for c in cols)):
                raise DataError(f"load_col.{part}: expected a list of column names, got {cols!r}")
    frames, types = {}, {}
    for part, path in files.items():
        if part not in load_col:
            frames[part] = None
            continue
        table = read_table(path, None if load_col[part] is None else list(load_col[part]))
        frames[part], types[part] = table.frame, table.types
    return Tables(frames["inter"], frames.get("item"), frames.get("user"), types, dict(files))


def with_item_fields(load_col: object, fields: list[str]) -> dict:
    """``load_col`` extended so the .item file's ``fields`` are loaded too (GRU4RecF's selected_features)."""
    out = {"inter": None} if load_col is None else dict(load_col)  # type: ignore[arg-type]
    item = out.get("item", [])
    if item is not None:
        out["item"] = list(dict.fromkeys(["item_id", *item, *fields]))
    return out
