"""Read RecBole atomic files (``<name>.inter``, ``.item``, ``.user``) into typed pandas tables.

Format (RecBole's): UTF-8 text, one record a line, fields separated by tabs; the first line is the
header ``field:type`` with type ``token``, ``token_seq``, ``float`` or ``float_seq``; sequences are
space-separated. Every problem is a :class:`DataError` naming the file, the line and what was
expected. Parsing is vectorised (pandas' C reader, numpy over the raw bytes), never a Python loop
over rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.errors import DataError, at

FEATURE_TYPES = ("token", "token_seq", "float", "float_seq")
SEQ_SEPARATOR = " "  # RecBole's seq_separator


@dataclass(frozen=True)
class Table:
    """The loaded columns of one atomic file."""

    source: str  # the file path (or what generated the table), for messages
    frame: pd.DataFrame  # token and token_seq columns: str, "" when empty; float columns: float64, NaN when empty
    types: dict[str, str]  # column -> one of FEATURE_TYPES, in file order

    def fields_of_type(self, *types: str) -> list[str]:
        return [field for field, ftype in self.types.items() if ftype in types]


@dataclass(frozen=True)
class AtomicTables:
    """A dataset as files hold it: interactions, and item and user features when loaded."""

    inter: Table
    item: Table | None
    user: Table | None

    def tables(self) -> dict[str, Table]:
        """Loaded tables by suffix, in RecBole's load order (inter, user, item)."""
        found = {"inter": self.inter, "user": self.user, "item": self.item}
        return {suffix: table for suffix, table in found.items() if table is not None}


def read_table(path: Path, columns: Iterable[str] | None = None, non_empty: Iterable[str] = ()) -> Table:
    """Read one atomic file, keeping ``columns`` (None: all). Columns in ``non_empty`` must hold a value
    on every line (the timestamp: without it a user's order is undefined)."""
    data = _read_bytes(path)
    text = _decode(data, path)
    header = _parse_header(text, path)
    names = [name for name, _ in header]
    wanted = names if columns is None else list(columns)
    missing = [c for c in wanted if c not in names]
    if missing:
        raise DataError(at(path, 1, f"no column {missing[0]!r} in the header (it has: {', '.join(names)})"))
    lines = _data_line_numbers(data, len(names), names, path)
    types = {name: ftype for name, ftype in header if name in wanted}
    floats = [name for name in wanted if types[name] == "float"]
    must_fill = [name for name in floats if name in set(non_empty)]
    try:  # fast path: pandas' C reader converts the float columns itself
        frame = _read_csv(text, names, wanted, {n: np.float64 for n in floats})
    except ValueError:  # a value that is not a number: read as text to find its line
        frame = _read_csv(text, names, wanted, {})
        for name in floats:
            frame[name] = _floats(frame[name], name, lines, path)
    if len(frame) != len(lines):
        raise DataError(at(path, None, f"read {len(frame)} records from {len(lines)} non-blank lines; is a value quoted?"))
    for name in must_fill:
        empty = np.flatnonzero(np.isnan(frame[name].to_numpy()))
        if len(empty):
            raise DataError(at(path, int(lines[empty[0]]), f"column {name!r}: expected a number, got an empty value"))
    for name in wanted:
        if types[name] == "float_seq":
            _check_float_seq(frame[name], name, lines, path)
    return Table(source=str(path), frame=frame, types=types)


def select_columns(table: Table, columns: Iterable[str] | None) -> Table:
    """``table`` with only ``columns`` (None: all), as ``read_table`` would have read them."""
    if columns is None:
        return table
    wanted = list(columns)
    missing = [c for c in wanted if c not in table.types]
    if missing:
        raise DataError(at(table.source, 1, f"no column {missing[0]!r} (it has: {', '.join(table.types)})"))
    return Table(source=table.source, frame=table.frame[wanted], types={c: table.types[c] for c in wanted})


def require_column(table_path: Path, types: Mapping[str, str], field: str, option: str, ftype: str) -> None:
    """The header holds ``field`` (named by ``option``) with type ``ftype``."""
    if field not in types:
        raise DataError(
            at(table_path, 1, f"no column {field!r} ({option}); the header has: {', '.join(types) or 'nothing'}")
        )
    if types[field] != ftype:
        raise DataError(at(table_path, 1, f"column {field!r} ({option}) has type {types[field]}; expected {ftype}"))


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError(at(path, None, "file not found")) from None
    except OSError as e:
        raise DataError(at(path, None, f"cannot read ({e.strerror})")) from None


