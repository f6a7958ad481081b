"""``tuner data NAME_OR_PATH``: load a dataset as a study would and print its statistics."""

from __future__ import annotations

import argparse

from tuner.cli.common import add_set_option, print_json
from tuner.config import DATA_DEFAULTS, check_names, parse_set_items


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="load a dataset (ml-100k, ml-1m, synthetic-tiny, a folder of RecBole atomic files) and print its statistics",
        description="Parse, filter and split NAME_OR_PATH as training will (RecBole's leave-one-out split), "
        "caching the result; print users, items and interactions after filtering and the split sizes.",
    )
    parser.add_argument(
        "dataset",
        metavar="NAME_OR_PATH",
        help="ml-100k, ml-1m, synthetic-tiny, synthetic-small, synthetic:users=..,items=..,length=..,seed=.., "
        "or a folder holding <folder name>.inter (.item, .user)",
    )
    add_set_option(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: {n_users, n_items, n_interactions, n_train, n_valid, n_test}",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from tuner.data import load_dataset  # deferred: torch and pandas load only for this command

    options = parse_set_items(args.set_items)
    check_names(options, DATA_DEFAULTS, "--set")
    dataset = load_dataset(args.dataset, options)
    stats = dataset.stats()
    if args.json:
        print_json(stats)
        return 0
    print(f"{dataset.name}")
    labels = {
        "n_users": "users",
        "n_items": "items",
        "n_interactions": "interactions",
        "n_train": "train examples",
        "n_valid": "valid examples",
        "n_test": "test examples",
    }
    for key, label in labels.items():
        print(f"  {label:<16} {stats[key]:>10,}")
    for field, table in dataset.item_features.items():
        print(f"  item feature {field}: {dataset.feature_sizes[field] - 1:,} tokens, up to {table.shape[1]} per item")
    return 0
