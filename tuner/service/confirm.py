"""The confirmation stage: after the search, the best configurations run again with new seeds.

A round (``confirm_round`` 0 from the spec's ``confirm``, 1, 2, ... from ``tuner confirm``) queues
``top`` distinct configurations x ``seeds`` new seeds as ordinary WAITING trials (``role`` "replicate"),
which any worker on any host then takes, as it takes search trials. Each round is one row of a table
beside Optuna's (``tuner_confirm_rounds``), keyed by (study, round), so the round exists once however many
workers race to start it. Queueing it takes a lease on that row (one UPDATE that succeeds for one caller);
the holder writes the round's plan (which configurations, which seeds) into the row, creates the trials the
plan names that do not exist yet, and marks the row done. A holder that dies mid-way leaves the row not
done: once its lease is older than ``LEASE_S``, the next caller takes it over and creates only what is
missing, from the same plan. The holder renews the lease before each trial, so only a holder stalled for
longer than ``LEASE_S`` between two trials could overlap a successor.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.config import TRAIN_DEFAULTS
from tuner.environment import storage_url
from tuner.errors import JobError
from tuner.service.jobs import Job, load_jobs
from tuner.service.spec import check_confirm
from tuner.service.storage import ensure_side_table, open_storage, storage_errors

TABLE = "tuner_confirm_rounds"
LEASE_S = 120  # a holder silent for this long is presumed dead and its round is taken over
SPEC_ROUND = 0  # the round the spec's ``confirm`` asks for

_metadata = sa.MetaData()
rounds_table = sa.Table(
    TABLE,
    _metadata,
    sa.Column("study_id", sa.Integer, primary_key=True),  # Optuna's study id
    sa.Column("round_no", sa.Integer, primary_key=True),
    sa.Column("top", sa.Integer, nullable=False),
    sa.Column("seeds", sa.Integer, nullable=False),
    sa.Column("plan", sa.Text, nullable=True),  # JSON [{"number": first run, "seeds": [...]}, ...], written once
    sa.Column("holder", sa.String(255), nullable=True),  # who holds the lease ("host:pid:slot")
    sa.Column("claimed_at", sa.DateTime, nullable=True),  # when it took or last renewed it (server clock)
    sa.Column("done", sa.Boolean, nullable=False),
)


@dataclass(frozen=True)
class Round:
    number: int
    top: int
    seeds: int
    done: bool


def ensure_table(engine: sa.Engine) -> None:
    ensure_side_table(engine, rounds_table)


def search_finished(trials: Sequence[FrozenTrial]) -> bool:
    """The ``n_trials`` budget is all finished: no search trial waiting or running."""
    return not any(t.state in (TrialState.WAITING, TrialState.RUNNING) and t.user_attrs.get(records.ROLE) != records.REPLICATE
                   for t in trials)


def rounds(engine: sa.Engine, study_id: int) -> list[Round]:
    if not sa.inspect(engine).has_table(TABLE):
        return []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(rounds_table).where(rounds_table.c.study_id == study_id)
                            .order_by(rounds_table.c.round_no)).mappings().all()
    return [Round(r["round_no"], r["top"], r["seeds"], bool(r["done"])) for r in rows]


def outstanding(job: Job, known: Sequence[Round]) -> bool:
    """A round the job still needs queued: the spec's, not yet done (or not yet started), or any other not done."""
    spec_round = job.spec.confirm is not None and not any(r.number == SPEC_ROUND and r.done for r in known)
    return spec_round or any(not r.done for r in known)


def add_round(engine: sa.Engine, study_id: int, top: int, seeds: int, number: int | None = None) -> int:
    """Create round ``number`` (None: the next free one); an existing round of that number is kept as is."""
    while True:
        with engine.begin() as conn:
            if number is None:
                last = conn.execute(sa.select(sa.func.max(rounds_table.c.round_no))
                                    .where(rounds_table.c.study_id == study_id)).scalar()
                chosen = SPEC_ROUND + 1 if last is None else max(last, SPEC_ROUND) + 1
            else:
                chosen = number
            try:
                conn.execute(sa.insert(rounds_table).values(study_id=study_id, round_no=chosen, top=top, seeds=seeds, done=False))
            except sa.exc.IntegrityError:
                if number is not None:
                    return chosen  # someone else made it: one round, whoever wrote it
                continue  # another `tuner confirm` took that number: take the next
        return chosen


