"""Fixtures for the service: job specs on disk, real SQLite files, real PostgreSQL databases (one per test,
on the shared server), a private PostgreSQL server a test may restart, and worker processes."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
import yaml

POSTGRES_URL = os.environ.get("TUNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the shared server, dropped afterwards (other engineers use that server too).
    A server that cannot be reached makes the test fail, never skip."""
    yield from _scratch_database(POSTGRES_URL)


def _scratch_database(server_url: str) -> Iterator[str]:
    """A new database on a PostgreSQL or MySQL/MariaDB server, dropped afterwards (connections and all)."""
    name = f"tuner_service_{uuid.uuid4().hex[:12]}"
    mysql = sa.engine.make_url(server_url).get_backend_name() in ("mysql", "mariadb")
    quoted, force = (f"`{name}`", "") if mysql else (f'"{name}"', " WITH (FORCE)")
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    try:
        yield sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}{force}")
        admin.dispose()


MYSQL_URL = os.environ.get("TUNER_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh database on the local MariaDB server (the MySQL storage), dropped afterwards; fails, never skips."""
    yield from _scratch_database(MYSQL_URL)


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of our own (initdb in a temp folder, a free port), so a test may restart it."""

    bindir: Path
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"),
             "-o", options, "-l", str(self.folder / "server.log"), "-w", *args],
            check=True, capture_output=True,
        )

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        self.pg_ctl("start")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    assert bindirs, "the restart test needs PostgreSQL's server binaries in /usr/lib/postgresql/*/bin"
    folder = Path(tempfile.mkdtemp(prefix="tuner-pg-"))
    shutil.chown(folder, "postgres")
    server = PrivatePostgres(Path(bindirs[-1]), folder, _free_port())
    subprocess.run(["runuser", "-u", "postgres", "--", str(server.bindir / "initdb"), "-D", str(folder / "data"),
                    "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def private_postgres_url(private_postgres: PrivatePostgres) -> Iterator[str]:
    """A scratch database on the private server."""
    yield from _scratch_database(private_postgres.url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a job spec (and its search space) into tmp_path; keyword arguments override spec keys."""

    def write(space: str = "learning_rate choice [0.01,0.005,0.001]\nnum_layers choice [1,2]\n", **keys) -> Path:
        (tmp_path / "space.hyper").write_text(space)
        spec = {
            "name": "job", "model": "GRU4RecF", "dataset": "synthetic-tiny", "search_space": "space.hyper",
            "params": {"epochs": 3}, "objective": "ndcg@10", "sampler": {"name": "grid", "seed": 0},
        }
        spec.update(keys)
        path = tmp_path / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return write


