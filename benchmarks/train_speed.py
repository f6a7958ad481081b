"""Seconds per training epoch and per full validation, ours beside RecBole 1.2.1, in one run.

    /work/main/.venv/bin/python benchmarks/train_speed.py [--recbole-python /work/recbole-venv/bin/python]

For each model and sequence length it trains our model two epochs with the real trainer and
takes the second (warm) epoch, in a child process set up as ``tuner train`` sets itself up (idle
OpenMP threads spin: this process's own would steal a core from RecBole's run); then, with ``--recbole-python``, it runs ``recbole_epoch.py`` in
RecBole's own virtualenv on the same data (RecBole's epoch after one warm-up batch), then ours
again, and compares RecBole with the mean of our two runs around it.
A RecBole epoch that would take many minutes (Caser at L=50, GRU4RecF at L=50) is timed over its
first ``--recbole-batches`` batches and extrapolated; the table says so. It also measures this
machine's matmul FLOP/s at the start and end of the whole run and, for Caser, turns the model's
arithmetic into a lower bound on the epoch time at the faster of the two; each of our child runs
also measures it right after its epoch, and the last lines give the bound at that speed (on a
shared machine whose speed drifts by tens of percent within minutes, that one is measured closest
to our epoch). Compare the ratios, not the seconds, and only within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tuner.models.registry import model_defaults  # noqa: E402
from tuner.training import resolve, train  # noqa: E402
from tuner.training.run import dataset_for  # noqa: E402

DEFAULT_RECBOLE_PYTHON = "/work/recbole-venv/bin/python"
DEFAULT_RECBOLE_DATA = "/work/shared/datasets"


def matmul_flops(threads: int) -> float:
    """FLOP/s of a large float32 matmul on this machine now, measured in a child process: with
    OMP_WAIT_POLICY=ACTIVE in the environment, OpenMP threads this process started would spin
    for good and take a core from every run after it (seen here: our epoch 10.8 s instead of 3.9)."""
    command = [sys.executable, __file__, "--matmul-only", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _matmul_flops_here(seconds: float = 3.0) -> float:
    """FLOP/s of a large float32 matmul in this process (the best of a few timed rounds)."""
    a, b = torch.randn(2048, 1024), torch.randn(1024, 1024)
    a @ b
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        tick = time.perf_counter()
        for _ in range(5):
            a @ b
        best = max(best, 5 * 2 * 2048 * 1024 * 1024 / (time.perf_counter() - tick))
    return best


def caser_flops_per_example(length: int, n_item_ids: int, params: dict) -> float:
    """Forward + backward arithmetic of one Caser example with CE over every item (backward ~ 2x forward)."""
    d, nh, nv = params["embedding_size"], params["nh"], params["nv"]
    horizontal = sum(nh * (length - h + 1) * h * d * 2 for h in range(1, length + 1))
    vertical = nv * length * d * 2
    fc1 = (nv * d + nh * length) * d * 2
    fc2 = 2 * d * d * 2
    scores = d * n_item_ids * 2
    return 3.0 * (horizontal + vertical + fc1 + fc2 + scores)


def time_ours(model_name: str, dataset_name: str, length: int, threads: int) -> dict:
    """Two epochs with the real trainer in a child process (as ``tuner train`` runs); the second one's seconds."""
    command = [sys.executable, __file__, "--ours-only", model_name, dataset_name, str(length), str(threads)]
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "ACTIVE")}  # tuner/cli/train.py's choice
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"our run failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _time_ours_here(model_name: str, dataset_name: str, length: int) -> dict:
    settings = resolve(model_name, overrides={"MAX_ITEM_LIST_LENGTH": length, "epochs": 2, "loss_type": "CE"})
    data = dataset_for(dataset_name, settings)  # as train() loads it (GRU4RecF's item fields included)
    warm = train(model_name, settings, dataset=data).history[-1]
    timing = {
        "train_seconds": warm["train_seconds"],
        "eval_seconds": warm["valid_seconds"],
        "n_train": len(data.train),
        "n_item_ids": data.n_item_ids,
    }
    if model_name == "Caser":  # the machine's speed right after this epoch, in this process: the "adjacent" bound
        timing["matmul_flops"] = _matmul_flops_here()
    return timing


