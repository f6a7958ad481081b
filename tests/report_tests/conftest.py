"""Fixtures for the report: contract-following jobs on real SQLite/PostgreSQL and a real headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.report.synthetic import add_synthetic_job

POSTGRES_URL = os.environ.get("TUNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# A name that runs script if any layer forgets to escape: it would mark <html data-pwned>.
XSS = "<script>document.documentElement.setAttribute('data-pwned','1')</script><img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">"

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> str:
    """A SQLite job database with a Caser job, a GRU4RecF job, a Caser job whose 5 best configurations ran
    4 more seeds each, and a job whose name is an XSS payload."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'jobs.db'}"
    add_synthetic_job(url, "caser-ml100k", 60, model="Caser", seed=0, n_waiting=4)
    add_synthetic_job(url, "gru4recf-ml100k", 40, model="GRU4RecF", seed=1)
    add_synthetic_job(url, "caser-confirmed", 40, model="Caser", seed=2, confirm=(5, 4))
    _add_xss_job(url)
    return url


def _add_xss_job(url: str) -> None:
    """A job named XSS whose categorical parameter takes XSS as a value and whose failures carry it too."""
    study = optuna.create_study(study_name=XSS, storage=url, direction="maximize")
    study.set_user_attr(records.OBJECTIVE, "ndcg@10")
    study.set_user_attr(records.MODEL, XSS)
    study.set_user_attr(records.SPEC, {"name": XSS, "params": {"epochs": 3}})
    dists = {"learning_rate": FloatDistribution(1e-4, 1e-2, log=True), "pooling": CategoricalDistribution([XSS, "sum"])}
    base = dt.datetime(2025, 1, 6, 10)
    trials = []
    for i in range(8):
        params = {"learning_rate": 1e-4 * (i + 1), "pooling": [XSS, "sum"][i % 2]}
        value = 0.05 + 0.002 * i + 0.01 * (i % 2)
        state = TrialState.FAIL if i == 7 else TrialState.COMPLETE
        ua = {records.WORKER: XSS, records.DEVICE: XSS, records.EPOCHS: 3}
        if state == TrialState.COMPLETE:
            ua.update({records.VALID_METRICS: {"ndcg@10": value}, records.TEST_METRICS: {"ndcg@10": value * 0.9},
                       records.BEST_EPOCH: 3})
        else:
            ua[records.FAIL_REASON] = XSS
        trials.append(FrozenTrial(
            number=i, trial_id=i, state=state, value=value if state == TrialState.COMPLETE else None, values=None,
            datetime_start=base + dt.timedelta(minutes=i), datetime_complete=base + dt.timedelta(minutes=i, seconds=50),
            params=params, distributions=dists, user_attrs=ua, system_attrs={},
            intermediate_values={1: value / 3, 2: value / 2, 3: value},
        ))
    study.add_trials(trials)


@pytest.fixture(scope="session")
def figures_of():
    """The figures a report page embeds (its one JSON block), checked to hold no raw < or >."""

    def read(page: str) -> list[dict]:
        match = re.search(r'<script type="application/json" id="report-figures">(.*?)</script>', page, re.S)
        assert match, "the page embeds its figures as one JSON block"
        assert "<" not in match.group(1) and ">" not in match.group(1)
        return json.loads(match.group(1))

    return read


@pytest.fixture(scope="session")
def xss() -> str:
    return XSS


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def postgres_url() -> str:
    return POSTGRES_URL


@pytest.fixture
def postgres_job_name():
    """A unique job name on the shared PostgreSQL test database, deleted afterwards."""
    names: list[str] = []

    def make() -> str:
        names.append(f"report-test-{uuid.uuid4().hex[:10]}")
        return names[-1]

    yield make
    for name in names:
        try:
            optuna.delete_study(study_name=name, storage=POSTGRES_URL)
        except KeyError:
            pass


@pytest.fixture
def make_trial():
    """A frozen trial as the service writes it; keyword arguments override the defaults."""

    def make(number: int, state: str = "COMPLETE", value: float | None = 0.05, *, params=None, user_attrs=None,
             curve=None, start_s: float | None = 0.0, seconds: float = 10.0) -> FrozenTrial:
        params = {"learning_rate": 0.001 * (number + 1), "embedding_size": 64} if params is None else params
        dists = {k: (FloatDistribution(1e-5, 1.0) if isinstance(v, float) else CategoricalDistribution([v]))
                 for k, v in params.items()}
        base = dt.datetime(2025, 1, 6, 9, 0, 0)
        start = None if start_s is None else base + dt.timedelta(seconds=start_s)
        end = None if state == "RUNNING" or start is None else start + dt.timedelta(seconds=seconds)
        return FrozenTrial(
            number=number, trial_id=number, state=TrialState[state],
            value=value if state == "COMPLETE" else None, values=None,
            datetime_start=start, datetime_complete=end, params=params, distributions=dists,
            user_attrs=dict(user_attrs or {}), system_attrs={}, intermediate_values=dict(curve or {}),
        )

    return make


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; installed with apt-get when missing (the test machine runs as root)."""
    path = shutil.which("chromium")
    if path is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=True, capture_output=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, capture_output=True, env=env)
        path = shutil.which("chromium")
    assert path, "chromium is needed for the report's browser tests: apt-get install -y chromium"
    return path


@pytest.fixture
def browse(chromium, tmp_path):
    """Run headless Chromium on a local page, isolated from the network and from any profile."""

    def run(page: Path, *args: str) -> subprocess.CompletedProcess:
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=5000", *args, page.as_uri(),
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)

    return run
