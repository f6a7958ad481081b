"""RecBole's sequential view and leave-one-out split, vectorised.

Each user's interactions are sorted by time (stable: ties keep file order); every prefix of at least
one item becomes an example whose input is its last <= L items (left-aligned, zero-padded) and whose
target is the next item. Split ``LS: valid_and_test``, order ``TO``: per user, the last example is
test and the one before it valid, the rest train. A user with two examples gives one train and one
test example, a user with one gives one train example (RecBole's ``_split_index_by_leave_one_out``).
"""

from __future__ import annotations

import numpy as np
import torch

from tuner.data.dataset import Split


def sort_by_user_then_time(user: np.ndarray, time: np.ndarray) -> np.ndarray:
    """The order RecBole's ``Interaction.sort(by=[user, time])`` gives: by time within each user, stable.

    RecBole sorts on its stored timestamps, which are min-max normalised (``normalize_all``, on by
    default) and then kept as float32: times a second or so apart can become equal and fall back to file
    order. Sorting on the same float32 values reproduces its sequences exactly.
    """
    by_time = np.argsort(recbole_time_key(time), kind="stable")
    by_user = np.argsort(user[by_time], kind="stable")
    return by_time[by_user]


def recbole_time_key(time: np.ndarray) -> np.ndarray:
    if not len(time):
        return time.astype(np.float32)
    low, high = float(time.min()), float(time.max())
    if high == low:
        return np.ones(len(time), dtype=np.float32)  # RecBole sets an all-equal column to 1.0
    return ((time - low) / (high - low)).astype(np.float32)


def build_splits(user: np.ndarray, item: np.ndarray, max_len: int) -> tuple[Split, Split, Split]:
    """``user``/``item``: internal ids already in (user, time) order."""
    n = len(user)
    starts = np.r_[True, user[1:] != user[:-1]] if n else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    pos = np.arange(n) - group_start  # position of the interaction within its user's history
    example = np.flatnonzero(pos >= 1)  # each such row is the target of one example
    length = np.minimum(pos[example], max_len)

    # which part each example goes to: count the examples left after it within the same user
    ex_user = user[example]
    last_of_user = np.r_[ex_user[1:] != ex_user[:-1], True] if len(example) else np.zeros(0, bool)
    group_end = np.minimum.accumulate(np.where(last_of_user, np.arange(len(example)), len(example))[::-1])[::-1]
    after = group_end - np.arange(len(example))  # 0 for the user's last example
    total = after + _count_before(last_of_user) + 1  # examples of this user
    legal = np.minimum(2, total - 1)  # how many of the user's examples RecBole leaves out (0, 1 or 2)
    part = np.zeros(len(example), dtype=np.int8)  # 0 train, 1 valid, 2 test
    part[(after == 0) & (legal >= 1)] = 2
    part[(after == 1) & (legal == 2)] = 1

    cols = np.arange(max_len)
    src = (example - length)[:, None] + cols[None, :]  # (E, L) source rows of the history, oldest first
    mask = cols[None, :] < length[:, None]
    seq = np.where(mask, item[np.clip(src, 0, max(n - 1, 0))], 0)

    def take(which: int) -> Split:
        sel = part == which
        return Split(
            user=torch.from_numpy(user[example][sel].astype(np.int64)),
            item_seq=torch.from_numpy(seq[sel].astype(np.int64)),
            item_len=torch.from_numpy(length[sel].astype(np.int64)),
            target=torch.from_numpy(item[example][sel].astype(np.int64)),
        )

    return take(0), take(1), take(2)


def _count_before(last_of_user: np.ndarray) -> np.ndarray:
    """For each example, how many examples of the same user come before it."""
    m = len(last_of_user)
    if not m:
        return np.zeros(0, np.int64)
    first = np.r_[True, last_of_user[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(m), 0))
    return np.arange(m) - start