def time_recbole(python: str, model_name: str, length: int, data_path: str, batches: int, threads: int) -> dict:
    command = [
        python,
        str(ROOT / "benchmarks" / "recbole_epoch.py"),
        "--model",
        model_name,
        "--length",
        str(length),
        "--data-path",
        data_path,
        "--batches",
        str(batches),
        "--threads",
        str(threads),
    ]
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd="/tmp")
    if done.returncode != 0:
        raise RuntimeError(f"RecBole run failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--matmul-only":  # the child process of matmul_flops
        torch.set_num_threads(int(sys.argv[2]))
        print(_matmul_flops_here())
        return
    if len(sys.argv) == 6 and sys.argv[1] == "--ours-only":  # the child process of time_ours
        model_name, dataset_name, length, threads = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        torch.set_num_threads(threads)
        print(json.dumps(_time_ours_here(model_name, dataset_name, length)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", nargs="+", default=["Caser", "GRU4RecF"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[10, 50])
    parser.add_argument("--threads", type=int, default=0, help="torch threads for both (default: every core)")
    parser.add_argument(
        "--recbole-python",
        default=DEFAULT_RECBOLE_PYTHON if Path(DEFAULT_RECBOLE_PYTHON).exists() else "",
        help="the python of a virtualenv with recbole==1.2.1; empty: skip RecBole",
    )
    parser.add_argument("--recbole-data-path", default=DEFAULT_RECBOLE_DATA)
    parser.add_argument(
        "--recbole-batches",
        type=int,
        default=6,
        help="at L > 10 time RecBole over this many batches and extrapolate (0: whole epochs)",
    )
    parser.add_argument("--recbole-full-epoch-lengths", nargs="*", type=int, default=[10])
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    flops = matmul_flops(threads)
    print(f"torch {torch.__version__}, {threads} threads, matmul {flops / 1e9:.1f} GFLOP/s", flush=True)

    rows = []
    for model_name in args.models:
        for length in args.lengths:
            before = time_ours(model_name, args.dataset, length, threads)
            ours = dict(before)
            recbole = {}
            if args.recbole_python:
                batches = 0 if length in args.recbole_full_epoch_lengths else args.recbole_batches
                recbole = time_recbole(
                    args.recbole_python, model_name, length, args.recbole_data_path, batches, threads
                )
                # ours again after RecBole: the mean of the two brackets RecBole's run on a machine whose load drifts
                after = time_ours(model_name, args.dataset, length, threads)
                for key in ("train_seconds", "eval_seconds"):
                    ours[key] = (before[key] + after[key]) / 2
                if "matmul_flops" in before:
                    ours["matmul_flops"] = max(before["matmul_flops"], after["matmul_flops"])
                ours["train_seconds_before_after"] = [before["train_seconds"], after["train_seconds"]]
            row = {"model": model_name, "L": length, **{f"ours_{k}": v for k, v in ours.items()}}
            row.update({f"recbole_{k}": v for k, v in recbole.items()})
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    end_flops = matmul_flops(threads)
    flops = max(flops, end_flops)  # the faster of the two measurements: the bound stays a lower bound
    print(f"matmul at the end {end_flops / 1e9:.1f} GFLOP/s; the limit below uses {flops / 1e9:.1f}", flush=True)
    for row in rows:
        if row["model"] == "Caser":
            row["flop_per_example"] = caser_flops_per_example(row["L"], row["ours_n_item_ids"], model_defaults("Caser"))
            row["limit_seconds"] = row["flop_per_example"] * row["ours_n_train"] / flops
            row["adjacent_limit_seconds"] = row["flop_per_example"] * row["ours_n_train"] / row["ours_matmul_flops"]
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    print(
        f"{'model':<9}{'L':>4}{'ours s/ep':>11}{'RecBole':>10}{'x faster':>10}"
        f"{'ours eval':>11}{'RB eval':>9}{'limit s':>9}{'ours/limit':>11}  note"
    )
    for r in rows:
        rb = r.get("recbole_train_seconds")
        note = ""
        if rb is not None and r["recbole_batches_timed"] < r["recbole_batches_per_epoch"]:
            note = f"RecBole: {r['recbole_batches_timed']} of {r['recbole_batches_per_epoch']} batches, extrapolated"
        cells = [
            f"{r['model']:<9}{r['L']:>4}{r['ours_train_seconds']:>11.2f}",
            f"{rb:>10.1f}" if rb is not None else f"{'-':>10}",
            f"{rb / r['ours_train_seconds']:>10.1f}" if rb is not None else f"{'-':>10}",
            f"{r['ours_eval_seconds']:>11.3f}",
            f"{r['recbole_eval_seconds']:>9.3f}" if rb is not None else f"{'-':>9}",
            f"{r['limit_seconds']:>9.2f}" if "limit_seconds" in r else f"{'-':>9}",
            f"{r['ours_train_seconds'] / r['limit_seconds']:>11.2f}" if "limit_seconds" in r else f"{'-':>11}",
        ]
        print("".join(cells) + ("  " + note if note else ""))
    caser = [r for r in rows if "flop_per_example" in r]
    for r in caser:
        print(f"Caser L={r['L']}: {r['flop_per_example'] / 1e6:.2f} MFLOP per example (forward + backward); "
              f"against the matmul measured right after our epochs ({r['ours_matmul_flops'] / 1e9:.1f} GFLOP/s, "
              f"the faster of the two) the limit is {r['adjacent_limit_seconds']:.2f} s and ours/limit "
              f"{r['ours_train_seconds'] / r['adjacent_limit_seconds']:.2f}")


if __name__ == "__main__":
    main()
