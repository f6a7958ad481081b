"""Seconds of every training epoch over one long run: later epochs must cost what early ones do.

    /work/main/.venv/bin/python benchmarks/epoch_drift.py [--model Caser] [--epochs 40]

``benchmarks/train_speed.py`` times the second epoch only. This runs one configuration for many
epochs (no early stop) and prints each epoch's training seconds and the ratio of the last five to
epochs 2-6. It found the denormal slowdown the trainer now prevents (tuner/training/trainer.py):
Caser on ml-100k went from 1.7 s to 21 s per epoch after epoch 30.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuner.training import resolve, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="Caser")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--length", type=int, default=10, help="MAX_ITEM_LIST_LENGTH")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: every core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = resolve(args.model, overrides={
        "dataset": args.dataset, "MAX_ITEM_LIST_LENGTH": args.length, "loss_type": "CE", "seed": 2020,
        "epochs": args.epochs, "stopping_step": args.epochs,  # never stop early: every epoch is timed
    })
    result = train(args.model, settings)
    seconds = [record["train_seconds"] for record in result.history]
    print(" ".join(f"{s:.2f}" for s in seconds))
    early, late = statistics.median(seconds[1:6]), statistics.median(seconds[-5:])
    print(f"{args.model} L={args.length}: epochs 2-6 {early:.2f} s, last five {late:.2f} s, ratio {late / early:.2f}")


if __name__ == "__main__":
    main()
