"""``tuner space FILE``: check a search-space file and print it normalised, with its grid size."""

from __future__ import annotations

import argparse
from typing import Any

from tuner.cli.common import print_json
from tuner.config import TRAIN_DEFAULTS
from tuner.errors import ConfigError
from tuner.spaces import Param, SearchSpace, parse_file


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "space",
        help="check a search-space file (RecBole hyper.test or params_dict YAML) and print it normalised",
        description="Read FILE without evaluating anything in it; print each parameter as Optuna will "
        "sample it, and the grid size when every parameter is a choice.",
    )
    parser.add_argument("file", metavar="FILE", help="a hyper.test file, or params_dict YAML (.yaml/.yml)")
    parser.add_argument("--model", help="also check the names against this model's and the trainer's parameters (Caser, GRU4RecF)")
    parser.add_argument("--json", action="store_true", help="print one JSON object: {params, grid_size}")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    space = parse_file(args.file)
    if args.model:
        space.check_names(known_parameter_names(args.model), where=f"{args.model} or the trainer")
    if args.json:
        print_json(space.to_json())
    else:
        print(describe(space))
    return 0


def known_parameter_names(model: str) -> set[str]:
    """The names a space for ``model`` may tune: the model's and the trainer's (from the training package)."""
    try:
        from tuner.training.settings import known_params  # deferred: torch is not needed to read a space
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("tuner.training"):
            raise
        raise ConfigError("--model needs tuner.training.settings, which this installation lacks") from None
    try:
        names = set(known_params(model))
    except (KeyError, ValueError) as e:
        raise ConfigError(f"--model {model!r}: unknown model ({e})") from None
    return names | set(TRAIN_DEFAULTS)


def describe(space: SearchSpace) -> str:
    size = space.grid_size
    grid = f"a grid of {size} points" if size is not None else "no grid (not every parameter is a choice)"
    width = max(len(n) for n in space.names)
    lines = [f"{space.source}: {len(space.params)} parameters, {grid}"]
    lines += [f"  {p.name:<{width}}  {_range(p):<44}  # line {p.line}: {p.hyper_type} {p.written}" for p in space.params]
    return "\n".join(lines)


def _range(param: Param) -> str:
    if param.kind == "choice":
        return f"choice {list(param.values)!r}"
    scale = " log" if param.log else ""
    step = f" step {param.step!r}" if param.step is not None and param.kind == "float" else ""
    rounded = f", rounded to a multiple of {param.q!r}" if param.q is not None and param.step is None else ""
    return f"{param.kind}{scale} [{_num(param.low)}, {_num(param.high)}]{step}{rounded}"


def _num(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
