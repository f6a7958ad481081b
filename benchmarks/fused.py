"""Configurations per hour: K trials fused into one model against K separate trials on N slots.

    .venv/bin/python benchmarks/fused.py [--models Caser GRU4RecF] [--ks 1 4 16 90] [--slots 2]
        [--device cpu|cuda:0] [--batches 3] [--epochs 10] [--out results.json]
    .venv/bin/python benchmarks/fused.py --agreement 8 [--agreement-epochs 5]   # fused vs unfused metrics

Both sides train the grid of ``search_spaces/caser.hyper`` (learning_rate x reg_weight x
dropout_prob; GRU4RecF: learning_rate x dropout_prob) on ml-100k, batch 2048, CE. Each timing runs
``--batches`` warm training steps (after one warm-up) and one validation, and scales them to a full
epoch: a trial's ``--epochs`` epochs are that many training passes and validations. Separate trials:
``--slots`` child processes at once on the device (on the CPU they split the cores, as a worker's
slots do), each timing one trial; their rates add up. Fused: one process (every core) trains K
configurations as one fused model; K beyond the grid's size repeats its points.
``--agreement K`` instead trains K grid points fused and unfused for a few epochs and prints the
largest per-epoch difference of any validation metric.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from tuner.models.fused import fuse  # noqa: E402
from tuner.training import resolve, train  # noqa: E402
from tuner.training.batches import ShuffledBatches, split_to_device  # noqa: E402
from tuner.training.evaluation import evaluate  # noqa: E402
from tuner.training.fused import Member, build_members, fit_fused  # noqa: E402
from tuner.training.run import dataset_for  # noqa: E402
from tuner.training.settings import TrainerConfig, resolve_device  # noqa: E402

GRID = {
    "Caser": [dict(learning_rate=lr, reg_weight=reg, dropout_prob=p)
              for lr, reg, p in itertools.product([0.01, 0.005, 0.001, 0.0005, 0.0001], [0, 1e-4, 1e-5],
                                                  [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])],
    "GRU4RecF": [dict(learning_rate=lr, dropout_prob=p)
                 for lr, p in itertools.product([0.01, 0.005, 0.001, 0.0005, 0.0001], [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])],
}
BASE = {"train_batch_size": 2048, "loss_type": "CE"}


def points(model: str, k: int, length: int) -> list[dict]:
    grid = GRID[model]
    return [{**BASE, "MAX_ITEM_LIST_LENGTH": length, **grid[i % len(grid)]} for i in range(k)]


def measure(model: str, k: int, length: int, device: str, batches: int, fused: bool) -> dict:
    """Seconds of one training step (all K members when fused) and of one member's validation."""
    settings = [resolve(model, overrides=p, overrides_source="benchmark") for p in points(model, k, length)]
    data = dataset_for("ml-100k", settings[0])
    target = resolve_device(device)
    models, generators = build_members(model, data, settings)
    for m in models:
        m.to(target)
    models[0].prepare(target)
    if target.type == "cuda":
        generators = [torch.Generator(target).manual_seed(0)] * len(models)
    optimizers = [torch.optim.Adam(m.parameters(), lr=s["learning_rate"], fused=True) for m, s in zip(models, settings)]
    config = TrainerConfig.from_settings(settings[0])
    train_split = ShuffledBatches(split_to_device(data.train, target), config.train_batch_size, config.seed,
                                  n_item_ids=data.n_item_ids)
    fused_model = fuse(models, generators) if fused else None
    order = train_split.epoch()

    def step():
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        batch = next(order)
        if fused:
            fused_model.member_losses(batch).sum().backward()
        else:
            models[0].loss(batch).backward()
        for o in optimizers:
            o.step()

    torch.set_flush_denormal(True)
    step()  # warm-up
    sync(target)
    tick = time.perf_counter()
    for _ in range(batches):
        step()
    sync(target)
    step_s = (time.perf_counter() - tick) / batches
    names, topk = config.report_metrics()
    valid = split_to_device(data.valid, target)
    tick = time.perf_counter()
    evaluate(models[0], valid, metrics=names, topk=topk, batch_size=config.eval_batch_size)
    sync(target)
    return {"step_s": step_s, "steps": len(train_split), "valid_s": time.perf_counter() - tick, "members": k if fused else 1}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_seconds(m: dict) -> float:
    """One epoch of every member: the training passes and each member's validation."""
    return m["step_s"] * m["steps"] + m["members"] * m["valid_s"]