def serve(storage: optuna.storages.RDBStorage, job: Job, holder: str) -> tuple[int, bool]:
    """Queue every round of the job that is not done and whose lease this caller gets.

    Returns (trials queued, whether a round is still left to someone else's lease)."""
    queued, held_elsewhere = 0, False
    for item in rounds(storage.engine, job.study_id):
        if item.done:
            continue
        if not _lease(storage.engine, job.study_id, item.number, holder, renew=False):
            held_elsewhere = True
            continue
        made = _queue_round(storage, job, item, holder)
        if made is None:
            held_elsewhere = True
        else:
            queued += made
    return queued, held_elsewhere


def _queue_round(storage: optuna.storages.RDBStorage, job: Job, item: Round, holder: str) -> int | None:
    """Create what the round's plan names and does not exist yet; None if the lease was lost meanwhile."""
    trials = storage.get_all_trials(job.study_id, deepcopy=False)
    plan = _read_plan(storage.engine, job.study_id, item.number)
    if plan is None:
        plan = plan_round(job, trials, item.top, item.seeds, item.number)
        plan = _write_plan(storage.engine, job.study_id, item.number, holder, plan)
        if plan is None:
            return None
    by_number = {t.number: t for t in trials}
    existing = {(t.user_attrs.get(records.CONFIG_ID), t.user_attrs.get(records.SEED)) for t in trials
                if t.user_attrs.get(records.CONFIRM_ROUND) == item.number}
    made = 0
    for entry in plan:
        source = by_number[entry["number"]]
        cid = records.config_id(source.params)
        for seed in entry["seeds"]:
            if (cid, seed) in existing:
                continue
            if not _lease(storage.engine, job.study_id, item.number, holder, renew=True):
                return None
            storage.create_new_trial(job.study_id, template_trial=replicate_template(source, seed, item.number))
            made += 1
    with storage.engine.begin() as conn:
        done = conn.execute(sa.update(rounds_table).where(*_key(job.study_id, item.number), rounds_table.c.holder == holder)
                            .values(done=True))
    return made if done.rowcount == 1 else None


@dataclass(frozen=True)
class Confirmation:
    """What ``tuner confirm`` queued."""

    job: str
    round: int
    queued: int  # new WAITING replicate trials
    plan: list[dict[str, Any]]  # [{"number": first run of the configuration, "seeds": [...]}, ...]


def confirm_job(name: str, storage: str | None = None, *, top: int | None = None, seeds: int | None = None) -> Confirmation:
    """Queue a new round of replicates for a job whose search is finished: its ``top`` best configurations
    (by mean validation objective) with ``seeds`` new seeds each. Defaults: the spec's ``confirm``, else 3 x 2.
    Nothing is written when a value is bad or the job has no completed trial."""
    url = storage_url(storage)
    optuna_storage = open_storage(url, must_exist=True)
    try:
        with storage_errors(url):
            (job,) = load_jobs(optuna_storage, [name])
            given = job.spec.confirm or {"top": 3, "seeds": 2}
            top = given["top"] if top is None else top
            seeds = given["seeds"] if seeds is None else seeds
            check_confirm(top, seeds, lambda key, message: JobError(f"confirm --{key} {message}"))
            if top == 0:
                raise JobError("confirm --top 0: nothing to confirm; expected a whole number >= 1")
            trials = optuna_storage.get_all_trials(job.study_id, deepcopy=False)
            if not any(t.state == TrialState.COMPLETE for t in trials):
                raise JobError(f"confirm: job {name!r} has no completed trial yet: nothing to replicate "
                               "(run its search first: tuner worker --job NAME --until-done)")
            if not search_finished(trials):
                raise JobError(f"confirm: job {name!r} is still searching (trials waiting or running); "
                               "confirm it when the search is finished")
            ensure_table(optuna_storage.engine)
            number = add_round(optuna_storage.engine, job.study_id, top, seeds)
            holder = f"{socket.gethostname()}:{os.getpid()}:confirm"
            if not _lease(optuna_storage.engine, job.study_id, number, holder, renew=False):
                raise JobError(f"confirm: round {number} of job {name!r} was taken by another process")
            item = Round(number, top, seeds, done=False)
            queued = _queue_round(optuna_storage, job, item, holder)
            plan = _read_plan(optuna_storage.engine, job.study_id, number) or []
    finally:
        optuna_storage.engine.dispose()
    return Confirmation(job=name, round=number, queued=queued or 0, plan=plan)


