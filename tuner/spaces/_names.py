"""Parameter names: their spelling, duplicates (aliases included) and the check against known names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from tuner.config import ALIASES, canonical, suggest
from tuner.errors import SpaceError, at
from tuner.spaces._build import TYPES
from tuner.spaces._param import Param
from tuner.spaces._values import Invalid, shown

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ALIAS_OF = {target: alias for alias, target in ALIASES.items()}  # nh -> n_h


def check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise Invalid(f"{shown(str(name))} is not a parameter name; expected letters, digits and _, e.g. learning_rate")


def unknown_type(hyper_type: object, name: str) -> str:
    return f"{name}: unknown type {shown(str(hyper_type))}; expected one of {', '.join(TYPES)}" + suggest(
        str(hyper_type), TYPES
    )


def check_unique(params: Iterable[Param], source: str) -> None:
    """Each parameter once; ``n_h`` and ``nh`` are one parameter."""
    first: dict[str, Param] = {}
    for param in params:
        earlier = first.setdefault(canonical(param.name), param)
        if earlier is param:
            continue
        same = f"{param.name!r} is defined twice" if earlier.name == param.name else (
            f"{param.name!r} is the same parameter as {earlier.name!r}"
        )
        raise SpaceError(at(source, param.line, f"{same} (first on line {earlier.line})"))


def check_known(params: Iterable[Param], known: Mapping[str, object] | Iterable[str], where: str | None, source: str) -> None:
    """Raise :class:`SpaceError` at the first parameter not in ``known``, naming the closest known one."""
    known = list(known)
    accepted = set(known)
    for param in params:
        name = param.name
        if name in accepted or canonical(name) in accepted or _ALIAS_OF.get(name) in accepted:
            continue
        of = f" for {where}" if where else ""
        raise SpaceError(at(source, param.line, f"unknown parameter {name!r}{of}{suggest(name, known)}"))
