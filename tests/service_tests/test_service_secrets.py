"""No password in output, logs, errors or stored jobs; no plotly in the worker."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest
from sqlalchemy.engine import make_url

from tests.service_tests.helpers import ROOT, finish, start_worker
from tuner.cli import main
from tuner.errors import StorageError

SECRET = "S3cret-Pa55"  # the local server trusts every local connection, so any password is accepted


def with_password(url: str) -> str:
    return make_url(url).set(password=SECRET).render_as_string(hide_password=False)


@pytest.mark.slow
def test_the_password_never_shows(write_spec, postgres_url, capsys):
    url = with_password(postgres_url)
    assert main(["submit", str(write_spec()), "--storage", url]) == 0
    worker = start_worker(url, "quick", devices="cpu", heartbeat_interval=1, poll_interval=0.1, max_trials=2)
    code, log = finish(worker)
    assert code == 0, log
    assert main(["status", "--storage", url]) == 0
    assert main(["status", "--storage", url, "--json"]) == 0
    bad = make_url(url).set(port=1).render_as_string(hide_password=False)  # an error that names the URL
    assert main(["status", "--storage", bad]) == StorageError.exit_code
    captured = capsys.readouterr()
    shown = log + captured.out + captured.err
    assert SECRET not in shown
    assert "postgres:***@127.0.0.1" in log and "postgres:***@127.0.0.1" in captured.out
    assert "postgres:***@127.0.0.1:1/" in captured.err
    study = optuna.load_study(study_name="job", storage=url)
    stored = json.dumps([study.user_attrs, [t.user_attrs for t in study.get_trials()]])
    assert SECRET not in stored


def test_the_worker_path_never_imports_plotly():
    code = (
        "import sys; import tuner.service, tuner.service.worker, tuner.service.slot, tuner.cli.jobs; "
        "from tuner.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'plotly'))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
