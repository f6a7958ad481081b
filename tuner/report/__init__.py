"""The report: one bulk read of a job's study into plain data, drawn into one offline HTML page,
and exports of its trials (CSV, JSON, Parquet) and best configuration (a RecBole config file).

plotly is imported by :mod:`tuner.report.html` only, and only while a report is drawn.
"""

from tuner.report.data import (
    Comparison,
    Environment,
    Job,
    Reason,
    Span,
    Spread,
    TrialRow,
    build_job,
    compare,
    read_jobs,
)
from tuner.report.export import FORMATS, recbole_config, recbole_yaml, table_bytes, trials_frame
from tuner.report.html import render, write_report

__all__ = [
    "FORMATS",
    "Comparison",
    "Environment",
    "Job",
    "Reason",
    "Span",
    "Spread",
    "TrialRow",
    "build_job",
    "compare",
    "read_jobs",
    "recbole_config",
    "recbole_yaml",
    "render",
    "table_bytes",
    "trials_frame",
    "write_report",
]
