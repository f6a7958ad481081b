"""``tuner report`` and ``tuner export``: read jobs from the storage, write an HTML report or an export.

The report package (optuna, pandas, plotly) is imported inside the handlers, so ``tuner --help`` and
other commands do not pay for it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tuner.cli.common import add_storage_option
from tuner.environment import storage_url
from tuner.errors import ConfigError

EXPORT_FORMATS = ("csv", "json", "parquet", "recbole")  # tuner.report.export.FORMATS (a test keeps them equal)


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report", help="write one self-contained HTML report of one or more jobs",
        description="Write one HTML file (plotly embedded, opens offline) with the ranked configurations, the best "
        "one and its test metrics, history, importances, learning curves and timeline; several jobs are compared.",
    )
    report.add_argument("jobs", nargs="+", metavar="JOB", help="job name(s)")
    add_storage_option(report)
    report.add_argument("-o", "--output", default="report.html", metavar="FILE.html", help="default: report.html")
    report.set_defaults(func=_report)

    export = subparsers.add_parser(
        "export", help="export a job's trials (csv, json, parquet) or its best configuration (recbole)",
        description="csv/json/parquet: one row per trial (param_<name>, valid_<metric>, test_<metric>, timings). "
        "recbole: the best configuration as a RecBole config file for run_recbole(config_file_list=[FILE]).",
    )
    export.add_argument("job", metavar="JOB")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    add_storage_option(export)
    export.add_argument("-o", "--output", metavar="FILE", help="default: standard output (parquet needs a file)")
    export.set_defaults(func=_export)


def _report(args: argparse.Namespace) -> int:
    from tuner.report import read_jobs, write_report

    jobs = read_jobs(storage_url(args.storage), args.jobs)
    path = write_report(jobs, args.output)
    trials = sum(len(job.trials) for job in jobs)
    print(f"wrote {path}: {len(jobs)} job(s), {trials} trials, {path.stat().st_size / 1e6:.1f} MB")
    return 0


def _export(args: argparse.Namespace) -> int:
    from tuner.report import read_jobs, recbole_yaml, table_bytes

    if args.format == "parquet" and not args.output:
        raise ConfigError("--format parquet writes a binary file: give -o FILE.parquet")
    (job,) = read_jobs(storage_url(args.storage), [args.job])
    data = recbole_yaml(job).encode("utf-8") if args.format == "recbole" else table_bytes(job, args.format)
    if not args.output:
        sys.stdout.write(data.decode("utf-8"))
        return 0
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {path}: {args.format}, job {args.job!r}, {len(job.trials)} trials")
    return 0
