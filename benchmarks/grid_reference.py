"""The exhaustive reference: every configuration of search_spaces/caser.hyper trained on ml-100k, as a table.

    .venv/bin/python benchmarks/grid_reference.py            # submit or continue the grid job, then export
    .venv/bin/python benchmarks/grid_reference.py --export   # only write the table (from a partial job too)

The job (benchmarks/grid_reference.yaml: RecBole's protocol, epochs capped at 50) runs through the service
itself, 2 CPU worker slots of one torch thread each, in a SQLite file kept out of git
(benchmarks/results/grid.db), so an interrupted run continues where it stopped. The table,
benchmarks/results/caser-ml100k-grid.csv, has one row per configuration and epoch: the parameters, the
epoch, its validation ndcg@10 / recall@10 / mrr@10 and seconds, and the configuration's best epoch and test
metrics there (repeated on each of its rows). benchmarks/search_strategies.py replays strategies from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEC = HERE / "grid_reference.yaml"
RESULTS = HERE / "results"
STORAGE = f"sqlite:///{RESULTS / 'grid.db'}"
TABLE = RESULTS / "caser-ml100k-grid.csv"
METRICS = ("ndcg@10", "recall@10", "mrr@10")


def run(storage: str, workers: int) -> None:
    from tuner.service import run_job

    RESULTS.mkdir(parents=True, exist_ok=True)
    outcome = run_job(SPEC, storage, workers=workers, devices="cpu")
    print(f"job {outcome.name}: workers exited {outcome.exit_code}", file=sys.stderr)


def export(storage: str, path: Path) -> int:
    """Write the table from every complete trial; returns the number of configurations in it."""
    import optuna
    import pandas as pd

    from tuner import records
    from tuner.service import load_jobs, open_storage, read_spec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = read_spec(SPEC).name
    (job,) = load_jobs(open_storage(storage), [name])
    study = optuna.load_study(study_name=name, storage=storage)
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        curves = trial.user_attrs.get(records.EPOCH_METRICS)
        if not curves or records.COPY_OF in trial.user_attrs:
            continue
        params = job.space.decode(trial.params)
        test = trial.user_attrs.get(records.TEST_METRICS, {})
        per_config = {
            **params,
            "best_epoch": trial.user_attrs[records.BEST_EPOCH],
            **{f"test_{m}": test.get(m) for m in METRICS},
        }
        for i, epoch in enumerate(curves["epoch"]):
            rows.append({
                "config": trial.number,
                **per_config,
                "epoch": epoch,
                "seconds": curves["seconds"][i],
                **{f"valid_{m}": curves[m][i] for m in METRICS},
            })
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise SystemExit(f"no complete trial in job {name} of {storage} yet")
    order = list(job.space.names) + ["best_epoch"] + [f"test_{m}" for m in METRICS]
    frame = frame[["config", *order, "epoch", "seconds", *[f"valid_{m}" for m in METRICS]]]
    frame = frame.sort_values(["config", "epoch"])
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.6g")
    configs = frame["config"].nunique()
    print(f"{path}: {configs} configurations, {len(frame)} epochs, {frame['seconds'].sum() / 3600:.2f} h of training")
    return configs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", default=STORAGE, help=f"the job's database (default {STORAGE})")
    parser.add_argument("--workers", type=int, default=2, help="CPU worker slots (the cores are split between them)")
    parser.add_argument("--export", action="store_true", help="only write the table from what the job holds")
    parser.add_argument("-o", "--output", type=Path, default=TABLE)
    args = parser.parse_args(argv)
    if not args.export:
        run(args.storage, args.workers)
    export(args.storage, args.output)


if __name__ == "__main__":
    main()
