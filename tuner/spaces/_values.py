"""Reading values out of a space file without ever evaluating them.

RecBole ``eval()``s the ``choice`` value, so a hyper.test file can run code. Here a choice list goes
through ``ast.literal_eval`` only, and bounds through ``float()`` / ``int()``. Every problem is an
:class:`Invalid` carrying the message; the format readers add ``FILE:LINE:`` to it.
"""

from __future__ import annotations

import ast
import copy
import json
import math
from typing import Any


class Invalid(Exception):
    """A value in a space file is not what its type expects; ``args[0]`` is the message."""


CHOICE_EXAMPLE = "[0.01,0.001]"
_SHOWN_CHARS = 60  # how much of a bad value a message quotes


def shown(text: str) -> str:
    """``text`` quoted for a message, cut short when long."""
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "...")


def literal(text: str) -> Any:
    """A choice value read with ``ast.literal_eval`` (never ``eval``); :func:`choice_options` checks it."""
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        # ast raises ValueError for a call or a name (inf, nan), SyntaxError for broken text.
        raise Invalid(
            f"choice value {shown(text)} is not a literal list; expected a list of numbers, strings, "
            f"booleans, None, lists or dicts such as {CHOICE_EXAMPLE} (nothing in a space file is evaluated)"
        ) from None


def choice_options(value: Any, described: str) -> list[Any]:
    """Check a choice's list of options (from either format) and return it as a list."""
    if not isinstance(value, (list, tuple)):
        raise Invalid(f"choice value {described} is {_kind_of(value)}, not a list; expected a list such as {CHOICE_EXAMPLE}")
    if not value:
        raise Invalid(f"choice value {described} is empty; expected at least one option")
    seen: dict[str, int] = {}
    for position, option in enumerate(value):
        check_option(option)
        key = option_key(option)
        if key in seen:
            raise Invalid(f"choice value {described} lists {option!r} twice (options {seen[key] + 1} and {position + 1})")
        seen[key] = position
    return list(value)


def check_option(option: Any) -> None:
    """Allow what JSON can carry without loss: None, bool, int, finite float, str, lists and str-keyed dicts."""
    stack = [option]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (bool, int, str)):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise Invalid(f"choice option {option!r} holds {item!r}; expected finite numbers")
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise Invalid(f"choice option {option!r} has the key {key!r}; expected dict keys to be strings")
                stack.append(inner)
        else:
            raise Invalid(
                f"choice option {option!r} holds {_kind_of(item)}; expected numbers, strings, booleans, "
                f"None, lists or dicts"
            )


def option_key(option: Any) -> str:
    """A text that tells options apart by type too (``1``, ``1.0`` and ``True`` differ), as JSON does."""
    return json.dumps(option, sort_keys=True)


def _kind_of(value: Any) -> str:
    """What ``value`` is, for a message: "a set", "an int"."""
    names = {set: "a set", frozenset: "a set", bytes: "bytes", complex: "a complex number", int: "an int"}
    return names.get(type(value), f"a {type(value).__name__}")


def number(raw: Any, what: str) -> float:
    """A finite float from the text or YAML number ``raw``, as RecBole's ``float(...)`` reads it."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise Invalid(f"{what} {raw!r} is not a number")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise Invalid(f"{what} {shown(str(raw))} is not a number") from None
    if not math.isfinite(value):
        raise Invalid(f"{what} {shown(str(raw))} is not a finite number")
    return value


def integer(raw: Any, what: str) -> int:
    """An int from the text or YAML number ``raw`` (``randint`` bounds); ``2.0`` is not accepted."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            pass
    raise Invalid(f"{what} {shown(str(raw))} is not an integer")


def copied(value: Any) -> Any:
    """Lists and dicts are copied so that no caller can change a space through a value it got."""
    return copy.deepcopy(value) if isinstance(value, (list, dict)) else value
