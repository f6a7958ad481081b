"""RecBole's hyper.test format: one ``name type value`` a line.

As RecBole reads it (``_build_space_from_file``): the line is split on spaces, the first two words
are the name and the type, and the value is the rest of the line joined with its spaces removed
(``num_layers choice [1, 2]`` gives ``[1,2]``, and a space inside a quoted option goes too). We split
on any run of whitespace, so tabs and repeated spaces work; blank lines and lines starting with
``#`` are skipped; ``\\r\\n`` and ``\\r`` end lines as ``\\n`` does. Unlike RecBole, a line with fewer
than three words is an error rather than silently skipped. A ``#`` after a choice list starts a
comment (``ast`` reads it so); after numbers it starts one too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tuner.errors import SpaceError, at
from tuner.spaces._build import TYPES, build_param
from tuner.spaces._names import check_name, unknown_type
from tuner.spaces._param import Param
from tuner.spaces._values import Invalid, literal

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # Python's universal newlines, as RecBole's open() reads
EXAMPLE_LINE = "learning_rate choice [0.01,0.001]"


def read_hyper_test(text: str, source: str) -> Iterator[Param]:
    """The parameters of a hyper.test text, in file order (duplicates are checked by the caller)."""
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        try:
            yield _read_line(words, number)
        except Invalid as e:
            raise SpaceError(at(source, number, e.args[0])) from None


def _read_line(words: list[str], number: int) -> Param:
    name = words[0]
    check_name(name)
    if len(words) < 2:
        raise Invalid(f"{name!r} has no type or value; expected NAME TYPE VALUE, e.g. {EXAMPLE_LINE}")
    hyper_type = words[1]
    if hyper_type not in TYPES:
        raise Invalid(unknown_type(hyper_type, name))
    if len(words) < 3:
        raise Invalid(f"{name} {hyper_type} has no value; expected {name} {hyper_type} {TYPES[hyper_type]}")
    value = "".join(words[2:])
    if hyper_type == "choice":
        args = literal(value)
    else:
        args = value.split("#", 1)[0].split(",")
    return build_param(name, hyper_type, args, line=number, written=value)
