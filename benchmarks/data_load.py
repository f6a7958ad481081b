"""ml-100k load time: cold (parse), cached on disk (a fresh process), cached in memory; and statistics.

    python benchmarks/data_load.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

OPTIONS = {
    "default": {},
    "rating >= 3": {"val_interval": {"rating": "[3,inf)"}},
    "5-core": {"user_inter_num_interval": "[5,inf)", "item_inter_num_interval": "[5,inf)"},
    "rating >= 3, 10-core, L=20": {"val_interval": {"rating": "[3,inf)"}, "user_inter_num_interval": "[10,inf)",
                                   "item_inter_num_interval": "[10,inf)", "MAX_ITEM_LIST_LENGTH": 20},
}

CHILD = """
import json, sys, time
t = time.perf_counter()
from tuner.data import load_dataset
t_import = time.perf_counter() - t
t = time.perf_counter(); d = load_dataset("ml-100k"); first = time.perf_counter() - t
t = time.perf_counter(); load_dataset("ml-100k"); second = time.perf_counter() - t
print(json.dumps({"import": t_import, "load": first, "memory": second, "stats": d.stats()}))
"""


def run_child(cache_dir: str) -> dict:
    env = {**os.environ, "TUNER_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = [run_child(tempfile.mkdtemp(dir=cache_dir)) for _ in range(3)]
        run_child(cache_dir)  # fill the shared cache
        warm = [run_child(cache_dir) for _ in range(3)]
    best = lambda runs, key: min(r[key] for r in runs)  # noqa: E731
    print(f"ml-100k cold parse (empty cache):    {best(cold, 'load'):.3f} s")
    print(f"ml-100k disk cache (fresh process):  {best(warm, 'load'):.3f} s")
    print(f"ml-100k memory cache (same process): {best(warm, 'memory') * 1e3:.3f} ms")
    print(f"(import of tuner.data: {best(warm, 'import'):.3f} s, not counted above)\n")

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tuner.data import load_dataset

    keys = ("n_users", "n_items", "n_interactions", "n_train", "n_valid", "n_test")
    print(f"{'options':<30}" + "".join(f"{k:>16}" for k in keys))
    for name, options in OPTIONS.items():
        stats = load_dataset("ml-100k", options).stats()
        print(f"{name:<30}" + "".join(f"{stats[k]:>16,}" for k in keys))


if __name__ == "__main__":
    main()
