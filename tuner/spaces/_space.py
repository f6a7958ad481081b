"""A parsed search space: the frozen record the service, the CLI and the report share."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import optuna.distributions as od

from tuner.errors import SpaceError
from tuner.spaces._names import check_known
from tuner.spaces._param import Param
from tuner.spaces._values import copied


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of one space file, in file order."""

    source: str  # where it was read from (a path, or the name given to parse_text); starts every message
    params: tuple[Param, ...]  # in file order; names are unique (aliases included)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def __getitem__(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(name)

    def distributions(self) -> dict[str, od.BaseDistribution]:
        """Optuna's distributions by name (choices as categories: see :class:`Param`)."""
        return {p.name: p.distribution() for p in self.params}

    @property
    def grid_size(self) -> int | None:
        """The number of grid points (the product of the choice counts); None unless every parameter is a choice."""
        if not all(p.kind == "choice" for p in self.params):
            return None
        return math.prod(len(p.values) for p in self.params)

    def grid(self) -> Grid | None:
        """Every combination of the choices, as a lazy sequence of dicts; None unless all are choices."""
        return Grid(self.params) if self.grid_size is not None else None

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask an Optuna trial for every parameter; the real values by name (as the grid gives them)."""
        return {p.name: p.suggest(trial) for p in self.params}

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Real values from Optuna's (``trial.params``); every name of the space, and only those."""
        self._check_keys(params, "Optuna's parameters")
        return {p.name: p.decode(params[p.name]) for p in self.params}

    def encode(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna's values for real ones (a grid point, say), for ``study.enqueue_trial``."""
        self._check_keys(values, "the values")
        return {p.name: p.encode(values[p.name]) for p in self.params}

    def check_names(self, known: Mapping[str, Any] | Iterable[str], where: str | None = None) -> None:
        """Raise :class:`SpaceError` at the first name not in ``known`` (``n_h``/``nh`` aliases accepted),
        suggesting the closest known name; ``where`` names what was checked against (``"Caser"``)."""
        check_known(self.params, known, where, self.source)

    def to_json(self) -> dict[str, Any]:
        """``{"params": {name: {...}}, "grid_size": int | None}``, as ``tuner space --json`` prints it."""
        return {"params": {p.name: p.to_json() for p in self.params}, "grid_size": self.grid_size}

    def _check_keys(self, given: Mapping[str, Any], what: str) -> None:
        missing = [n for n in self.names if n not in given]
        extra = [n for n in given if n not in self.names]
        problems = ([f"missing {missing}"] if missing else []) + ([f"not in the space {extra}"] if extra else [])
        if problems:
            raise SpaceError(f"{self.source}: {what} do not match the space: {', '.join(problems)}")


class Grid(Sequence):
    """The grid of an all-choice space without building it: point ``i`` is computed when asked for.

    Order: the product of the options in file order, the last parameter changing fastest (as
    ``itertools.product``), each option in the order written. Points are fresh dicts.
    """

    def __init__(self, params: Sequence[Param]) -> None:
        self._names = tuple(p.name for p in params)
        self._options = tuple(p.values for p in params)
        self._size = math.prod(len(o) for o in self._options)

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(self._size)[index]]
        position = range(self._size)[index]  # raises IndexError, handles negatives
        chosen = []
        for options in reversed(self._options):  # mixed radix, last parameter least significant
            position, digit = divmod(position, len(options))
            chosen.append(options[digit])
        return {name: copied(v) for name, v in zip(self._names, reversed(chosen))}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for combination in itertools.product(*self._options):
            yield {name: copied(v) for name, v in zip(self._names, combination)}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # compares by content, like a list

    def __repr__(self) -> str:
        return f"Grid({len(self)} points over {list(self._names)})"
