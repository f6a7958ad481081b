"""Record what RecBole 1.2.1 itself builds, for tests/fixtures/recbole-data-options.json.

Not a test and not run by CI: it needs RecBole 1.2.1 in its own virtualenv (see
/work/shared/reference/recbole-ml100k.md; pandas 2.1.4 and numpy 1.26.4 there). Run from the
repository root:

    cd tests/data_tests && RECBOLE_PYTHON recbole_expectations.py > ../fixtures/recbole-data-options.json

For each hand-made or derived dataset and each option set it records RecBole's statistics, id
tables, feature tables and examples (the small "tiny" dataset in full; ml-100k as sha256 digests of
the canonical JSON that data_expectations.py also computes).
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

from data_folders import ML100K_DUP_CASES, TINY_CASES, write_ml100k_with_repeats, write_tiny
from data_expectations import ML100K_CASES, digest

ML100K = Path(__file__).resolve().parents[2] / "tuner" / "data" / "builtin" / "ml-100k"


def recbole_build(dataset: str, data_path: Path, options: dict):
    sys.argv = sys.argv[:1]  # RecBole's Config reads sys.argv
    from recbole.config import Config
    from recbole.data import create_dataset

    config = {
        "data_path": str(data_path),
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "train_neg_sample_args": None,
        "loss_type": "CE",
        "show_progress": False,
        "load_col": None,
        "normalize_all": True,
        "user_inter_num_interval": None,
        "item_inter_num_interval": None,
    }
    config.update({k: (None if k == "normalize_all" and v is False else v) for k, v in options.items()})
    ds = create_dataset(Config(model="Caser", dataset=dataset, config_dict=config))
    logging.getLogger().setLevel(logging.ERROR)
    n_interactions = ds.inter_num
    train, valid, test = ds.build()
    users = [str(t) for t in ds.field2id_token["user_id"]]
    items = [str(t) for t in ds.field2id_token["item_id"]]

    def rows(part):
        f = part.inter_feat
        return sorted(
            [users[u], [items[i] for i in seq[:n]], items[t]]
            for u, seq, n, t in zip(
                f["user_id"].tolist(), f["item_id_list"].tolist(), f["item_length"].tolist(), f["item_id"].tolist()
            )
        )

    features = {}
    if ds.item_feat is not None:
        for field in ds.item_feat.columns:
            if field != "item_id" and ds.field2type[field].value in ("token", "token_seq"):
                tokens = [str(t) for t in ds.field2id_token[field]]
                values = ds.item_feat[field].tolist()
                per_item = {items[i]: [tokens[v] for v in (row if isinstance(row, list) else [row]) if v] for i, row in enumerate(values) if i}
                features[field] = {"tokens": tokens, "items": per_item}
    stats = {
        "n_users": ds.user_num - 1,
        "n_items": ds.item_num - 1,
        "n_interactions": n_interactions,
        "n_train": len(train),
        "n_valid": len(valid),
        "n_test": len(test),
    }
    return stats, users, items, {"train": rows(train), "valid": rows(valid), "test": rows(test)}, features


def main() -> None:
    out: dict = {"recbole_version": "1.2.1", "tiny": {}, "ml-100k": {}, "ml100dup": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tiny(root / "tiny")
        for name, options in TINY_CASES.items():
            stats, users, items, splits, features = recbole_build("tiny", root, options)
            out["tiny"][name] = {"options": options, "stats": stats, "user_tokens": users, "item_tokens": items,
                                 "splits": splits, "features": features}
        (root / "ml100k").mkdir()
        for suffix in ("inter", "item", "user"):
            (root / "ml100k" / f"ml100k.{suffix}").write_bytes((ML100K / f"ml-100k.{suffix}").read_bytes())
        for name, options in ML100K_CASES.items():
            stats, users, items, splits, features = recbole_build("ml100k", root, options)
            out["ml-100k"][name] = {"options": options, "stats": stats, "digests": digest(users, items, splits, features)}
        write_ml100k_with_repeats(ML100K, root / "ml100dup")
        for name, options in ML100K_DUP_CASES.items():
            stats, users, items, splits, features = recbole_build("ml100dup", root, options)
            out["ml100dup"][name] = {"options": options, "stats": stats, "digests": digest(users, items, splits, features)}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
