"""``tuner data``: load a dataset with RecBole's preprocessing options and print its statistics."""

from __future__ import annotations

import argparse

from tuner.cli.common import add_set_option, print_json
from tuner.config import parse_set_items
from tuner.data import load_dataset
from tuner.data.loader import check_option_names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="load a dataset and print its statistics after preprocessing")
    p.add_argument("dataset", metavar="NAME_OR_PATH", help="ml-100k, ml-1m, synthetic-tiny, or a RecBole atomic dataset folder")
    add_set_option(p)
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = parse_set_items(args.set_items)
    check_option_names(options, "--set")
    stats = load_dataset(args.dataset, options).stats()
    if args.json:
        print_json(stats)
    else:
        width = max(map(len, stats))
        for key, value in stats.items():
            print(f"{key:<{width}}  {value:>10,}")
    return 0
