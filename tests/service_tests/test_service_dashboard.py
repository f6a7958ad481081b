"""``tuner dashboard``: optuna-dashboard started on a real job database (SQLite given relative to the
folder it runs in, PostgreSQL with a password in its URL) answers /api/studies with the job."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.service_tests.helpers import ROOT, TUNER

from tuner.cli import main
from tuner.service import submit
from tuner.service.dashboard import dashboard_storage

PASSWORD = "dashboard-s3cret"  # the test server trusts local connections, so any password is accepted


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def studies_served(url: str, cwd: Path, timeout: float = 60) -> tuple[list[str], str]:
    """Start ``tuner dashboard --storage URL`` in ``cwd`` on a free port; the study names /api/studies
    lists, and what the command printed. The process is always stopped."""
    port = _free_port()
    process = subprocess.Popen(
        [*TUNER, "dashboard", "--storage", url, "--port", str(port)], cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as answer:
                    studies = json.load(answer)["study_summaries"]
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"no answer from the dashboard in {timeout} s:\n{process.stdout.read()[-3000:]}")
                time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
    return [s["study_name"] for s in studies], output


def test_a_relative_sqlite_url_is_served_from_the_folder_it_names(write_spec, tmp_path):
    submit(write_spec(), f"sqlite:///{tmp_path / 'jobs.db'}")
    names, output = studies_served("sqlite:///jobs.db", cwd=tmp_path)
    assert names == ["job"]
    assert f"sqlite:///{tmp_path / 'jobs.db'}" in output


def test_a_postgresql_job_is_served_and_its_password_never_shown(write_spec, postgres_url):
    url = sa.engine.make_url(postgres_url).set(password=PASSWORD).render_as_string(hide_password=False)
    submit(write_spec(name="pg-job"), url)
    names, output = studies_served(url, cwd=ROOT)
    assert names == ["pg-job"]
    assert PASSWORD not in output and "***" in output


def test_relative_sqlite_paths_are_made_absolute_and_server_urls_left_alone(tmp_path, sqlite_url, write_spec):
    submit(write_spec(), sqlite_url)
    assert dashboard_storage("sqlite:///jobs.db", cwd=tmp_path) == sqlite_url
    assert dashboard_storage(sqlite_url, cwd=Path("/elsewhere")) == sqlite_url


def test_a_missing_database_or_a_bad_port_is_a_clear_error(tmp_path, capsys, sqlite_url, write_spec):
    assert main(["dashboard", "--storage", f"sqlite:///{tmp_path / 'none.db'}"]) != 0
    assert "none.db" in capsys.readouterr().err
    submit(write_spec(), sqlite_url)
    assert main(["dashboard", "--storage", sqlite_url, "--port", "0"]) != 0
    assert "--port 0: expected a port number from 1 to 65535" in capsys.readouterr().err
