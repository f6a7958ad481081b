"""Checks for model parameter values: one ConfigError per bad value, naming it and what is allowed.

Values arrive from YAML files, ``--set`` and Optuna, so an integer may come as ``64.0`` (accepted)
and a list as a single string (accepted as a one-element list where that is unambiguous).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tuner.errors import ConfigError
from tuner.models.losses import LOSS_TYPES


def check_int(name: str, value: Any, minimum: int) -> int:
    """An integer >= minimum; integral floats (``64.0``, YAML ``1e2``) are accepted."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def check_float(name: str, value: Any, minimum: float, maximum: float = math.inf) -> float:
    """A real number in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value <= maximum:
        upper = "" if maximum == math.inf else f" and <= {maximum}"
        raise ConfigError(f"{name}: expected a number >= {minimum}{upper}, got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    """One of ``allowed`` (case-sensitive, as in RecBole)."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"{name}: expected one of {options}, got {value!r}")
    return value


def check_name_list(name: str, value: Any) -> tuple[str, ...]:
    """A non-empty list of distinct strings; a single string means a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name}: expected a non-empty list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{name}: a name is listed twice in {list(value)!r}")
    return tuple(value)


def check_members(name: str, values: Iterable[str], allowed: Iterable[str], what: str) -> None:
    """Every one of ``values`` is in ``allowed``; ``what`` says what allowed holds."""
    allowed = list(allowed)
    options = ", ".join(repr(a) for a in allowed) or "(none)"
    for v in values:
        if v not in allowed:
            raise ConfigError(f"{name}: {v!r} is not {what}; expected names from {options}")


def checked_fields(instance: Any, checks: dict[str, Callable[[str, Any], Any]]) -> None:
    """Replace each named field of a frozen dataclass by ``check(name, value)``'s result."""
    for field, check in checks.items():
        object.__setattr__(instance, field, check(field, getattr(instance, field)))


def at_least(minimum: int) -> Callable[[str, Any], int]:
    return lambda name, value: check_int(name, value, minimum)


def one_of(allowed: Sequence[str]) -> Callable[[str, Any], str]:
    return lambda name, value: check_choice(name, value, allowed)


def probability(name: str, value: Any) -> float:
    return check_float(name, value, 0.0, 1.0)


# Fields every model config has, checked the same way.
SHARED_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "n_item_ids": at_least(2),
    "max_seq_length": lambda name, value: check_int("MAX_ITEM_LIST_LENGTH", value, 1),
    "embedding_size": at_least(1),
    "dropout_prob": probability,
    "loss_type": one_of(LOSS_TYPES),
}
