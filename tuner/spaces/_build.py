"""From a type and its raw value to a :class:`Param`, with hyperopt's meaning (shared by both formats).

RecBole hands each line to hyperopt; what the numbers mean is hyperopt's:

- ``uniform LOW,HIGH``: U(LOW, HIGH).
- ``quniform LOW,HIGH,Q``: round(U(LOW, HIGH) / Q) * Q, so the values are the multiples of Q that
  rounding can reach. Optuna gets a float with ``step=Q`` over exactly those multiples.
- ``loguniform LOW,HIGH``: exp(U(LOW, HIGH)); the bounds are natural logarithms. Optuna's log float
  takes the real bounds exp(LOW), exp(HIGH): the same distribution.
- ``qloguniform LOW,HIGH,Q``: round(exp(U(LOW, HIGH)) / Q) * Q. Optuna has no log scale with a step,
  so it samples the log float over exp(LOW)..exp(HIGH) (the same draw hyperopt makes) and decoding
  rounds to Q, exactly as hyperopt does.
- ``randint LOW,HIGH``: an integer in [LOW, HIGH); Optuna's int bounds are inclusive: LOW..HIGH-1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tuner.spaces._param import Param
from tuner.spaces._values import Invalid, choice_options, integer, number

# The types a space file may use, each with the shape of its value (for messages).
TYPES: dict[str, str] = {
    "choice": "[OPTION,...]",
    "uniform": "LOW,HIGH",
    "quniform": "LOW,HIGH,Q",
    "loguniform": "LOW,HIGH",
    "qloguniform": "LOW,HIGH,Q",
    "randint": "LOW,HIGH",
}


def build_param(name: str, hyper_type: str, args: Any, *, line: int, written: str) -> Param:
    """The parameter ``name hyper_type args``; ``args`` is the choice's literal or the list of raw numbers."""
    if hyper_type == "choice":
        options = choice_options(args, repr(written))
        return Param(name, hyper_type, "choice", line, written, values=tuple(options))
    shape = TYPES[hyper_type]
    count = shape.count(",") + 1
    if len(args) != count:
        raise Invalid(f"{hyper_type} takes {count} numbers {shape}; got {len(args)} in {written!r}")
    if hyper_type == "randint":
        return _randint(name, args, line, written)
    low, high = number(args[0], f"{hyper_type} LOW"), number(args[1], f"{hyper_type} HIGH")
    if low >= high:
        raise Invalid(f"{hyper_type} LOW must be below HIGH; got LOW {low!r} and HIGH {high!r}")
    q = number(args[2], f"{hyper_type} Q") if count == 3 else None
    if q is not None and q <= 0:
        raise Invalid(f"{hyper_type} Q must be above 0; got {q!r}")
    common = dict(name=name, hyper_type=hyper_type, kind="float", line=line, written=written)
    if hyper_type == "uniform":
        return Param(**common, low=low, high=high)
    if hyper_type == "quniform":
        first, last = _multiples_reached(low, high, q)
        return Param(**common, low=first, high=last, step=q, q=q)
    real_low, real_high = _exp(low, hyper_type, "LOW"), _exp(high, hyper_type, "HIGH")
    if not real_low < real_high:
        raise Invalid(f"{hyper_type} range {low!r},{high!r} is too narrow: exp(LOW) == exp(HIGH) == {real_low!r}")
    return Param(**common, low=real_low, high=real_high, log=True, q=q)


def _randint(name: str, args: Sequence[Any], line: int, written: str) -> Param:
    low, high = integer(args[0], "randint LOW"), integer(args[1], "randint HIGH")
    if low >= high:
        raise Invalid(f"randint LOW must be below HIGH (its values are LOW..HIGH-1); got {low},{high}")
    return Param(name, "randint", "int", line, written, low=low, high=high - 1, step=1)


def _multiples_reached(low: float, high: float, q: float) -> tuple[float, float]:
    """The smallest and largest k*q that round(U(low, high) / q) * q can give (decimal maths, no float noise).

    U never returns ``high`` itself, and a draw just above ``low`` or just below ``high`` decides
    which way a bound that sits exactly half-way rounds.
    """
    d_low, d_high, d_q = Decimal(repr(low)), Decimal(repr(high)), Decimal(repr(q))
    first = math.floor(d_low / d_q + Decimal("0.5"))
    last = math.ceil(d_high / d_q - Decimal("0.5"))
    return float(first * d_q), float(last * d_q)


def _exp(bound: float, hyper_type: str, which: str) -> float:
    try:
        value = math.exp(bound)
    except OverflowError:
        value = math.inf
    if value == 0.0 or math.isinf(value):
        raise Invalid(
            f"{hyper_type} {which} {bound!r} is a natural logarithm (the value is exp({bound!r})), which "
            f"{'underflows to 0' if value == 0.0 else 'overflows'}; for 1e-4 write {math.log(1e-4):.4f}"
        )
    return value
