"""Reading a space file: pick the format, read its parameters, check the whole."""

from __future__ import annotations

import re
from pathlib import Path

from tuner.errors import SpaceError, at
from tuner.spaces._hyper_test import EXAMPLE_LINE, read_hyper_test
from tuner.spaces._names import check_unique
from tuner.spaces._params_dict import read_params_dict
from tuner.spaces._space import SearchSpace

FORMATS = ("hyper", "yaml")
_YAML_SUFFIXES = (".yaml", ".yml")
# A params_dict file starts with "type:" (or a YAML flow mapping or document marker); a hyper.test
# line starts with a name and a space, and a name holds no colon, so the two cannot be confused.
_YAML_START = re.compile(r"\s*(?:\{|---|[A-Za-z_]\w*\s*:)")


def parse_file(path: str | Path, format: str | None = None) -> SearchSpace:
    """Read a hyper.test file, or a params_dict YAML file (``.yaml``/``.yml``, or recognised by its first line)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise SpaceError(at(path, None, f"cannot read search-space file ({e.strerror})")) from None
    except UnicodeDecodeError as e:
        raise SpaceError(at(path, _line_at(path, e.start), "not UTF-8 text")) from None
    if format is None and path.suffix.lower() in _YAML_SUFFIXES:
        format = "yaml"
    return parse_text(text, str(path), format=format)


def parse_text(text: str, source: str = "<text>", format: str | None = None) -> SearchSpace:
    """Read a space from ``text``; ``source`` names it in messages; ``format`` is "hyper", "yaml" or None (guess)."""
    if format not in (None, *FORMATS):
        raise ValueError(f"format must be one of {FORMATS} or None, not {format!r}")
    text = text.removeprefix("\ufeff")
    if format is None:
        format = "yaml" if _looks_like_yaml(text) else "hyper"
    reader = read_params_dict if format == "yaml" else read_hyper_test
    params = tuple(reader(text, source))
    if not params:
        raise SpaceError(at(source, 1, f"no parameters in the file; expected lines like {EXAMPLE_LINE!r}"))
    check_unique(params, source)
    return SearchSpace(source, params)


def _looks_like_yaml(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return _YAML_START.match(stripped) is not None
    return False


def _line_at(path: Path, offset: int) -> int:
    """The 1-based line holding byte ``offset`` of the file."""
    return path.read_bytes()[:offset].count(b"\n") + 1