def replicate_template(source: FrozenTrial, seed: int, round_no: int) -> FrozenTrial:
    """A WAITING trial with ``source``'s parameters; only the seed differs."""
    return optuna.trial.create_trial(
        state=TrialState.WAITING, params=source.params, distributions=source.distributions,
        user_attrs={records.ROLE: records.REPLICATE, records.CONFIG_ID: records.config_id(source.params),
                    records.SEED: int(seed), records.CONFIRM_ROUND: int(round_no)},
    )


def plan_round(job: Job, trials: Sequence[FrozenTrial], top: int, seeds: int, round_no: int) -> list[dict[str, Any]]:
    """The ``top`` best configurations by their mean validation objective over complete runs (ties: the
    earlier first run), each with ``seeds`` seeds not yet used by that configuration: the job's seed + 1, + 2, ..."""
    runs: dict[str, list[FrozenTrial]] = {}
    used: dict[str, set[int]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.user_attrs.get(records.CONFIRM_ROUND) == round_no:
            continue  # this round's own trials (a holder taking over) do not change its plan
        cid = records.config_id(t.params)
        if records.SEED in t.user_attrs:
            used.setdefault(cid, set()).add(int(t.user_attrs[records.SEED]))
        if t.state == TrialState.COMPLETE and t.value is not None:
            runs.setdefault(cid, []).append(t)
    ranked = sorted(runs.values(), key=lambda ts: (-mean(t.value for t in ts), ts[0].number))[:top]
    base = int(job.spec.params.get("seed", TRAIN_DEFAULTS["seed"]))
    plan = []
    for group in ranked:
        taken = used.get(records.config_id(group[0].params), set())
        fresh, candidate = [], base
        while len(fresh) < seeds:
            candidate += 1
            if candidate not in taken:
                fresh.append(candidate)
        plan.append({"number": group[0].number, "seeds": fresh})
    return plan


def _key(study_id: int, round_no: int) -> tuple[Any, Any]:
    return rounds_table.c.study_id == study_id, rounds_table.c.round_no == round_no


def _lease(engine: sa.Engine, study_id: int, round_no: int, holder: str, *, renew: bool) -> bool:
    """Take (or renew) the round's lease: one UPDATE, so of racing callers exactly one gets it."""
    with engine.begin() as conn:
        now = conn.execute(sa.select(sa.func.now())).scalar_one()
        if isinstance(now, str):  # SQLite's CURRENT_TIMESTAMP
            now = dt.datetime.fromisoformat(now)
        cutoff = now.replace(tzinfo=None) - dt.timedelta(seconds=LEASE_S)
        free = sa.or_(rounds_table.c.holder.is_(None), rounds_table.c.holder == holder, rounds_table.c.claimed_at < cutoff)
        mine = rounds_table.c.holder == holder if renew else free
        taken = conn.execute(sa.update(rounds_table).where(*_key(study_id, round_no), sa.not_(rounds_table.c.done), mine)
                             .values(holder=holder, claimed_at=sa.func.now()))
    return taken.rowcount == 1


def _read_plan(engine: sa.Engine, study_id: int, round_no: int) -> list[dict[str, Any]] | None:
    with engine.connect() as conn:
        text = conn.execute(sa.select(rounds_table.c.plan).where(*_key(study_id, round_no))).scalar()
    return json.loads(text) if text else None


def _write_plan(engine: sa.Engine, study_id: int, round_no: int, holder: str, plan: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Store the plan once (a successor reads it back rather than planning again); None if the lease is gone."""
    with engine.begin() as conn:
        written = conn.execute(sa.update(rounds_table).where(*_key(study_id, round_no), rounds_table.c.holder == holder,
                                                             rounds_table.c.plan.is_(None)).values(plan=json.dumps(plan)))
    if written.rowcount == 1:
        return plan
    return _read_plan(engine, study_id, round_no) if _lease(engine, study_id, round_no, holder, renew=True) else None
