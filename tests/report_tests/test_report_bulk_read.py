"""The report reads a job in one bulk read: the number of SQL statements does not grow with its trials."""

from __future__ import annotations

import contextlib

import pytest
import sqlalchemy
from sqlalchemy import event

from tuner.report import read_jobs
from tuner.report.synthetic import add_synthetic_job


@contextlib.contextmanager
def count_statements():
    """Count every SQL statement any engine runs inside the block."""
    counter = {"n": 0}

    def on_execute(*_args):
        counter["n"] += 1

    event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", on_execute)
    try:
        yield counter
    finally:
        event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", on_execute)


def statements_to_read(url: str, name: str) -> int:
    with count_statements() as counter:
        (job,) = read_jobs(url, [name])
    assert job.trials  # the read really happened
    return counter["n"]


def test_sqlite_statements_do_not_grow_with_trials(sqlite_url):
    add_synthetic_job(sqlite_url, "small", 25)
    add_synthetic_job(sqlite_url, "large", 150, seed=1)
    small = statements_to_read(sqlite_url, "small")
    large = statements_to_read(sqlite_url, "large")
    assert small == large
    assert small < 25  # fewer statements than trials: not one query per trial


@pytest.mark.postgres
def test_postgres_statements_do_not_grow_with_trials(postgres_url, postgres_job_name):
    small_name, large_name = postgres_job_name(), postgres_job_name()
    add_synthetic_job(postgres_url, small_name, 25)
    add_synthetic_job(postgres_url, large_name, 150, seed=1)
    small = statements_to_read(postgres_url, small_name)
    large = statements_to_read(postgres_url, large_name)
    assert small == large
    assert small < 25
    (job,) = read_jobs(postgres_url, [large_name])
    assert len(job.trials) == 150 and job.best is not None and all(r.curve for r in job.trials)
