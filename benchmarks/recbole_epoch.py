"""Time one RecBole 1.2.1 training epoch and one full-sort validation (run with RecBole's own Python).

Not part of the project: ``train_speed.py`` runs this file with the interpreter of a separate
virtualenv that has RecBole (never a project dependency) and reads the one JSON line it prints.

    python benchmarks/recbole_epoch.py --model Caser --length 10 --data-path /work/shared/datasets

``--batches N`` times only the first N training batches and extrapolates to the whole epoch.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--length", type=int, required=True)
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--batches", type=int, default=0, help="time this many batches (0: the whole epoch)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # RecBole's Config parses sys.argv itself
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    if args.threads:
        torch.set_num_threads(args.threads)
    load_col = {"inter": ["user_id", "item_id", "rating", "timestamp"]}
    if args.model == "GRU4RecF":
        load_col["item"] = ["item_id", "class"]
    config = Config(
        model=args.model,
        dataset=args.dataset,
        config_dict={
            "data_path": args.data_path,
            "load_col": load_col,
            "MAX_ITEM_LIST_LENGTH": args.length,
            "loss_type": "CE",
            "train_neg_sample_args": None,
            "eval_args": {"split": {"LS": "valid_and_test"}, "group_by": "user", "order": "TO", "mode": "full"},
            "metrics": ["Recall", "NDCG", "MRR", "Hit", "Precision"],
            "topk": [10],
            "valid_metric": "NDCG@10",
            "use_gpu": False,
            "show_progress": False,
            "state": "ERROR",
            "checkpoint_dir": tempfile.mkdtemp(prefix="recbole-bench-"),
            "seed": 2020,
            "reproducibility": True,
        },
    )
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, _ = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.eval_collector.data_collect(train_data)

    total_batches = len(train_data)
    timed = args.batches if 0 < args.batches < total_batches else total_batches
    trainer._train_epoch(itertools.islice(train_data, 1), 0)  # warm-up batch, not timed
    start = time.perf_counter()
    trainer._train_epoch(itertools.islice(train_data, timed), 0)
    train_seconds = (time.perf_counter() - start) * total_batches / timed
    trainer.evaluate(valid_data, load_best_model=False)  # warm-up
    start = time.perf_counter()
    trainer.evaluate(valid_data, load_best_model=False)
    eval_seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "train_seconds": train_seconds,
                "eval_seconds": eval_seconds,
                "batches_timed": timed,
                "batches_per_epoch": total_batches,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
