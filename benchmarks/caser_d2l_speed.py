"""CaserD2L's speed beside the D2L tutorial's own code: seconds per training epoch and for the evaluation.

    python benchmarks/caser_d2l_speed.py                  # ml-100k, L = 5, 2 threads, 8 epochs
    python benchmarks/caser_d2l_speed.py --threads 1 --epochs 4
    python benchmarks/caser_d2l_speed.py --reference      # also run the tutorial's code (its venv, ~2 min)

Ours: the tutorial's run (tuner.training.d2l: batch 4096, drop_last, one negative per window), each
epoch timed; the evaluation ranks every user's test item against every item the user has not trained
on (943 x 1,682 scores), median of 5. The reference is /work/shared/reference/d2l/caser_seed.py in its
venv (/tmp/d2l-ref/venv, made by that folder's setup.sh): with --reference it runs once (seed 0) and its
per-epoch times and d2l's evaluate_ranking time are printed beside ours; without it (or without its venv)
ours stand beside the figures measured on this machine (2.8 s per epoch, 9 s evaluation). The machine is
shared: compare figures from one run of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REFERENCE = Path("/work/shared/reference/d2l")
REFERENCE_PYTHON = Path(os.environ.get("D2L_REF_PYTHON", "/tmp/d2l-ref/venv/bin/python"))
STATED = {"epoch_s": 2.8, "eval_s": 9.0}  # the reference's README, 2-core CPU, torch 2.13.0, 2 threads


def ours(epochs: int, threads: int, seed: int) -> dict[str, float]:
    import torch

    from tuner.config import DATA_DEFAULTS
    from tuner.data.d2l import load_d2l
    from tuner.models.registry import build_model
    from tuner.training.d2l import metrics_of, rank_holdout, train_epoch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    start = time.perf_counter()
    data = load_d2l("ml-100k", DATA_DEFAULTS, 5)
    load_s = time.perf_counter() - start
    model = build_model("CaserD2L", {}, n_user_ids=data.n_users, n_item_ids=data.n_items, max_seq_length=5)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.04, weight_decay=1e-5, fused=True)
    generator = torch.Generator().manual_seed(seed)
    epoch_s, cpu_s = [], []
    for epoch in range(epochs):
        tick, cpu = time.perf_counter(), time.process_time()
        loss = train_epoch(model, optimizer, data.windows, data.not_negative, 4096, generator)
        epoch_s.append(time.perf_counter() - tick)
        cpu_s.append(time.process_time() - cpu)  # CPU seconds of all threads: what load on a shared machine hides
        print(f"epoch {epoch + 1}: {epoch_s[-1]:.3f} s, {cpu_s[-1]:.3f} CPU s, loss {loss:.4f}", file=sys.stderr, flush=True)
    eval_s = []
    for _ in range(5):
        tick = time.perf_counter()
        metrics = metrics_of(*rank_holdout(model, data.test, 4096), ["hit", "auc"], [10, 50])
        eval_s.append(time.perf_counter() - tick)
    return {"load_s": load_s, "epoch1_s": epoch_s[0], "epoch_s": statistics.mean(epoch_s[1:] or epoch_s),
            "eval_s": statistics.median(eval_s), "epoch_cpu_s": statistics.mean(cpu_s[1:] or cpu_s), "loss": loss, **metrics}


def reference(threads: int) -> dict[str, float] | None:
    """One run of the tutorial's code (seed 0), or None without its venv."""
    if not REFERENCE_PYTHON.is_file():
        print(f"(no reference venv at {REFERENCE_PYTHON}: bash {REFERENCE}/setup.sh makes it)", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "seed0.json"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        subprocess.run([str(REFERENCE_PYTHON), "caser_seed.py", "0", str(out)], cwd=REFERENCE, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        run = json.loads(out.read_text())
    epochs = run["epoch_s"]
    return {"epoch1_s": epochs[0], "epoch_s": statistics.mean(epochs[1:]), "eval_s": run["d2l_eval"][-1][3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", action="store_true", help="also run the tutorial's code in its venv")
    args = parser.parse_args()
    mine = ours(args.epochs, args.threads, args.seed)
    ref = reference(args.threads) if args.reference else None
    base, source = (ref, "reference, run now") if ref else (STATED, "reference, stated figures")
    print(f"ml-100k, L=5, batch 4096, {args.threads} torch threads, {args.epochs} epochs "
          f"(data prep {mine['load_s']:.2f} s; after the epochs: loss {mine['loss']:.3f}, "
          f"hit@10 {mine['hit@10']:.3f}, hit@50 {mine['hit@50']:.3f}, auc {mine['auc']:.3f})")
    print(f"{'':<28}{'CaserD2L':>10}{source:>28}{'speed-up':>10}")
    for key, label in (("epoch_s", "s per epoch (2nd on)"), ("eval_s", "s per evaluation")):
        print(f"{label:<28}{mine[key]:>10.3f}{base[key]:>28.3f}{base[key] / mine[key]:>9.1f}x")
    print(f"{'CPU s per epoch (2nd on)':<28}{mine['epoch_cpu_s']:>10.3f}")
    if ref:
        print(f"{'s for the first epoch':<28}{mine['epoch1_s']:>10.3f}{ref['epoch1_s']:>28.3f}")


if __name__ == "__main__":
    main()
