"""``tuner report`` and ``tuner export`` in-process, plus what they must never do (print a password,
import plotly where no report is drawn)."""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from tuner.cli import main
from tuner.cli.report import EXPORT_FORMATS
from tuner.report.export import FORMATS
from tuner.report.synthetic import add_synthetic_job

PASSWORD = "pa55-w0rd-never-shown"


def test_report_writes_one_file(store, tmp_path, capsys):
    out = tmp_path / "sub" / "r.html"
    assert main(["report", "caser-ml100k", "gru4recf-ml100k", "--storage", store, "-o", str(out)]) == 0
    assert out.exists() and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "2 job(s), 104 trials" in capsys.readouterr().out


def test_storage_comes_from_the_environment(store, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TUNER_STORAGE", store)
    assert main(["export", "caser-ml100k", "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(frame) == 64 and "valid_ndcg@10" in frame.columns  # 60 run, 4 waiting


def test_export_formats(store, tmp_path, capsys):
    assert EXPORT_FORMATS == FORMATS
    target = tmp_path / "best.yaml"
    assert main(["export", "caser-ml100k", "--format", "recbole", "--storage", store, "-o", str(target)]) == 0
    assert yaml.safe_load(target.read_text())["model"] == "Caser"
    parquet = tmp_path / "t.parquet"
    assert main(["export", "caser-ml100k", "--format", "parquet", "--storage", store, "-o", str(parquet)]) == 0
    assert len(pd.read_parquet(parquet)) == 64


@pytest.mark.parametrize("argv, code, message", [
    (["export", "caser-ml100k", "--format", "parquet"], 2, "give -o FILE.parquet"),
    (["export", "caser", "--format", "csv"], 2, "no job named 'caser'"),
    (["report", "caser-ml100k", "nope"], 2, "no job named 'nope'"),
])
def test_errors_are_messages_and_exit_codes(store, capsys, argv, code, message):
    assert main(argv + ["--storage", store]) == code
    assert message in capsys.readouterr().err


def test_missing_database(tmp_path, capsys):
    assert main(["report", "x", "--storage", f"sqlite:///{tmp_path / 'no.db'}"]) == 1
    assert "no such database file" in capsys.readouterr().err


def test_plotly_is_not_imported_unless_a_report_is_drawn(store, tmp_path):
    code = (
        "import sys, tuner.cli, tuner.report, tuner.report.export;"
        f"assert tuner.cli.main(['export', 'caser-ml100k', '--format', 'csv', '--storage', {store!r},"
        f" '-o', {str(tmp_path / 'x.csv')!r}]) == 0;"
        "assert 'plotly' not in sys.modules, 'plotly imported by export';"
        f"assert tuner.cli.main(['report', 'caser-ml100k', '--storage', {store!r}, '-o', {str(tmp_path / 'x.html')!r}]) == 0;"
        "assert 'plotly' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_no_password_in_errors(capsys):
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/test"  # nothing listens on port 1
    assert main(["report", "x", "--storage", url]) == 1
    captured = capsys.readouterr()
    assert "postgres:***@127.0.0.1:1" in captured.err
    assert PASSWORD not in captured.out + captured.err


@pytest.mark.postgres
def test_no_password_in_report_or_output_on_postgres(postgres_url, postgres_job_name, tmp_path, capsys):
    # the local server trusts 127.0.0.1, so any password connects: it must still never be shown
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url).set(password=PASSWORD).render_as_string(hide_password=False)
    name = postgres_job_name()
    add_synthetic_job(url, name, 12, spec_extra={"storage": url})
    out = tmp_path / "r.html"
    assert main(["report", name, "--storage", url, "-o", str(out)]) == 0
    assert main(["export", name, "--format", "json", "--storage", url]) == 0
    assert main(["export", name, "--format", "recbole", "--storage", url]) == 0
    captured = capsys.readouterr()
    page = out.read_text(encoding="utf-8")
    assert PASSWORD not in page and PASSWORD not in captured.out + captured.err
    assert "postgres:***@" in page  # the storage is shown, masked
