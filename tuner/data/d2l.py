"""The D2L tutorial's data for its Caser ("seq-aware" split, sliding windows), vectorised.

As the tutorial's ``split_data_ml100k(..., 'seq-aware')`` and ``SeqDataset`` do:
* no filtering; ids are 0-based, numbered in the tokens' sorted order (numeric when every token is
  an integer), so ml-100k's raw ids minus one, as D2L's ``user_id - 1``;
* each user's latest interaction by timestamp (the first in file order among equal timestamps) is
  the test item. The rest, ordered by time (ties in file order), is the training sequence; with
  ``holdout="valid_and_test"`` its last item validates (the tutorial has no validation; tuning needs
  one), so test rows (history, target) stay the tutorial's;
* training examples are windows of L + 1 consecutive training items (the last is the target), each
  user's latest first, users in id order: a user with n training items gives n - L windows;
* an evaluation row per user: the L items before the held-out one, the target, and the items that are
  not candidates (those the user interacted with before it);
* negatives are drawn from items that are none of the user's interactions (training or held out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view

from tuner.config import DATA_DEFAULTS
from tuner.data import cache, sources
from tuner.data.options import resolve_options
from tuner.errors import ConfigError, DataError

HOLDOUTS = ("test", "valid_and_test")
# Preprocessing options the tutorial's data has no equivalent of: set, they would be silently ignored.
_FILTERS = ("val_interval", "user_inter_num_interval", "item_inter_num_interval", "rm_dup_inter")


@dataclass(frozen=True)
class Windows:
    """Training examples: (user, L history items, target)."""

    user: torch.Tensor  # (N,) long
    item_seq: torch.Tensor  # (N, L) long, oldest first
    target: torch.Tensor  # (N,) long

    def __len__(self) -> int:
        return int(self.target.shape[0])


@dataclass(frozen=True)
class Holdout:
    """One evaluation split: a row per user, the held-out item ranked against the user's candidates."""

    user: torch.Tensor  # (U,) long
    item_seq: torch.Tensor  # (U, L) long: the L items before the held-out one
    target: torch.Tensor  # (U,) long
    seen: torch.Tensor  # (U, n_items) bool: not candidates (interacted with before the target; never the target)

    def __len__(self) -> int:
        return int(self.target.shape[0])


@dataclass(frozen=True)
class D2LData:
    name: str
    n_users: int
    n_items: int
    n_train: int  # training interactions (the tutorial's 99,057 on ml-100k)
    windows: Windows
    valid: Holdout | None  # None with holdout "test"
    test: Holdout
    not_negative: torch.Tensor  # (n_users, n_items) bool: every interaction of the user, held out or not
    user_tokens: list[str]  # id -> raw token
    item_tokens: list[str]


def load_d2l(name_or_path: str, options: Mapping[str, Any], L: int, holdout: str = "test") -> D2LData:
    """The tutorial's data for ``name_or_path`` (a built-in name or a RecBole atomic folder).

    ``options`` are data options (``DATA_DEFAULTS`` keys; the field names and ``data_path`` are read, a
    filter is an error). The result is cached per process; do not modify its tensors.
    """
    if holdout not in HOLDOUTS:
        raise ConfigError(f"holdout: expected one of {', '.join(HOLDOUTS)}, got {holdout!r}")
    for key in _FILTERS:
        if options.get(key, DATA_DEFAULTS[key]) is not None:
            raise ConfigError(f"{key}: CaserD2L reads every interaction, unfiltered, as the D2L tutorial does; leave {key} unset")
    opts = resolve_options({k: v for k, v in options.items() if k in DATA_DEFAULTS})
    source = sources.resolve(str(name_or_path), opts)
    fields = (opts.user_field, opts.item_field, opts.time_field)
    key = ("d2l", cache.cache_key(source.fingerprint(), {"fields": list(fields)}), L, holdout)

    def build() -> D2LData:
        frame = source.read(opts).inter.frame
        return build_d2l(source.name, frame[list(fields)].set_axis(["user", "item", "time"], axis=1), L, holdout)

    return cache.memory_dataset(key, build)


