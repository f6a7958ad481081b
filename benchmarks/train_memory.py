"""Resident memory across repeated ``train()`` calls in one process, as a tuning worker makes them.

    /work/main/.venv/bin/python benchmarks/train_memory.py [--dataset synthetic-tiny] [--calls 10]

Prints the process's RSS (VmRSS) and the number of live tensors after each call; a worker that
runs trial after trial must not grow.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuner.training import train  # noqa: E402


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def live_tensors() -> int:
    return sum(1 for o in gc.get_objects() if type(o) in (torch.Tensor, torch.nn.Parameter))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="synthetic-tiny")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"{'call':>4} {'model':<9} {'RSS MiB':>8} {'tensors':>8}")
    for call in range(1, args.calls + 1):
        model = ("Caser", "GRU4RecF")[call % 2]
        train(model, {"epochs": args.epochs, "seed": call, "MAX_ITEM_LIST_LENGTH": 10}, dataset=args.dataset)
        gc.collect()
        print(f"{call:>4} {model:<9} {rss_mib():>8.1f} {live_tensors():>8}", flush=True)


if __name__ == "__main__":
    main()
