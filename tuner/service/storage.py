"""Opening the job database: one Optuna ``RDBStorage`` per process, tuned for its backend.

- SQLite: WAL journal (readers never wait for the writer), a 60 s busy timeout, and every transaction
  opened with ``BEGIN IMMEDIATE``. Without that, Python's sqlite3 driver starts a transaction only at
  the first write, so Optuna's "read the state, then update it" (popping a waiting trial, failing a
  stale one) is not atomic across processes and two workers can take the same trial.
- PostgreSQL and MySQL/MariaDB: Optuna's own ``SELECT ... FOR UPDATE`` makes those steps atomic. Each
  process keeps a small pool (``POOL_SIZE + MAX_OVERFLOW`` connections: the trial loop and the
  heartbeat thread) and pings a connection before use, so a restarted server costs a retry, not a crash.

Every error leaving this module names the URL with its password masked.
"""

from __future__ import annotations

import contextlib
import sqlite3
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna

from tuner.environment import mask_url, redact
from tuner.errors import StorageError

SQLITE_BUSY_TIMEOUT_S = 60  # how long a SQLite writer waits for another process's transaction
CONNECT_TIMEOUT_S = 10  # a server that does not answer within this is "unreachable" (then retried)
POOL_SIZE = 2  # connections each process keeps open to a database server
MAX_OVERFLOW = 1  # extra connections it may open for a moment

# Drivers SQLAlchemy needs per URL scheme, and how to get them.
_DRIVER_HINTS = {
    "pymysql": "pip install 'seqrec-tuner[mysql]'",
    "MySQLdb": "pip install 'seqrec-tuner[mysql]' and use mysql+pymysql://",
    "psycopg": "pip install 'psycopg[binary]'",
    "psycopg2": "use postgresql+psycopg:// (psycopg 3 is installed with seqrec-tuner)",
}


def open_storage(
    url: str,
    *,
    must_exist: bool = False,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
) -> optuna.storages.RDBStorage:
    """An ``RDBStorage`` on ``url``, creating Optuna's tables if needed.

    ``must_exist``: a missing SQLite file is an error (for commands that only read).
    ``heartbeat_interval``/``grace_period`` (seconds): enable Optuna's trial heartbeats (workers only).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(f"{mask_url(url)}: not a database URL (expected e.g. sqlite:///tuner.db)") from None
    backend = parsed.get_backend_name()
    engine_kwargs: dict[str, Any]
    if backend == "sqlite":
        _prepare_sqlite_file(url, parsed.database, must_exist)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    elif backend == "postgresql":
        engine_kwargs = _server_pool({"connect_timeout": CONNECT_TIMEOUT_S})
    elif backend in ("mysql", "mariadb"):
        engine_kwargs = _server_pool({"connect_timeout": CONNECT_TIMEOUT_S})
    else:
        engine_kwargs = {}
    with storage_errors(url), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval is "experimental"
        storage = optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
        )
    if backend == "sqlite":
        _serialize_sqlite_transactions(storage.engine)
    return storage


def set_trial_user_attrs(storage: optuna.storages.RDBStorage, trial_id: int, attrs: Mapping[str, Any]) -> None:
    """Several trial user attributes in one transaction and one statement (Optuna's public API commits
    each on its own, which on PostgreSQL costs a WAL flush per attribute). Raises
    ``UpdateFinishedTrialError`` like ``set_trial_user_attr`` when the trial is finished."""
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(storage.scoped_session, True) as session:
        _write_user_attrs(storage, session, _updatable_trial(storage, session, trial_id), attrs)


def finish_trial(
    storage: optuna.storages.RDBStorage, trial_id: int, state: optuna.trial.TrialState, value: float | None,
    attrs: Mapping[str, Any],
) -> None:
    """A trial's attributes, value and final state in one transaction, as ``study.tell(trial, value, state)``
    records them (a PRUNED trial takes its last reported value if finite). Raises
    ``UpdateFinishedTrialError`` when the trial is finished already (by a reaper), writing nothing.
    Unlike ``tell`` it does not call the sampler's ``after_trial``: the random and TPE samplers do nothing there."""
    import datetime as dt
    import math

    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(storage.scoped_session) as session:
        trial = _updatable_trial(storage, session, trial_id)
        _write_user_attrs(storage, session, trial, attrs)
        if state == optuna.trial.TrialState.PRUNED and value is None and trial.intermediate_values:
            last = max(trial.intermediate_values, key=lambda v: v.step)
            reported = models.TrialIntermediateValueModel.stored_repr_to_intermediate_value(
                last.intermediate_value, last.intermediate_value_type)
            value = reported if not math.isnan(reported) else None
        if value is not None:
            storage._set_trial_value_without_commit(session, trial, 0, float(value))
        trial.state = state
        trial.datetime_complete = dt.datetime.now()


