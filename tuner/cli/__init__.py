"""The ``tuner`` command: argument parsing and printing, one library call per command.

Each command group lives in its own module with a ``register(subparsers)`` function that adds its
subcommands and sets ``func`` to a handler ``(args) -> int``. Library errors become a message on
stderr and the error's exit code here, in one place.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# How torch's idle OpenMP threads wait is chosen per command, before it loads torch: ``tuner train``
# spins (cli/train.py), worker commands sleep (tuner/service/worker.py: sleeping_openmp_threads).

from tuner import __version__
from tuner.errors import TunerError

# Command modules, in the order their commands appear in ``tuner --help``.
COMMAND_MODULES = ("jobs", "data", "train", "space", "report", "dashboard")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuner", description="Hyperparameter tuning for sequential recommenders (Caser, GRU4RecF)."
    )
    parser.add_argument("--version", action="version", version=f"seqrec-tuner {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"tuner.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TunerError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
