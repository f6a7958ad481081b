"""Opening the job database for reading, with errors that name the (masked) URL and never the password."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import optuna

from tuner.config import suggest
from tuner.environment import mask_url, redact
from tuner.errors import JobError, StorageError


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDBStorage on ``url``; a missing SQLite file is an error here, not a new empty database."""
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        raise StorageError(f"{mask_url(url)}: no such database file {str(path)!r} (give --storage or set TUNER_STORAGE)")
    with storage_errors(url):
        return optuna.storages.RDBStorage(url, skip_table_creation=True)


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn driver and schema errors into :class:`StorageError` whose message hides the password."""
    import sqlalchemy.exc

    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError, ImportError, RuntimeError, ValueError) as e:
        while e.__cause__ is not None:  # Optuna wraps the driver's error, which says what went wrong
            e = e.__cause__
        text = str(e).strip()
        first_line = text.splitlines()[0] if text else type(e).__name__
        if "version_info" in first_line or "no such table" in first_line:
            raise StorageError(f"{mask_url(url)}: holds no jobs (no Optuna tables: submit a job first)") from None
        raise StorageError(redact(f"{mask_url(url)}: cannot read the job database ({first_line})", url)) from None


def study_id(storage: optuna.storages.RDBStorage, name: str, url: str) -> int:
    """The id of job ``name``; an unknown name is a :class:`JobError` naming the closest job."""
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        known = [s.study_name for s in storage.get_all_studies()]
        hint = suggest(name, known) or (f" (jobs there: {', '.join(sorted(known)[:10])})" if known else " (it holds no jobs)")
        raise JobError(f"no job named {name!r} in {mask_url(url)}{hint}") from None


def _sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///file`` URL; None for other databases and in-memory SQLite."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(f"{mask_url(url)}: not a database URL (expected e.g. sqlite:///tuner.db)") from None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)