def _updatable_trial(storage: optuna.storages.RDBStorage, session: Any, trial_id: int) -> Any:
    """The trial's row, locked until the transaction ends; ``UpdateFinishedTrialError`` if it is finished."""
    from optuna.storages._rdb import models

    trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
    storage.check_trial_is_updatable(trial_id, trial.state)
    return trial


def _write_user_attrs(storage: optuna.storages.RDBStorage, session: Any, trial: Any, attrs: Mapping[str, Any]) -> None:
    """Insert or replace user attributes in one statement where the backend has an upsert."""
    import json

    from optuna.storages._rdb import models

    if not attrs:
        return
    table = models.TrialUserAttributeModel.__table__
    rows = [{"trial_id": trial.trial_id, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
    name = storage.engine.name
    if name in ("postgresql", "sqlite"):
        from sqlalchemy.dialects import postgresql, sqlite

        insert = (postgresql if name == "postgresql" else sqlite).insert(table).values(rows)
        session.execute(insert.on_conflict_do_update(index_elements=[table.c.trial_id, table.c.key],
                                                     set_={"value_json": insert.excluded.value_json}))
    elif name == "mysql":
        from sqlalchemy.dialects import mysql

        insert = mysql.insert(table).values(rows)
        session.execute(insert.on_duplicate_key_update(value_json=insert.inserted.value_json))
    else:
        for key, value in attrs.items():
            storage._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, trial.trial_id, key, value)


def ensure_side_table(engine: Any, table: Any) -> None:
    """Create one of the tool's tables beside Optuna's if missing; another process creating it at the
    same moment is fine."""
    import sqlalchemy as sa

    try:
        table.metadata.create_all(engine, tables=[table], checkfirst=True)
    except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError):
        if not sa.inspect(engine).has_table(table.name):
            raise


def _server_pool(connect_args: dict[str, Any]) -> dict[str, Any]:
    return {
        "pool_size": POOL_SIZE,
        "max_overflow": MAX_OVERFLOW,
        "pool_pre_ping": True,  # a connection the server dropped (restart) is replaced, not used
        "connect_args": connect_args,
    }


def _prepare_sqlite_file(url: str, database: str | None, must_exist: bool) -> None:
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return
    path = Path(database)
    if must_exist and not path.exists():
        raise StorageError(f"{mask_url(url)}: no such database file {str(path)!r} (give --storage or set TUNER_STORAGE)")
    if not path.parent.exists():
        raise StorageError(f"{mask_url(url)}: the folder {str(path.parent)!r} does not exist")
    # WAL is a property of the file: set once, every later connection (any process) uses it.
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as e:
        raise StorageError(f"{mask_url(url)}: cannot open the SQLite file ({e})") from None


def _serialize_sqlite_transactions(engine: Any) -> None:
    """Open every transaction with BEGIN IMMEDIATE (SQLAlchemy's documented pysqlite recipe)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver issues no BEGIN of its own
        # With WAL, NORMAL syncs at checkpoints, not every commit: safe against a crashed process,
        # may lose the last commits on power loss; a tuning database can afford that.
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while Optuna created its tables predate the listeners


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn driver, connection and schema errors into :class:`StorageError` with the password masked."""
    import sqlalchemy.exc

    try:
        yield
    except ModuleNotFoundError as e:
        hint = _DRIVER_HINTS.get(e.name or "", "install the database driver the URL names")
        raise StorageError(f"{mask_url(url)}: the driver {e.name!r} is not installed ({hint})") from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError, RuntimeError, ValueError) as e:
        raise StorageError(redact(f"{mask_url(url)}: {describe(e)}", url)) from None


def describe(error: BaseException) -> str:
    """The first line of the innermost cause: the driver's own words ("connection refused")."""
    while error.__cause__ is not None:  # Optuna wraps the driver's error, which says what went wrong
        error = error.__cause__
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def is_transient(error: BaseException) -> bool:
    """True for a lost or refused connection, a server shutting down or a SQLite lock: worth a retry."""
    import sqlalchemy.exc

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, sqlalchemy.exc.TimeoutError):  # the pool waited too long for a connection
            return True
        seen = seen.__cause__ or seen.__context__
    return False