def separate(model: str, length: int, device: str, batches: int, slots: int) -> float:
    """Trials per hour of ``slots`` processes training one trial each at once (``--epochs`` epochs a trial)."""
    threads = max(1, (os.cpu_count() or 1) // slots)  # a worker splits the cores between its slots
    command = [sys.executable, __file__, "--child", model, str(length), device, str(batches), str(threads)]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(slots)]
    results = [json.loads(c.communicate()[0].strip().splitlines()[-1]) for c in children]
    return sum(3600.0 / epoch_seconds(r) for r in results)  # trial-epochs per hour


def table(args) -> list[dict]:
    rows = []
    for model in args.models:
        torch.set_num_threads(os.cpu_count() or 1)
        unfused = {s: separate(model, args.length, args.device, args.batches, s) / args.epochs for s in args.slots}
        for s, rate in unfused.items():
            rows.append({"model": model, "L": args.length, "kind": f"separate, {s} slot(s)", "K": 1, "configs_per_hour": rate})
            print(f"{model} L={args.length} separate trials, {s} slot(s): {rate:.1f} configs/hour", flush=True)
        for k in args.ks:
            m = measure(model, k, args.length, args.device, args.batches, fused=True)
            rate = k * 3600.0 / (epoch_seconds(m) * args.epochs)
            best_separate = max(unfused.values())
            rows.append({"model": model, "L": args.length, "kind": "fused", "K": k, "configs_per_hour": rate,
                         "step_s": m["step_s"], "vs_separate": rate / best_separate})
            print(f"{model} L={args.length} fused K={k}: {rate:.1f} configs/hour ({rate / best_separate:.2f}x the best "
                  f"separate; step {m['step_s'] * 1e3:.0f} ms)", flush=True)
    return rows


def agreement(args) -> float:
    """Largest |fused - unfused| of any validation metric at any epoch, K Caser grid points on ml-100k."""
    chosen = [{**p, "epochs": args.agreement_epochs, "stopping_step": 100} for p in points("Caser", args.agreement, 10)]
    curves = [[] for _ in chosen]
    fit_fused("Caser", "ml-100k", [Member(p, on_epoch=lambda e, v, c=c: c.append(v)) for p, c in zip(chosen, curves)],
              device=args.device)
    worst = 0.0
    for p, fused_curve in zip(chosen, curves):
        alone = []
        train("Caser", p, dataset="ml-100k", device=args.device, on_epoch=lambda e, v: alone.append(v))
        worst = max([worst] + [abs(a[key] - b[key]) for a, b in zip(fused_curve, alone) for key in a])
    print(f"agreement: {args.agreement} Caser configurations, {args.agreement_epochs} epochs, ml-100k L=10: "
          f"largest per-epoch validation metric difference {worst:.2e}", flush=True)
    return worst


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        model, length, device, batches, threads = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
        torch.set_num_threads(threads)
        print(json.dumps(measure(model, 1, length, device, batches, fused=False)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["Caser", "GRU4RecF"])
    parser.add_argument("--ks", nargs="+", type=int, default=[1, 4, 16, 90])
    parser.add_argument("--slots", nargs="+", type=int, default=[2])
    parser.add_argument("--length", type=int, default=10, help="MAX_ITEM_LIST_LENGTH")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, default=3, help="timed training steps per measurement")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per configuration")
    parser.add_argument("--agreement", type=int, metavar="K", help="run the fused-vs-unfused agreement check instead")
    parser.add_argument("--agreement-epochs", type=int, default=5)
    parser.add_argument("--out", help="also write the rows as JSON")
    args = parser.parse_args()
    if args.agreement:
        result = {"agreement_max_abs_diff": agreement(args)}
    else:
        result = {"rows": table(args)}
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), **result}, indent=1))


if __name__ == "__main__":
    main()
