"""One tunable parameter: a frozen record, its Optuna distribution and the way back to real values.

Optuna keeps the value it samples (its "encoded" value); ``decode`` turns that into the value the
model gets, with hyperopt's meaning, and ``encode`` goes the other way (for ``enqueue_trial``).

Choices: a ``CategoricalDistribution`` can only hold None, bool, int, float and str, and it tells
options apart with ``==`` (so ``1``, ``1.0`` and ``True`` would collapse into one). When every option
is such a scalar and no two are ``==``, the options themselves are the categories (reports show
``0.01``); otherwise every option is stored as its JSON text (``'[64, 64]'``), which is lossless and
tells ``1`` from ``1.0``. Either way ``decode`` returns the option exactly as written.
Optuna gets one type per parameter: ints among floats (``reg_weight choice [0,1e-4,1e-5]``) are its
floats (``0.0``), which optuna-dashboard and Optuna's samplers handle as one numeric axis.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import optuna.distributions as od

from tuner.errors import SpaceError
from tuner.spaces._values import copied, option_key

KINDS = ("choice", "float", "int")
_SCALARS = (type(None), bool, int, float, str)
# How far (relative to the range) an Optuna value may stray past a bound before decode refuses it.
_BOUND_SLACK = 1e-9


@dataclass(frozen=True)
class Param:
    """A parameter as the space file defines it, in Optuna's terms (bounds on the real scale)."""

    name: str  # as written: RecBole's name, or an alias such as n_h
    hyper_type: str  # the file's type: choice, uniform, quniform, loguniform, qloguniform, randint
    kind: str  # Optuna's kind: "choice" (categorical), "float" or "int"
    line: int  # 1-based line of the file that defines it (YAML: the line of its name)
    written: str  # the value as the file gives it (``-8,0``), for messages and listings
    values: tuple[Any, ...] = ()  # choice: the options as written, in order
    low: float | int | None = None  # float/int: the smallest value Optuna samples (inclusive, real scale)
    high: float | int | None = None  # float/int: the largest value Optuna samples (inclusive)
    log: bool = False  # sampled log-uniformly (loguniform, qloguniform)
    step: float | int | None = None  # Optuna's step: quniform's q, randint's 1; None when continuous
    q: float | None = None  # hyperopt's quantum: the value used is round(x / q) * q (quniform, qloguniform)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    # -- choices ---------------------------------------------------------------------------------

    @cached_property
    def categories_are_json(self) -> bool:
        """True when the Optuna categories are the options' JSON texts rather than the options."""
        scalars = all(type(v) in _SCALARS for v in self.values)
        return not scalars or len(set(self.values)) != len(self.values) or self._as_floats == ()

    @cached_property
    def categories(self) -> tuple[Any, ...]:
        """The choices of the Optuna ``CategoricalDistribution``, one per option, in order."""
        if self.categories_are_json:
            return tuple(json.dumps(v) for v in self.values)
        return self._as_floats or self.values

    @cached_property
    def _as_floats(self) -> tuple[float, ...] | None:
        """Options that mix ints and floats (nothing else) as floats; ``()`` if two would then be equal
        (or an int is too large for a float); None when they do not mix the two."""
        types = {type(v) for v in self.values}
        if types != {int, float}:
            return None
        try:
            floats = tuple(float(v) for v in self.values)
        except OverflowError:
            return ()
        return floats if len(set(floats)) == len(floats) else ()

    @cached_property
    def _option_index(self) -> dict[str, int]:
        return {option_key(v): i for i, v in enumerate(self.values)}

    # -- Optuna ----------------------------------------------------------------------------------

    def distribution(self) -> od.BaseDistribution:
        if self.kind == "choice":
            return od.CategoricalDistribution(self.categories)
        if self.kind == "float":
            return od.FloatDistribution(self.low, self.high, log=self.log, step=self.step)
        return od.IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial: Any) -> Any:
        """Ask ``trial`` (an Optuna Trial or FixedTrial) for this parameter; return the real value."""
        if self.kind == "choice":
            raw = trial.suggest_categorical(self.name, list(self.categories))
        elif self.kind == "float":
            raw = trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        else:
            raw = trial.suggest_int(self.name, self.low, self.high, log=self.log, step=self.step)
        return self.decode(raw)

    def decode(self, raw: Any) -> Any:
        """The real value for Optuna's value ``raw``: the option as written, or hyperopt's number."""
        if self.kind == "choice":
            return copied(self.values[self._category_index(raw)])
        self._check_sampled(raw)
        if self.kind == "int":
            return int(raw)
        if self.q is not None:
            return round(raw / self.q) * self.q  # hyperopt: np.round(x / q) * q, a float
        return float(raw)

    def encode(self, value: Any) -> Any:
        """Optuna's value for the real ``value`` (the inverse of :meth:`decode`), e.g. for ``enqueue_trial``."""
        if self.kind == "choice":
            index = self._option_index.get(option_key(value))
            if index is None:
                raise SpaceError(f"parameter {self.name!r}: {value!r} is not one of its options {list(self.values)!r}")
            return self.categories[index]
        if self.q is None:
            self._check_sampled(value)
            return int(value) if self.kind == "int" else float(value)
        # A rounded value may lie just outside the sampled range (qloguniform's round(exp(LOW)/q)*q):
        # the nearest sampled value rounds to it when hyperopt can give it at all.
        self._check_number(value)
        nearest = min(max(float(value), self.low), self.high)
        if not math.isclose(self.decode(nearest), value, rel_tol=1e-9, abs_tol=1e-12 * self.q):
            raise SpaceError(f"parameter {self.name!r}: {value!r} is not a multiple of {self.q!r} that {self.hyper_type} reaches")
        return nearest

    def _check_number(self, raw: Any) -> None:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise SpaceError(f"parameter {self.name!r}: expected a number, got {raw!r}")

    def _check_sampled(self, raw: Any) -> None:
        """``raw`` could come from the distribution: in its range (and whole, for an int)."""
        self._check_number(raw)
        slack = _BOUND_SLACK * max(1.0, abs(self.high - self.low))
        if not self.low - slack <= raw <= self.high + slack:
            raise SpaceError(f"parameter {self.name!r}: {raw!r} is outside [{self.low!r}, {self.high!r}]")
        if self.kind == "int" and raw != int(raw):
            raise SpaceError(f"parameter {self.name!r}: expected an integer, got {raw!r}")

    def _category_index(self, raw: Any) -> int:
        if self.categories_are_json:
            found = [i for i, c in enumerate(self.categories) if c == raw] if isinstance(raw, str) else []
        else:
            # Scalars that are pairwise distinct under ==, as Optuna compares them.
            found = [i for i, v in enumerate(self.values) if type(raw) in _SCALARS and v == raw]
        if not found:
            raise SpaceError(f"parameter {self.name!r}: {raw!r} is not one of its categories {list(self.categories)!r}")
        return found[0]

    # -- listing ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The normalised form ``tuner space --json`` prints (int bounds inclusive, as Optuna's)."""
        if self.kind == "choice":
            return {"kind": "choice", "values": [copied(v) for v in self.values]}
        out: dict[str, Any] = {"kind": self.kind, "low": self.low, "high": self.high, "log": self.log, "step": self.step}
        if self.q is not None and self.step is None:
            out["q"] = self.q  # qloguniform: Optuna has no log scale with a step, so q is kept beside it
        return out

