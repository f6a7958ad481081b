"""Read RecBole atomic files (``<name>.inter``, ``.item``, ``.user``) into typed pandas tables.

The format: tab-separated, a header of ``field:type`` cells, types token, token_seq, float, float_seq.
Sequence cells are space-separated. Every value is read as text first, so a bad number can be reported
with its file and line instead of a bare pandas conversion error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.errors import DataError, at

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
SUFFIXES = ("inter", "item", "user")


@dataclass(frozen=True)
class Table:
    """One atomic file: its columns (typed) and each column's RecBole type."""

    path: Path
    frame: pd.DataFrame  # token: str; token_seq: list[str]; float: float64; float_seq: list[float]
    types: dict[str, str]


def read_header(path: Path) -> list[tuple[str, str]]:
    """``[(field, type), ...]`` from the first line, or a DataError naming what is wrong."""
    try:
        with path.open(encoding="utf-8") as f:
            first = f.readline().rstrip("\r\n")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise DataError(at(path, 1, "not UTF-8 text")) from None
    if not first:
        raise DataError(at(path, 1, "empty file: expected a header such as 'user_id:token<TAB>item_id:token'"))
    header = []
    for cell in first.split("\t"):
        name, sep, ftype = cell.rpartition(":")
        if not sep or not name:
            raise DataError(at(path, 1, f"header cell {cell!r}: expected 'field:type' with type one of {', '.join(FIELD_TYPES)}"))
        if ftype not in FIELD_TYPES:
            raise DataError(at(path, 1, f"header cell {cell!r}: unknown type {ftype!r}, expected one of {', '.join(FIELD_TYPES)}"))
        header.append((name, ftype))
    return header


def read_table(path: Path, columns: list[str] | None = None) -> Table:
    """Read one atomic file, keeping ``columns`` (all when None); a listed column that is absent is an error."""
    header = read_header(path)
    names = [n for n, _ in header]
    if columns is None:
        keep = names
    else:
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(at(path, 1, f"no column {missing[0]!r} (load_col asks for it); the file has {', '.join(names)}"))
        keep = [n for n in names if n in columns]
    types = dict(header)
    try:
        raw = pd.read_csv(
            path, sep="\t", header=0, names=names, usecols=keep, dtype=str, keep_default_na=False,
            quoting=3, encoding="utf-8", engine="c",
        )
    except pd.errors.ParserError as e:
        raise DataError(f"{path}: malformed row ({e}); expected {len(names)} tab-separated values per line") from None
    frame = pd.DataFrame(index=raw.index)
    for name in keep:
        frame[name] = _convert(path, name, types[name], raw[name])
    return Table(path, frame, {n: types[n] for n in keep})


def _convert(path: Path, name: str, ftype: str, column: pd.Series) -> pd.Series:
    if ftype == "token":
        return column
    if ftype == "token_seq":
        return column.str.split().map(lambda x: x if isinstance(x, list) else [])
    if ftype == "float":
        values = pd.to_numeric(column, errors="coerce")
        _check_numbers(path, name, column, values.isna() & (column.str.strip() != ""))
        return values.astype(np.float64)
    # float_seq: every space-separated element must be a number
    pieces = column.str.split()
    flat = pieces.explode()
    numbers = pd.to_numeric(flat, errors="coerce")
    bad = numbers.isna() & flat.notna()
    if bad.any():
        row = bad[bad].index[0]
        raise DataError(at(path, int(row) + 2, f"column {name!r} (float_seq): {flat[bad].iloc[0]!r} is not a number"))
    return pieces.map(lambda x: [float(v) for v in x] if isinstance(x, list) else [])


def _check_numbers(path: Path, name: str, column: pd.Series, bad: pd.Series) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(at(path, row + 2, f"column {name!r} (float): {column.iloc[row]!r} is not a number"))


def atomic_files(folder: Path, name: str) -> dict[str, Path]:
    """The atomic files present for dataset ``name`` in ``folder`` (``.inter`` is required)."""
    files = {s: folder / f"{name}.{s}" for s in SUFFIXES if (folder / f"{name}.{s}").is_file()}
    if "inter" not in files:
        raise DataError(f"{folder / (name + '.inter')}: missing file; a RecBole dataset folder holds <name>.inter (and optionally .item, .user)")
    return files
