"""Which workers are alive: one row per worker slot in a small table beside Optuna's (``tuner_workers``).

Each slot's heartbeat thread updates its row every heartbeat interval; ``tuner status`` lists the rows
seen lately. Times are the database server's clock (``now()``), so hosts with skewed clocks agree.
Optuna's own tables are untouched; Optuna's tools ignore this one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from tuner.service.storage import ensure_side_table

TABLE = "tuner_workers"
LOST_AFTER_BEATS = 3  # a slot that missed this many heartbeats (and did not say it stopped) is "lost"
FORGET_AFTER = dt.timedelta(days=7)  # rows older than this are deleted when a worker starts

_metadata = sa.MetaData()
workers_table = sa.Table(
    TABLE,
    _metadata,
    sa.Column("worker", sa.String(255), primary_key=True),  # "host:pid:slot"
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("slot", sa.Integer, nullable=False),  # slot index within its worker process
    sa.Column("device", sa.String(64), nullable=False),  # "cpu", "cuda:0"
    sa.Column("state", sa.String(16), nullable=False),  # "idle", "running" or "stopped"
    sa.Column("job", sa.String(512)),  # the job of the trial it runs, if any
    sa.Column("trial", sa.Integer),  # that trial's number
    sa.Column("trials_done", sa.Integer, nullable=False),  # trials it has finished since it started
    sa.Column("heartbeat_interval", sa.Integer, nullable=False),  # seconds between its beats
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class WorkerStatus:
    """One worker slot as ``tuner status`` shows it."""

    worker: str  # "host:pid:slot"
    host: str
    pid: int
    slot: int
    device: str
    state: str  # "idle", "running", "stopped", or "lost" (no heartbeat for LOST_AFTER_BEATS intervals)
    job: str | None  # the job it runs a trial of
    trial: int | None  # that trial's number
    trials_done: int
    seconds_since_seen: float  # by the database's clock
    started_at: dt.datetime


def ensure_table(engine: sa.Engine) -> None:
    """Create the table if missing; another process creating it at the same moment is fine."""
    ensure_side_table(engine, workers_table)


def beat(
    conn: sa.Connection,
    worker: str,
    *,
    host: str,
    pid: int,
    slot: int,
    device: str,
    state: str,
    job: str | None,
    trial: int | None,
    trials_done: int,
    heartbeat_interval: int,
) -> None:
    """Insert or update this slot's row with the server's current time (only this slot writes it), inside
    the caller's transaction on ``conn`` (the heartbeat's, see pulse.py)."""
    values = dict(state=state, job=job, trial=trial, trials_done=trials_done, last_seen=sa.func.now())
    updated = conn.execute(sa.update(workers_table).where(workers_table.c.worker == worker).values(**values))
    if updated.rowcount == 0:
        conn.execute(
            sa.insert(workers_table).values(
                worker=worker, host=host, pid=pid, slot=slot, device=device,
                heartbeat_interval=heartbeat_interval, started_at=sa.func.now(), **values,
            )
        )


def forget_old(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        now = conn.execute(sa.select(sa.func.now())).scalar_one()
        cutoff = naive(now) - FORGET_AFTER
        conn.execute(sa.delete(workers_table).where(workers_table.c.last_seen < cutoff))


def seen_workers(engine: sa.Engine, within: dt.timedelta = dt.timedelta(minutes=10)) -> list[WorkerStatus]:
    """Slots seen within ``within`` (stopped ones too), or still claiming to run, newest first."""
    if not sa.inspect(engine).has_table(TABLE):
        return []
    with engine.connect() as conn:
        now = naive(conn.execute(sa.select(sa.func.now())).scalar_one())
        rows = conn.execute(sa.select(workers_table).order_by(workers_table.c.last_seen.desc())).mappings().all()
    out = []
    for row in rows:
        age = (now - naive(row["last_seen"])).total_seconds()
        state = row["state"]
        if state != "stopped" and age > LOST_AFTER_BEATS * row["heartbeat_interval"]:
            state = "lost"
        if age > within.total_seconds() and state in ("stopped", "lost"):
            continue
        out.append(
            WorkerStatus(
                worker=row["worker"], host=row["host"], pid=row["pid"], slot=row["slot"], device=row["device"],
                state=state, job=row["job"] if state in ("running", "lost") else None,
                trial=row["trial"] if state in ("running", "lost") else None, trials_done=row["trials_done"],
                seconds_since_seen=max(0.0, age), started_at=naive(row["started_at"]),
            )
        )
    return out


def naive(value: dt.datetime | str) -> dt.datetime:
    """PostgreSQL's now() is time-zone aware and SQLite's a string: compare them as naive server times."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=None)