def build_d2l(name: str, frame: pd.DataFrame, L: int, holdout: str = "test") -> D2LData:
    """The split, windows and evaluation rows of interactions ``frame`` (columns user, item, time; file order)."""
    user, user_tokens = _dense_ids(frame["user"].to_numpy())
    item, item_tokens = _dense_ids(frame["item"].to_numpy())
    n_users, n_items = len(user_tokens), len(item_tokens)
    # by user, then time; stable, so equal timestamps keep file order
    order = np.lexsort((frame["time"].to_numpy(np.float64), user))
    user, item, time = user[order], item[order], frame["time"].to_numpy(np.float64)[order]
    rest = np.ones(len(user), dtype=bool)
    test_pos = _latest(user, time, n_users)
    rest[test_pos] = False
    valid_pos = None
    if holdout == "valid_and_test":  # the last of the tutorial's training sequence, so test rows stay the tutorial's
        valid_pos = _last(user, rest, user_tokens)
        rest[valid_pos] = False
    train_user, train_item = user[rest], item[rest]
    starts = np.searchsorted(train_user, np.arange(n_users))
    lengths = np.bincount(train_user, minlength=n_users)
    _check_window(L, lengths, user_tokens, holdout)

    # windows: row r of `rows` is train_item[r : r + L + 1]; a user's window ends run from its last item back
    rows = sliding_window_view(train_item, L + 1)
    per_user = lengths - L  # (U,) windows per user
    last_start = starts + lengths - L - 1  # (U,) start of each user's latest window
    offsets = np.arange(per_user.sum()) - np.repeat(np.cumsum(per_user) - per_user, per_user)
    window_start = np.repeat(last_start, per_user) - offsets
    picked = rows[window_start]  # (N, L + 1)
    windows = Windows(
        user=torch.from_numpy(np.repeat(np.arange(n_users), per_user)),
        item_seq=torch.from_numpy(np.ascontiguousarray(picked[:, :L])),
        target=torch.from_numpy(np.ascontiguousarray(picked[:, L])),
    )

    seen = np.zeros((n_users, n_items), dtype=bool)
    seen[train_user, train_item] = True
    history = train_item[(starts + lengths - L)[:, None] + np.arange(L)]  # (U, L): each user's last L training items
    users = np.arange(n_users)
    valid = None
    test_seen, test_history = seen, history
    if valid_pos is not None:
        valid = _holdout(users, history, item[valid_pos], seen)
        test_seen = seen.copy()
        test_seen[users, item[valid_pos]] = True  # known by test time
        test_history = np.concatenate([history[:, 1:], item[valid_pos][:, None]], axis=1)  # valid was the last
    test = _holdout(users, test_history, item[test_pos], test_seen)
    not_negative = test_seen.copy()
    not_negative[users, item[test_pos]] = True
    if not_negative.all(axis=1).any():
        u = int(np.flatnonzero(not_negative.all(axis=1))[0])
        raise DataError(f"{name}: user {user_tokens[u]!r} interacted with every item: no negative to sample")
    return D2LData(
        name=name, n_users=n_users, n_items=n_items, n_train=int(rest.sum()), windows=windows, valid=valid,
        test=test, not_negative=torch.from_numpy(not_negative), user_tokens=user_tokens, item_tokens=item_tokens,
    )


def _dense_ids(tokens: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """0-based ids in the tokens' sorted order: numeric if every token is an integer (ml-100k: raw id - 1)."""
    series = pd.Series(tokens, dtype=str)
    numeric = series.str.fullmatch(r"-?[0-9]+").all()
    keys = series.astype(np.int64) if numeric else series
    codes, uniques = pd.factorize(keys, sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _latest(user: np.ndarray, time: np.ndarray, n_users: int) -> np.ndarray:
    """(U,) position of each user's latest interaction; among equal timestamps the first in file order
    (the tutorial keeps the first it meets with the largest timestamp). Rows are by user, then time."""
    pos = np.arange(len(user))
    u, t = user, time
    latest = np.full(n_users, -np.inf)
    np.maximum.at(latest, u, t)
    # the first row of each user holding its latest timestamp (file order survives the stable sort)
    candidates = pos[t == latest[u]]
    first = np.unique(user[candidates], return_index=True)[1]
    out = candidates[first]
    assert len(out) == n_users  # every user id comes from an interaction
    return out


def _last(user: np.ndarray, alive: np.ndarray, user_tokens: list[str]) -> np.ndarray:
    """(U,) position of each user's last alive interaction (rows are by user, then time)."""
    pos = np.flatnonzero(alive)
    ends = np.flatnonzero(np.append(user[pos][1:] != user[pos][:-1], True))
    if len(ends) != len(user_tokens):
        missing = min(set(range(len(user_tokens))) - set(user[pos].tolist()))
        raise ConfigError(f"holdout: user {user_tokens[missing]!r} has too few interactions to hold out "
                          "a test and a validation item")
    return pos[ends]


def _check_window(L: int, lengths: np.ndarray, user_tokens: list[str], holdout: str) -> None:
    shortest = int(lengths.argmin())
    if L + 1 > lengths[shortest]:
        raise ConfigError(
            f"MAX_ITEM_LIST_LENGTH (L) = {L}: user {user_tokens[shortest]!r} has {int(lengths[shortest])} training "
            f"interactions (holdout {holdout}) and a window needs L + 1; use L <= {max(int(lengths[shortest]) - 1, 0)}"
        )


def _holdout(users: np.ndarray, history: np.ndarray, target: np.ndarray, seen: np.ndarray) -> Holdout:
    seen = seen.copy()
    seen[users, target] = False  # the target is always a candidate, even if also seen before
    return Holdout(
        user=torch.from_numpy(users.copy()),
        item_seq=torch.from_numpy(np.ascontiguousarray(history)),
        target=torch.from_numpy(target.copy()),
        seen=torch.from_numpy(seen),
    )
