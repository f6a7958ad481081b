"""Load a dataset folder's atomic files as RecBole's ``load_col`` asks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tuner.data.atomic import SUFFIXES, atomic_files, read_table
from tuner.data.preprocess import Tables
from tuner.errors import DataError


def load_tables(folder: Path, name: str, load_col: object) -> Tables:
    """``load_col`` None loads every column of every file; a mapping loads only the files it names."""
    files = atomic_files(folder, name)
    if load_col is not None:
        if not isinstance(load_col, Mapping) or any(k not in SUFFIXES for k in load_col):
            raise DataError(f"load_col: expected a mapping such as {{inter: [user_id, item_id, timestamp]}} with keys among {', '.join(SUFFIXES)}, got {load_col!r}")
        for part, cols in load_col.items():
            if part not in files:
                raise DataError(f"{folder / f'{name}.{part}'}: missing file (load_col names it)")
            if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
                raise DataError(f"load_col.{part}: expected a list of column names, got {cols!r}")
    frames, types = {}, {}
    for part, path in files.items():
        if load_col is not None and part not in load_col:
            frames[part] = None
            continue
        table = read_table(path, None if load_col is None else list(load_col[part]))
        frames[part], types[part] = table.frame, table.types
    return Tables(frames["inter"], frames.get("item"), frames.get("user"), types, dict(files))
