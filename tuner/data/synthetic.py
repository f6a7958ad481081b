"""Generated datasets with a planted sequential pattern, by name.

``synthetic-tiny``, ``synthetic-small``, or ``synthetic:users=200,items=100,length=30,noise=0.2,seed=0``
(a preset may take overrides too: ``synthetic-small:seed=3``). The items form one hidden cycle;
each user starts anywhere and mostly steps to the current item's successor, jumping to a random item
with probability ``noise``. A model that reads the last item predicts the next one far better than
popularity does, so a few epochs show learning. Each item has a ``class`` feature (token_seq): its
stretch of the cycle, sometimes with a random second class, for GRU4RecF.

The generator emits atomic-like tables (token columns as text, a float timestamp, rows shuffled), which
then go through the same preprocessing, remapping and split as files do. Same spec, same data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from tuner.config import suggest
from tuner.data.atomic import AtomicTables, Table
from tuner.errors import ConfigError

PREFIX = "synthetic"


@dataclass(frozen=True)
class SyntheticSpec:
    """What a synthetic dataset is generated from."""

    users: int = 500  # number of users
    items: int = 200  # number of items (the length of the hidden cycle)
    length: int = 30  # mean interactions per user (each has between length/2 and 3*length/2, at least 3)
    noise: float = 0.2  # probability of a random jump instead of the successor
    seed: int = 0  # numpy seed: the same spec gives the same data

    @property
    def name(self) -> str:
        return PREFIX + ":" + ",".join(f"{k}={v}" for k, v in asdict(self).items())


PRESETS = {
    "synthetic-tiny": SyntheticSpec(users=60, items=40, length=12),
    "synthetic-small": SyntheticSpec(),
    PREFIX: SyntheticSpec(),
}


def is_synthetic(name: str) -> bool:
    return name.partition(":")[0] in PRESETS


def parse_spec(name: str) -> SyntheticSpec:
    preset, _, overrides = name.partition(":")
    base = asdict(PRESETS[preset])
    types = {f.name: f.type for f in fields(SyntheticSpec)}
    for item in filter(None, (part.strip() for part in overrides.split(","))):
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or key not in base:
            raise ConfigError(
                f"{name}: expected KEY=VALUE with KEY one of {', '.join(base)}, got {item!r}{suggest(key, base)}"
            )
        try:
            base[key] = float(text) if types[key] == "float" else int(text)
        except ValueError:
            raise ConfigError(f"{name}: {key} expects {'a number' if types[key] == 'float' else 'an integer'}, got {text!r}") from None
    spec = SyntheticSpec(**base)
    if spec.users < 1 or spec.items < 2 or spec.length < 3 or not 0 <= spec.noise <= 1:
        raise ConfigError(f"{name}: expected users >= 1, items >= 2, length >= 3 and 0 <= noise <= 1")
    return spec


def generate(spec: SyntheticSpec) -> AtomicTables:
    rng = np.random.default_rng(spec.seed)
    cycle = rng.permutation(spec.items)
    successor = np.empty(spec.items, dtype=np.int64)
    successor[cycle] = np.roll(cycle, -1)

    shortest = max(3, spec.length // 2)
    lengths = rng.integers(shortest, max(shortest, spec.length * 3 // 2) + 1, size=spec.users)
    steps = int(lengths.max())
    walk = np.empty((spec.users, steps), dtype=np.int64)  # (U, T) item indices
    walk[:, 0] = rng.integers(spec.items, size=spec.users)
    jump = rng.random((spec.users, steps)) < spec.noise
    anywhere = rng.integers(spec.items, size=(spec.users, steps))
    for t in range(1, steps):
        walk[:, t] = np.where(jump[:, t], anywhere[:, t], successor[walk[:, t - 1]])
    start = 1_000_000_000 + rng.integers(0, 10_000_000, size=spec.users)
    times = start[:, None] + np.cumsum(rng.integers(60, 3600, size=(spec.users, steps)), axis=1)  # (U, T)
    ratings = rng.integers(1, 6, size=(spec.users, steps)).astype(np.float64)

    used = np.arange(steps)[None, :] < lengths[:, None]  # (U, T)
    shuffle = rng.permutation(int(used.sum()))  # files are rarely sorted; the pipeline must order them
    user_tokens = np.array([str(u + 1) for u in range(spec.users)], dtype=object)
    item_tokens = np.array([str(i + 1) for i in range(spec.items)], dtype=object)
    user_index = np.broadcast_to(np.arange(spec.users)[:, None], used.shape)[used][shuffle]
    inter = pd.DataFrame(
        {
            # object columns, as the atomic reader makes them (pandas would pick its arrow strings)
            "user_id": pd.Series(user_tokens[user_index], dtype=object),
            "item_id": pd.Series(item_tokens[walk[used][shuffle]], dtype=object),
            "rating": ratings[used][shuffle],
            "timestamp": times[used][shuffle].astype(np.float64),
        }
    )
    source = f"<{spec.name}>"
    inter_types = {"user_id": "token", "item_id": "token", "rating": "float", "timestamp": "float"}
    item = pd.DataFrame(
        {"item_id": pd.Series(item_tokens, dtype=object), "class": pd.Series(_classes(rng, cycle, spec.items), dtype=object)}
    )
    return AtomicTables(
        inter=Table(source=source + ".inter", frame=inter, types=inter_types),
        item=Table(source=source + ".item", frame=item, types={"item_id": "token", "class": "token_seq"}),
        user=None,
    )


def _classes(rng: np.random.Generator, cycle: np.ndarray, n_items: int) -> np.ndarray:
    """Each item's class: its stretch of the cycle, plus a random second class for about a third of them."""
    n_classes = max(2, min(18, n_items // 10))
    position = np.empty(n_items, dtype=np.int64)
    position[cycle] = np.arange(n_items)
    own = position * n_classes // n_items
    other = rng.integers(n_classes, size=n_items)
    second = (rng.random(n_items) < 0.3) & (other != own)
    return np.array(
        [f"c{a} c{b}" if extra else f"c{a}" for a, b, extra in zip(own, other, second)],
        dtype=object,
    )
