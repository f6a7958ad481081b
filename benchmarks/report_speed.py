"""How long the report takes for a big job: the bulk read, the plain data and the HTML, timed apart.

    python benchmarks/report_speed.py                 # 2,000 trials on SQLite (built once, then reused)
    python benchmarks/report_speed.py --trials 500 --db /tmp/bench.db

The job follows the tuner.records contract (metrics, workers, devices, per-epoch intermediate values),
written by tuner.report.synthetic. Building it is slow (Optuna writes each intermediate value with its
own statements) and is not what this measures, so an existing database with the job is reused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402
import plotly.offline  # noqa: E402
import sqlalchemy  # noqa: E402
from sqlalchemy import event  # noqa: E402

from tuner.report import build_job, render  # noqa: E402
from tuner.report._storage import open_storage  # noqa: E402
from tuner.report.synthetic import add_synthetic_job  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "seqrec-tuner-report-bench.db"))
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each step (the median is shown)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    url = f"sqlite:///{args.db}"
    name = f"bench-{args.trials}"
    if not (Path(args.db).exists() and name in optuna.get_all_study_names(url)):
        start = time.perf_counter()
        add_synthetic_job(url, name, args.trials)
        print(f"built {name} in {args.db}: {time.perf_counter() - start:.1f} s (not part of the report's time)")

    storage = open_storage(url)
    study_id = storage.get_study_id_from_name(name)
    attrs = storage.get_study_user_attrs(study_id)

    statements = []
    event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", lambda *a: statements.append(1))
    read_s, trials = timed(args.repeat, lambda: storage.get_all_trials(study_id, deepcopy=False))
    n_read = len(statements) // args.repeat
    build_s, job = timed(args.repeat, lambda: build_job(name, attrs, "maximize", trials, storage=url))
    html_s, page = timed(args.repeat, lambda: render([job]))
    out = Path(tempfile.gettempdir()) / f"{name}.html"
    write_s, _ = timed(args.repeat, lambda: out.write_text(page, encoding="utf-8"))

    n_values = sum(len(t.intermediate_values) for t in trials)
    print(f"job: {len(trials)} trials, {n_values} per-epoch values, {dict(job.counts)}")
    print(f"bulk read (get_all_trials, {n_read} SQL statements): {read_s:.2f} s")
    print(f"plain data (build_job, importances included):      {build_s:.2f} s")
    print(f"HTML (render, plotly figures and page):            {html_s:.2f} s")
    print(f"write file:                                        {write_s:.3f} s")
    print(f"total:                                             {read_s + build_s + html_s + write_s:.2f} s")
    print(f"HTML size: {len(page.encode()) / 1e6:.2f} MB ({out}), of which plotly.js "
          f"{len(plotly.offline.get_plotlyjs()) / 1e6:.2f} MB, once")
    print(f"measured {dt.datetime.now():%Y-%m-%d %H:%M}, median of {args.repeat}")


def timed(repeat: int, fn):
    """(median seconds, last result) of ``repeat`` calls."""
    seconds = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


if __name__ == "__main__":
    main()
