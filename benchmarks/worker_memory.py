"""Does a long-lived worker's memory grow from trial to trial? RSS (and CUDA memory on a GPU) per trial.

One worker slot runs N real training trials (default 30, synthetic data, the job's model) and the objective
records the process's resident memory as each trial starts, i.e. after the previous trial was cleaned up.

    python benchmarks/worker_memory.py                       # Caser on synthetic-small, 30 trials, CPU
    python benchmarks/worker_memory.py --model GRU4RecF --trials 50 --dataset synthetic-tiny
    python benchmarks/worker_memory.py --device cuda:0       # also torch.cuda.memory_allocated/reserved
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tuner.service import run_worker, submit  # noqa: E402
from tuner.service.objective import train_objective  # noqa: E402

SPACES = {
    "Caser": "learning_rate loguniform -8,-5\nnh choice [4,8,16]\nnv choice [2,4]\ndropout_prob uniform 0.1,0.5\n",
    "GRU4RecF": "learning_rate loguniform -8,-5\nhidden_size choice [32,64,128]\nnum_layers choice [1,2]\n",
}
SAMPLES: list[tuple[int, float, float | None, float | None]] = []  # (trial, rss MiB, cuda allocated, reserved)


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measured(ctx):
    allocated = reserved = None
    if ctx.device.startswith("cuda"):
        import torch

        allocated, reserved = torch.cuda.memory_allocated() / 2**20, torch.cuda.memory_reserved() / 2**20
    SAMPLES.append((ctx.number, rss_mib(), allocated, reserved))
    return train_objective(ctx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Caser", choices=sorted(SPACES))
    parser.add_argument("--dataset", default="synthetic-small")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tuner-memory-"))
    (folder / "space.hyper").write_text(SPACES[args.model])
    (folder / "job.yaml").write_text(
        f"name: memory\nmodel: {args.model}\ndataset: {args.dataset}\nsearch_space: space.hyper\n"
        f"params: {{epochs: {args.epochs}, MAX_ITEM_LIST_LENGTH: 10}}\nobjective: ndcg@10\n"
        f"n_trials: {args.trials}\nsampler: {{name: random, seed: 0}}\n"
    )
    url = f"sqlite:///{folder / 'memory.db'}"
    submit(folder / "job.yaml", url)
    sys.stderr = open(os.devnull, "w")  # the worker's per-trial log lines
    run_worker(url, until_done=True, objective=measured, devices=args.device, poll_interval=0.05)
    sys.stderr = sys.__stderr__
    print(f"{args.model} on {args.dataset}, {args.trials} trials of {args.epochs} epochs, {args.device}")
    print(f"{'trial':>5} {'RSS MiB':>8}" + (f" {'CUDA alloc':>10} {'reserved':>9}" if args.device != "cpu" else ""))
    shown = {0, 1, 2, 4, 9, 14, 19, 24, len(SAMPLES) - 1}
    for number, rss, allocated, reserved in SAMPLES:
        if number in shown:
            cuda = f" {allocated:>10.1f} {reserved:>9.1f}" if allocated is not None else ""
            print(f"{number + 1:>5} {rss:>8.1f}{cuda}")
    settled = SAMPLES[min(4, len(SAMPLES) - 1)][1]
    print(f"RSS growth from trial 5 to trial {len(SAMPLES)}: {SAMPLES[-1][1] - settled:+.1f} MiB "
          f"(trial 1 to 5: {settled - SAMPLES[0][1]:+.1f} MiB: first-use allocations)")


if __name__ == "__main__":
    main()
