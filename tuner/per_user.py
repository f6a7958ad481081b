"""Per-user evaluation results of a trial: the target's rank for every user of the validation and test split.

One row per (trial, split) in a table beside Optuna's (``tuner_user_ranks``); the service writes it when a
worker records a trial's result, the report reads it to compare configurations user by user.

What is stored is the one number every recorded metric is a function of (see
:mod:`tuner.training.metrics`): the target's 1-based position in ``torch.topk(scores, max(topk))``, 0 when
it is not there. Entries are in the split's row order (one row per user in the leave-one-out split), which
is the same for every trial of a job, so arrays of two trials line up user by user. The array is packed as
uint8 (uint16 when ``max(topk)`` exceeds 255) and zlib-compressed in a binary column (LONGBLOB on MySQL,
BYTEA on PostgreSQL, BLOB on SQLite): 100k users cost at most 100 kB per split before compression.

Why not a JSON trial attribute: Optuna keeps attributes in TEXT columns, 64 KiB on MySQL, and every
``get_all_trials`` would carry them; why not Optuna artifacts: their stores are files on one host (or an
object store to configure), not the database every worker and report already reaches.

Bottom layer: imports numpy and sqlalchemy only.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

TABLE = "tuner_user_ranks"
SPLITS = ("valid", "test")
_CHUNK = 500  # trial ids per SELECT ... IN (...): below every backend's limit on bound parameters

_metadata = sa.MetaData()
ranks_table = sa.Table(
    TABLE,
    _metadata,
    sa.Column("trial_id", sa.Integer, primary_key=True),  # Optuna's trial_id (unique across studies)
    sa.Column("split", sa.String(16), primary_key=True),  # "valid" or "test"
    sa.Column("dtype", sa.String(8), nullable=False),  # "uint8" or "uint16": how ``ranks`` is packed
    sa.Column("n_users", sa.Integer, nullable=False),  # entries in the array
    # MySQL's BLOB stops at 64 KiB; LONGBLOB holds any dataset.
    sa.Column("ranks", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"), nullable=False),
)

_METRIC = re.compile(r"^(recall|hit|precision|ndcg|mrr)@([1-9][0-9]*)$")


def ensure_table(engine: sa.Engine) -> None:
    """Create the table if missing; another process creating it at the same moment is fine."""
    try:
        _metadata.create_all(engine, checkfirst=True)
    except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError):
        if not sa.inspect(engine).has_table(TABLE):
            raise


def save_ranks(engine: sa.Engine, trial_id: int, ranks: Mapping[str, np.ndarray]) -> None:
    """Store ``{"valid": ranks, "test": ranks}`` of one trial, replacing what it had (a retried write may
    find its first attempt committed). One transaction for all splits."""
    rows = []
    for split, values in ranks.items():
        if split not in SPLITS:
            raise ValueError(f"per-user ranks: split {split!r}; expected one of {', '.join(SPLITS)}")
        dtype, packed = _pack(np.asarray(values), split)
        rows.append({"trial_id": int(trial_id), "split": split, "dtype": dtype, "n_users": len(values), "ranks": packed})
    if not rows:
        return
    with engine.begin() as conn:
        conn.execute(sa.delete(ranks_table).where(ranks_table.c.trial_id == int(trial_id)))
        conn.execute(sa.insert(ranks_table), rows)


def load_ranks(engine: sa.Engine, trial_ids: Iterable[int]) -> dict[int, dict[str, np.ndarray]]:
    """``{trial_id: {"valid": ranks, "test": ranks}}``; trials without stored ranks are absent."""
    ids = sorted({int(t) for t in trial_ids})
    out: dict[int, dict[str, np.ndarray]] = {}
    if not ids or not sa.inspect(engine).has_table(TABLE):
        return out
    with engine.connect() as conn:
        for start in range(0, len(ids), _CHUNK):
            query = sa.select(ranks_table).where(ranks_table.c.trial_id.in_(ids[start:start + _CHUNK]))
            for row in conn.execute(query).mappings():
                values = np.frombuffer(zlib.decompress(row["ranks"]), dtype=np.dtype(row["dtype"]))
                if len(values) != row["n_users"]:
                    raise ValueError(f"{TABLE}: trial {row['trial_id']} {row['split']}: {len(values)} entries, "
                                     f"the row says {row['n_users']}")
                out.setdefault(row["trial_id"], {})[row["split"]] = values
    return out


def per_user_values(ranks: np.ndarray, metric: str) -> np.ndarray:
    """One float64 per user: ``"ndcg@10"`` (recall, hit, precision, ndcg, mrr @K) from the stored ranks,
    as :mod:`tuner.training.metrics` computes them. Exact for K up to the run's ``max(topk)``."""
    match = _METRIC.match(str(metric).strip().lower())
    if not match:
        raise ValueError(f"per-user metric {metric!r}: expected METRIC@K with METRIC one of recall, hit, "
                         "precision, ndcg, mrr (e.g. ndcg@10)")
    name, k = match.group(1), int(match.group(2))
    rank = np.asarray(ranks).astype(np.float64)
    hit = ((rank >= 1) & (rank <= k)).astype(np.float64)
    safe = np.maximum(rank, 1.0)
    if name in ("recall", "hit"):
        return hit
    if name == "precision":
        return hit / k
    if name == "ndcg":
        return hit / np.log2(safe + 1.0)
    return hit / safe  # mrr


def _pack(values: np.ndarray, split: str) -> tuple[str, bytes]:
    if values.ndim != 1:
        raise ValueError(f"per-user ranks ({split}): expected one rank per user (1-D), got shape {values.shape}")
    if values.size and (values.min() < 0 or values.max() > np.iinfo(np.uint16).max):
        raise ValueError(f"per-user ranks ({split}): expected ranks in 0..65535, got {values.min()}..{values.max()}")
    dtype = np.uint8 if not values.size or values.max() <= np.iinfo(np.uint8).max else np.uint16
    return np.dtype(dtype).name, zlib.compress(values.astype(dtype).tobytes(), 6)