def _decode(data: bytes, path: Path) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(at(path, line, f"not UTF-8 text (byte {data[e.start]:#x}); atomic files are UTF-8")) from None
    return text[1:] if text.startswith("\ufeff") else text


def _parse_header(text: str, path: Path) -> list[tuple[str, str]]:
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first:
        raise DataError(at(path, 1, "empty header; expected tab-separated field:type columns, e.g. user_id:token"))
    header: list[tuple[str, str]] = []
    for column in first.split("\t"):
        name, colon, ftype = column.rpartition(":")
        if not colon or not name:
            raise DataError(at(path, 1, f"header column {column!r}: expected field:type, e.g. user_id:token"))
        if ftype not in FEATURE_TYPES:
            raise DataError(
                at(path, 1, f"header column {column!r}: unknown type {ftype!r}; expected one of {', '.join(FEATURE_TYPES)}")
            )
        if any(name == seen for seen, _ in header):
            raise DataError(at(path, 1, f"header names column {name!r} twice"))
        header.append((name, ftype))
    return header


def _data_line_numbers(data: bytes, n_fields: int, names: list[str], path: Path) -> np.ndarray:
    """1-based line numbers of the non-blank data lines, after checking each has ``n_fields`` fields.

    Counted on the raw bytes with numpy: pandas would silently pad short lines.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 0x0A)
    ends = newlines if data.endswith(b"\n") else np.append(newlines, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    lengths -= (lengths > 0) & (raw[np.maximum(ends - 1, 0)] == 0x0D)  # a CRLF line's "\r" is not content
    tabs = np.bincount(np.searchsorted(ends, np.flatnonzero(raw == 0x09)), minlength=len(ends))
    data_lines = np.arange(1, len(ends))  # 0-based; line 0 is the header
    data_lines = data_lines[lengths[data_lines] > 0]  # blank lines are skipped, as RecBole's reader does
    wrong = data_lines[tabs[data_lines] != n_fields - 1]
    if len(wrong):
        line = int(wrong[0])
        raise DataError(
            at(
                path,
                line + 1,
                f"expected {n_fields} tab-separated fields ({', '.join(names)}), found {int(tabs[line]) + 1}",
            )
        )
    return data_lines + 1


def _read_csv(text: str, names: list[str], wanted: list[str], float_columns: dict) -> pd.DataFrame:
    """Token columns as Python str ("" when empty), ``float_columns`` as float64 (NaN when empty)."""
    return pd.read_csv(
        io.StringIO(text),
        sep="\t",
        header=None,
        skiprows=1,
        names=names,
        usecols=wanted,
        dtype={name: float_columns.get(name, object) for name in wanted},
        keep_default_na=False,
        na_values={name: [""] for name in float_columns},
        quoting=csv.QUOTE_NONE,
        engine="c",
    )[wanted]


def _floats(column: pd.Series, name: str, lines: np.ndarray, path: Path) -> pd.Series:
    """Only reached when a value is not a number: find it and name its line."""
    values = pd.to_numeric(column, errors="coerce").astype(np.float64)
    for row in np.flatnonzero(values.isna().to_numpy()):
        text = column.iat[row]
        if text == "":
            continue  # RecBole reads an empty float as NaN
        try:
            float(text)
        except ValueError:
            raise DataError(at(path, int(lines[row]), f"column {name!r}: expected a number, got {text!r}")) from None
    return values


def _check_float_seq(column: pd.Series, name: str, lines: np.ndarray, path: Path) -> None:
    tokens = column.str.split(SEQ_SEPARATOR).explode()
    tokens = tokens[tokens.notna() & (tokens != "")]
    bad = pd.to_numeric(tokens, errors="coerce").isna() & ~tokens.str.lower().isin(["nan", "+nan", "-nan"])
    if bad.any():
        row = int(bad.index[bad.to_numpy()][0])
        raise DataError(
            at(path, int(lines[row]), f"column {name!r}: expected space-separated numbers, got {tokens[bad].iloc[0]!r}")
        )
