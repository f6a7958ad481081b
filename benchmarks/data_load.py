"""How long loading a dataset takes: cold, from the disk cache in a fresh process, from memory.

    python benchmarks/data_load.py                    # ml-100k, three preprocessing options
    python benchmarks/data_load.py --scale            # also a generated dataset of 1M interactions
    python benchmarks/data_load.py --repeat 5

Each "cold" and "disk cache" figure is measured in a new Python process (imports not counted) with
its own empty cache folder, so nothing is shared but the files; "memory" is a second call in the
same process. Times are the median of --repeat runs; compare figures from one run of this script
(the machine is shared, absolute numbers move).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# one timed load in a fresh process: prints {"seconds": ..., "memory_seconds": ..., "stats": ...}
CHILD = """
import json, sys, time
from tuner.data import load_dataset
name, options = sys.argv[1], json.loads(sys.argv[2])
start = time.perf_counter(); dataset = load_dataset(name, options); seconds = time.perf_counter() - start
start = time.perf_counter(); load_dataset(name, options); memory = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "memory_seconds": memory, "stats": dataset.stats()}))
"""

OPTIONS = {
    "default": {},
    'val_interval={rating: "[3,inf)"}': {"val_interval": {"rating": "[3,inf)"}},
    "user/item_inter_num_interval=[5,inf)": {"user_inter_num_interval": "[5,inf)", "item_inter_num_interval": "[5,inf)"},
}
SCALE = "synthetic:users=20000,items=5000,length=50,seed=0"


def load_in_child(name: str, options: dict, cache: Path) -> dict:
    env = {**os.environ, "TUNER_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, name, json.dumps(options)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def measure(name: str, options: dict, repeat: int) -> tuple[dict, list[float], list[float], list[float]]:
    cold, disk, memory = [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            first = load_in_child(name, options, Path(tmp))
            second = load_in_child(name, options, Path(tmp))
        cold.append(first["seconds"])
        disk.append(second["seconds"])
        memory.append(second["memory_seconds"])
    return first["stats"], cold, disk, memory


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is shown)")
    parser.add_argument("--scale", action="store_true", help=f"also load {SCALE} (about 1M interactions)")
    args = parser.parse_args()

    cases = [("ml-100k", label, options) for label, options in OPTIONS.items()]
    if args.scale:
        cases.append((SCALE, "default", {}))
    print(f"load_dataset timings, median of {args.repeat} (cold: no disk cache; disk: cached, fresh process)")
    print(f"{'dataset':<12} {'options':<38} {'cold':>11} {'disk':>11} {'memory':>11}   statistics")
    for name, label, options in cases:
        stats, cold, disk, memory = measure(name, options, args.repeat)
        figures = ", ".join(f"{k[2:]}={v:,}" for k, v in stats.items())
        short = name if len(name) <= 12 else name[:9] + "..."
        print(f"{short:<12} {label:<38} {ms(cold)} {ms(disk)} {ms(memory)}   {figures}")


if __name__ == "__main__":
    main()
