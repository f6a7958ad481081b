"""The GPU table of docs/training.md: epoch seconds, trials per GPU-hour by slots, fused configurations per GPU-hour.

    python3 benchmarks/device_figures.py --out RESULTS_DIR [--device cuda:0] [--budget-s 330]

Rows (ml-100k, batch 2048, CE, 10 epochs a configuration):
* epoch seconds of one trial, Caser L=10 and L=50 and GRU4RecF L=10: the real trainer's second epoch
  (training and validation);
* trials per GPU-hour with 1, 2, 4 and 8 slots: that many processes on the GPU at once, each timing
  warm training steps of one Caser L=10 trial and its validation (benchmarks/fused.py's method);
* fused configurations per GPU-hour, K = 8, 32 and 90 Caser L=10 grid points in one process;
* the whole 90-point grid trained fused for 10 epochs, end to end (the issue's < 3 minutes target),
  when the budget has time left for it.
Printed as one markdown table and written to RESULTS_DIR/table.md and RESULTS_DIR/figures.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from fused import epoch_seconds, measure, points, separate  # noqa: E402
from tuner.training import train  # noqa: E402
from tuner.training.fused import Member, fit_fused  # noqa: E402

EPOCHS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--budget-s", type=float, default=330.0, help="skip the rows that would start after this")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    rows: list[tuple[str, str]] = []
    figures: dict[str, float] = {}

    def add(name: str, value: float, text: str) -> None:
        figures[name] = value
        rows.append((name, text))
        print(f"| {name} | {text} |", flush=True)

    def time_left() -> bool:
        return time.monotonic() - start < args.budget_s

    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else args.device
    print(f"device: {name}, torch {torch.__version__}\n| figure | value |\n|---|---|", flush=True)
    for model, length in (("Caser", 10), ("Caser", 50), ("GRU4RecF", 10)):
        if not time_left():
            break
        result = train(model, {**points(model, 1, length)[0], "epochs": 2, "stopping_step": 10}, dataset="ml-100k",
                       device=args.device)
        second = result.history[-1]
        seconds = second["train_seconds"] + second.get("valid_seconds", 0.0)
        add(f"epoch s {model} L={length}", seconds, f"{seconds:.2f} s")
    for slots in (1, 2, 4, 8):
        if not time_left():
            break
        rate = separate("Caser", 10, args.device, args.batches, slots) / EPOCHS
        add(f"trials/GPU-hour, {slots} slot(s)", rate, f"{rate:.0f}")
    for k in (8, 32, 90):
        if not time_left():
            break
        m = measure("Caser", k, 10, args.device, args.batches, fused=True)
        rate = k * 3600.0 / (epoch_seconds(m) * EPOCHS)
        base = figures.get("trials/GPU-hour, 1 slot(s)")
        vs = f" ({rate / base:.1f}x one trial per process)" if base else ""
        add(f"fused configs/GPU-hour, K={k}", rate, f"{rate:.0f}{vs}")
    if time.monotonic() - start < args.budget_s - 180:
        grid = [{**p, "epochs": EPOCHS, "stopping_step": 100} for p in points("Caser", 90, 10)]
        tick = time.monotonic()
        fit_fused("Caser", "ml-100k", [Member(p) for p in grid], device=args.device)
        seconds = time.monotonic() - tick
        add("90-point Caser grid, 10 epochs, fused", seconds, f"{seconds:.0f} s end to end")
    table = "| figure | value |\n|---|---|\n" + "".join(f"| {n} | {t} |\n" for n, t in rows)
    (out / "table.md").write_text(f"device: {name}, torch {torch.__version__}\n\n{table}")
    (out / "figures.json").write_text(json.dumps({"device": name, "torch": torch.__version__, **figures}, indent=1))


if __name__ == "__main__":
    main()
