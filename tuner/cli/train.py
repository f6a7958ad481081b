"""``tuner train``: train one configuration and print its validation and test metrics."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tuner.cli.common import add_set_option, print_json
from tuner.config import parse_set_items


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one configuration and print its metrics",
        description="Train one configuration (RecBole parameter names) and print validation and test metrics. "
        "Precedence: --set > --config file > model defaults. Progress goes to stderr.",
    )
    parser.add_argument("--model", required=True, help="Caser, GRU4RecF or CaserD2L (the D2L tutorial's, docs/caser-d2l.md)")
    parser.add_argument("--dataset", help="a built-in dataset (ml-100k, ...) or a RecBole atomic folder")
    parser.add_argument("--config", metavar="FILE", help="a YAML file of RecBole parameters")
    add_set_option(parser)
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: the 'device' setting, cpu)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: every core)")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    # One training process owns the cores: idle OpenMP threads spin, so each of a step's few hundred
    # ops starts at once (Caser L=10 on 2 cores: 2.9 s per epoch spinning, 3.7 s sleeping). Before torch
    # loads; a value the user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE")
    from tuner.training import TrainerConfig, resolve, train  # torch loads only when a command needs it
    from tuner.training.settings import ranks_every_candidate

    overrides = parse_set_items(args.set_items)
    if args.dataset is not None:
        overrides["dataset"] = args.dataset
    settings = resolve(args.model, args.config, overrides)
    progress = ProgressPrinter(TrainerConfig.from_settings(settings, full_rank=ranks_every_candidate(args.model)).valid_metric)
    result = train(args.model, settings, device=args.device, progress=progress, threads=args.threads)
    summary = {
        "valid": result.valid,
        "test": result.test,
        "train_loss": result.train_loss,  # the last epoch's mean batch loss
        "best_epoch": result.best_epoch,
        "epochs": result.epochs,
        "seconds": round(result.seconds, 3),
    }
    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
    return 0


class ProgressPrinter:
    """One line per epoch on stderr: epoch, summed loss, seconds, the validation metric and the best so far."""

    def __init__(self, valid_metric: str):
        self.valid_metric = valid_metric
        self.values: dict[int, float] = {}  # epoch -> validation metric

    def __call__(self, record: dict[str, Any]) -> None:
        epoch = record["epoch"]
        line = f"epoch {epoch:>4}  loss {record['loss']:.4f}  train {record['train_seconds']:.2f}s"
        if "valid" in record:
            self.values[epoch] = value = record["valid"][self.valid_metric]
            best = record["best_epoch"]
            line += (
                f"  valid {record['valid_seconds']:.2f}s  {self.valid_metric} {value:.4f}"
                f"  (best {self.values[best]:.4f} at epoch {best})"
            )
        print(line, file=sys.stderr, flush=True)


def print_summary(summary: dict[str, Any]) -> None:
    keys = list(summary["test"])
    width = max(len(k) for k in keys)
    print(f"best epoch {summary['best_epoch']} of {summary['epochs']}, {summary['seconds']:.1f} s")
    print(f"{'metric':<{width}}  {'valid':>8}  {'test':>8}")
    for key in keys:
        print(f"{key:<{width}}  {summary['valid'].get(key, float('nan')):>8.4f}  {summary['test'][key]:>8.4f}")
