"""Generated datasets with a planted sequential pattern, for tests and scale runs.

Every item has a fixed successor; a user's next item is its last item's successor with probability
``follow``, else a random item. A sequential model learns the successor table and beats popularity by
far, so a broken model, trainer or tuner shows up as a low metric. Generated tables go through the
same preprocessing as files do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.data.preprocess import Tables
from tuner.errors import DataError

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi")


@dataclass(frozen=True)
class SyntheticSpec:
    users: int = 200
    items: int = 100
    length: int = 30  # mean interactions per user (each user has length/2 .. 3*length/2)
    follow: float = 0.8  # probability that the next item is the planted successor
    seed: int = 0


PRESETS = {
    "synthetic-tiny": SyntheticSpec(users=60, items=40, length=12),
    "synthetic-small": SyntheticSpec(users=500, items=200, length=30),
}


def parse_name(name: str) -> SyntheticSpec | None:
    """``synthetic-tiny``, ``synthetic-small`` or ``synthetic:users=300,items=80,length=20,seed=1``."""
    if name in PRESETS:
        return PRESETS[name]
    if not name.startswith("synthetic:"):
        return None
    spec = SyntheticSpec()
    for part in filter(None, name.split(":", 1)[1].split(",")):
        key, _, value = part.partition("=")
        if key not in SyntheticSpec.__dataclass_fields__:
            raise DataError(f"dataset {name!r}: unknown setting {key!r}; expected users, items, length, follow, seed")
        try:
            spec = replace(spec, **{key: float(value) if key == "follow" else int(value)})
        except ValueError:
            raise DataError(f"dataset {name!r}: {key}={value!r} is not a number") from None
    if spec.users < 1 or spec.items < 2 or spec.length < 2 or not 0 <= spec.follow <= 1:
        raise DataError(f"dataset {name!r}: need users >= 1, items >= 2, length >= 2 and 0 <= follow <= 1")
    return spec


def generate(spec: SyntheticSpec) -> Tables:
    rng = np.random.default_rng(spec.seed)
    successor = rng.permutation(spec.items)
    lengths = rng.integers(max(2, spec.length // 2), spec.length * 3 // 2 + 1, size=spec.users)
    users, items = [], []
    for u, n in enumerate(lengths):
        seq = np.empty(n, dtype=np.int64)
        seq[0] = rng.integers(spec.items)
        jump = rng.random(n) >= spec.follow
        noise = rng.integers(spec.items, size=n)
        for i in range(1, n):
            seq[i] = noise[i] if jump[i] else successor[seq[i - 1]]
        users.append(np.full(n, u))
        items.append(seq)
    user = np.concatenate(users)
    item = np.concatenate(items)
    time = np.concatenate([1_000_000 + np.arange(n) * 60.0 + u * 7 for u, n in enumerate(lengths)])
    inter = pd.DataFrame({
        "user_id": pd.Series(user + 1).astype(str),
        "item_id": pd.Series(item + 1).astype(str),
        "rating": rng.integers(1, 6, size=len(user)).astype(np.float64),
        "timestamp": time,
    })
    genres = [[GENRES[j] for j in rng.choice(len(GENRES), size=1 + (i % 2), replace=False)] for i in range(spec.items)]
    item_frame = pd.DataFrame({"item_id": [str(i + 1) for i in range(spec.items)], "class": genres})
    types = {
        "inter": {"user_id": "token", "item_id": "token", "rating": "float", "timestamp": "float"},
        "item": {"item_id": "token", "class": "token_seq"},
    }
    where = Path(f"<synthetic users={spec.users} items={spec.items} seed={spec.seed}>")
    return Tables(inter, item_frame, None, types, {"inter": where, "item": where})
