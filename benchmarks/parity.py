"""Statistical parity with RecBole 1.2.1 on ml-100k: the runs of recbole-ml100k.md, ours, side by side.

    /work/main/.venv/bin/python benchmarks/parity.py [--out parity.json]

Both models at MAX_ITEM_LIST_LENGTH 10, CE loss, learning_rate 0.001, batch 2048, stopping_step 10,
RecBole's leave-one-out split and full-sort metrics, CPU. Caser: seed 2020 with at most 100 epochs,
seeds 2021 and 2022 with exactly 20; GRU4RecF: seeds 2020, 2021, 2022 with at most 80. Parity
holds when, per model, the mean test NDCG@10 over the three seeds is within 0.012 of RecBole's
and the mean test Recall@10 within 0.025 (about two standard errors for 943 test users).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tuner.training import train  # noqa: E402

# (model, seed, epochs) -> RecBole 1.2.1's epochs run, best epoch, best valid NDCG@10, test NDCG@10,
# Recall@10, MRR@10, measured on this kind of machine (/work/shared/reference/recbole-ml100k.md).
RECBOLE = {
    ("Caser", 2020, 100): (56, 45, 0.0704, 0.0549, 0.1145, 0.0371),
    ("Caser", 2021, 20): (20, 16, 0.0587, 0.0476, 0.1029, 0.0313),
    ("Caser", 2022, 20): (20, 15, 0.0608, 0.0437, 0.0912, 0.0298),
    ("GRU4RecF", 2020, 80): (25, 14, 0.0779, 0.0665, 0.1294, 0.0475),
    ("GRU4RecF", 2021, 80): (30, 19, 0.0743, 0.0653, 0.1209, 0.0485),
    ("GRU4RecF", 2022, 80): (28, 17, 0.0719, 0.0622, 0.1188, 0.0454),
}
TOLERANCE = {"ndcg@10": 0.012, "recall@10": 0.025}
COMMON = {
    "MAX_ITEM_LIST_LENGTH": 10,
    "loss_type": "CE",
    "learning_rate": 0.001,
    "train_batch_size": 2048,
    "eval_step": 1,
    "stopping_step": 10,
    "valid_metric": "NDCG@10",
    "device": "cpu",
}


def show_epoch(model: str, seed: int):
    def show(record: dict) -> None:
        valid = record.get("valid", {}).get("ndcg@10", float("nan"))
        print(f"  {model} {seed} epoch {record['epoch']}: loss {record['loss']:.2f}, valid ndcg@10 {valid:.4f}, "
              f"{record['train_seconds']:.1f} s", file=sys.stderr, flush=True)

    return show


def run_one(model: str, seed: int, epochs: int, dataset: str, threads: int | None, progress: bool) -> dict:
    start = time.perf_counter()
    result = train(
        model,
        {**COMMON, "seed": seed, "epochs": epochs},
        dataset=dataset,
        threads=threads,
        progress=show_epoch(model, seed) if progress else None,
    )
    return {
        "model": model,
        "seed": seed,
        "max_epochs": epochs,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "valid_ndcg@10": result.valid["ndcg@10"],
        "test": result.test,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", nargs="+", default=["Caser", "GRU4RecF"])
    parser.add_argument("--seeds", nargs="+", type=int, help="only these seeds (to spread runs over processes)")
    parser.add_argument("--out", help="also write every run as JSON to this file")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: every core)")
    parser.add_argument("--progress", action="store_true", help="one line per epoch on stderr")
    parser.add_argument("--combine", nargs="+", metavar="JSON", help="print the table of runs saved with --out; train nothing")
    args = parser.parse_args()

    print(
        f"{'model':<9}{'seed':>5}{'epochs (best)':>15}{'RB epochs':>11}{'valid':>8}{'RB':>8}"
        f"{'ndcg@10':>9}{'RB':>8}{'recall@10':>10}{'RB':>8}{'mrr@10':>8}{'RB':>8}{'s':>7}",
        flush=True,
    )
    runs = []
    if args.combine:
        for path in args.combine:
            runs.extend(json.loads(Path(path).read_text()))
        runs.sort(key=lambda r: (r["model"], r["seed"]))
        for run in runs:
            print_row(run)
    else:
        for model, seed, epochs in RECBOLE:
            if model not in args.models or (args.seeds and seed not in args.seeds):
                continue
            runs.append(run_one(model, seed, epochs, args.dataset, args.threads, args.progress))
            print_row(runs[-1])
            if args.out:
                Path(args.out).write_text(json.dumps(runs, indent=1))
    print()
    verdicts = []
    for model in sorted({r["model"] for r in runs}):
        mine = [r for r in runs if r["model"] == model]
        refs = [RECBOLE[(r["model"], r["seed"], r["max_epochs"])] for r in mine]
        for metric, column in (("ndcg@10", 3), ("recall@10", 4)):
            ours = statistics.mean(r["test"][metric] for r in mine)
            theirs = statistics.mean(ref[column] for ref in refs)
            ok = abs(ours - theirs) <= TOLERANCE[metric]
            verdicts.append(ok)
            print(
                f"{model:<9} mean test {metric:<10} over {len(mine)} seed(s): ours {ours:.4f}  RecBole {theirs:.4f}  "
                f"diff {ours - theirs:+.4f}  tolerance {TOLERANCE[metric]}  {'PASS' if ok else 'FAIL'}"
            )
    sys.exit(0 if all(verdicts) else 1)


def print_row(run: dict) -> None:
    ref = RECBOLE[(run["model"], run["seed"], run["max_epochs"])]
    t = run["test"]
    ours_epochs = f"{run['epochs']} ({run['best_epoch']})"
    their_epochs = f"{ref[0]} ({ref[1]})"
    print(
        f"{run['model']:<9}{run['seed']:>5}{ours_epochs:>15}{their_epochs:>11}"
        f"{run['valid_ndcg@10']:>8.4f}{ref[2]:>8.4f}{t['ndcg@10']:>9.4f}{ref[3]:>8.4f}"
        f"{t['recall@10']:>10.4f}{ref[4]:>8.4f}{t['mrr@10']:>8.4f}{ref[5]:>8.4f}{run['seconds']:>7.0f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
