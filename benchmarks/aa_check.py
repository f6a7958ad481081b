"""How often the report's test tells two configurations apart, on simulated per-user ranks (docs/statistics.md).

    .venv/bin/python benchmarks/aa_check.py [--repetitions 2000]

Each line: a scenario, the share of repetitions called different at 5% by the test over seeds and users
(the report's, with per-user ranks) and by Welch's test over seeds only. A/A lines should be at or below
5%, A/B lines high. 943 users (ml-100k), NDCG@10 about 0.05; tests/report_tests/test_report_confidence.py
asserts the same scenarios at 400 repetitions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuner.report.synthetic import simulated_rejection_rate  # noqa: E402

SCENARIOS = [
    ("A/A, 5 seeds each", {}),
    ("A/A, 3 seeds each", {"runs": 3}),
    ("A/A, 2 seeds each", {"runs": 2}),
    ("A/A, large seed shift (sd 0.2 on the logit)", {"shift_sd": 0.2}),
    ("A/A, no seed shift", {"shift_sd": 0.0}),
    ("equal over users, different per user (interaction 1.0), no seed shift", {"interaction": 1.0, "shift_sd": 0.0}),
    ("A/B, B worse by 0.15 on the logit (NDCG@10 -0.004)", {"offset_b": -0.15}),
    ("A/B, B worse by 0.5 on the logit (NDCG@10 -0.011)", {"offset_b": -0.5}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=2000)
    args = parser.parse_args()
    started = time.perf_counter()
    print("| scenario | seeds and users | seeds only |\n|---|---|---|")
    for label, kw in SCENARIOS:
        both = simulated_rejection_rate(repetitions=args.repetitions, **kw)
        seeds = simulated_rejection_rate(repetitions=args.repetitions, with_users=False, **kw)
        print(f"| {label} | {both:.1%} | {seeds:.1%} |", flush=True)
    print(f"\n{args.repetitions} repetitions per cell, {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
