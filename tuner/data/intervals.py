"""RecBole's interval strings: ``"[5,inf)"``, ``"(0,10]"``, ``"[1,2);[4,5]"`` (a union).

RecBole's ``_parse_intervals_str`` / ``_within_intervals`` give the meaning: a square bracket is
closed, a round one open, ``inf`` is infinity, ``;`` separates intervals whose union is kept.
Where RecBole logs a warning and skips a malformed interval, we raise :class:`ConfigError`: a
filter that silently does nothing is worse than an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.errors import ConfigError


@dataclass(frozen=True)
class Interval:
    """One interval between two endpoints."""

    low: float
    high: float
    low_closed: bool  # "[" rather than "("
    high_closed: bool  # "]" rather than ")"

    def contains(self, values: np.ndarray) -> np.ndarray:
        above = values >= self.low if self.low_closed else values > self.low
        below = values <= self.high if self.high_closed else values < self.high
        return above & below


@dataclass(frozen=True)
class Intervals:
    """A union of intervals, as one RecBole interval option holds."""

    parts: tuple[Interval, ...]
    text: str  # the canonical text, e.g. "[5.0,inf)"; part of cache keys

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask: which values lie in any part (NaN lies in none)."""
        values = np.asarray(values, dtype=np.float64)
        mask = self.parts[0].contains(values)
        for part in self.parts[1:]:
            mask |= part.contains(values)
        return mask

    @property
    def lowest(self) -> float:
        """The first part's lower endpoint: RecBole bans ids of a .user/.item file with fewer interactions."""
        return self.parts[0].low


def parse_intervals(value: Any, option: str) -> Intervals:
    """Read an interval option: a string such as ``"[5,inf)"``, or ``[low, high]`` (closed, as RecBole
    reads the YAML list ``[5,10]`` through ``str()``)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2 or not all(_is_number(v) for v in value):
            raise ConfigError(f"{option}: expected an interval such as \"[5,inf)\" or [5, 10], got {value!r}")
        text = f"[{value[0]},{value[1]}]"
    elif isinstance(value, str):
        text = value
    else:
        raise ConfigError(f"{option}: expected an interval string such as \"[5,inf)\", got {value!r}")
    parts = tuple(_parse_one(piece.strip(), option) for piece in text.split(";"))
    canonical = ";".join(
        f"{'[' if p.low_closed else '('}{p.low},{p.high}{']' if p.high_closed else ')'}" for p in parts
    )
    return Intervals(parts=parts, text=canonical)


def _parse_one(text: str, option: str) -> Interval:
    expected = f'{option}: expected an interval such as "[5,inf)" or "(0,10]", got {text!r}'
    if len(text) < 2 or text[0] not in "([" or text[-1] not in ")]":
        raise ConfigError(expected)
    ends = text[1:-1].split(",")
    if len(ends) != 2:
        raise ConfigError(expected)
    try:
        low, high = float(ends[0]), float(ends[1])
    except ValueError:
        raise ConfigError(expected) from None
    if low > high or np.isnan(low) or np.isnan(high):
        raise ConfigError(f"{option}: interval {text!r} is empty (its lower end is above its upper end)")
    return Interval(low=low, high=high, low_closed=text[0] == "[", high_closed=text[-1] == "]")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
