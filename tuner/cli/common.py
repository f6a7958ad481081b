"""Argument helpers shared by several commands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="set_items",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter by its RecBole name; VALUE is read as YAML (repeatable)",
    )


def add_storage_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage", metavar="URL",
        help="SQLAlchemy URL of the job database (default: $TUNER_STORAGE, else sqlite:///tuner.db)",
    )


def print_json(obj: Any) -> None:
    """Exactly one JSON object on stdout."""
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
