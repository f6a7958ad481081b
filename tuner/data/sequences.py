"""RecBole's sequential view and leave-one-out split, vectorised.

``SequentialDataset.data_augmentation``: every interaction but a user's first is a target; its
input is the (at most L) items before it, left-aligned and zero-padded, with its length.
``Dataset.leave_one_out`` with ``LS: valid_and_test`` and order ``TO``: of a user's n examples
(n + 1 interactions), the last is test and the one before valid, but only as far as
``min(2, n - 1)`` reaches:

    interactions  examples  train  valid  test
    1             0         0      0      0
    2             1         1      0      0
    3             2         1      0      1
    k >= 4        k - 1     k - 3  1      1
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from tuner.data.dataset import SequentialDataset, Split
from tuner.data.prepared import Prepared
from tuner.errors import DataError


def build_dataset(prepared: Prepared, max_len: int) -> SequentialDataset:
    user, item = prepared.user, prepared.item
    n = len(user)
    first = np.ones(n, dtype=bool)
    first[1:] = user[1:] != user[:-1]
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], n)
    group = np.cumsum(first) - 1  # (n,) which user block each interaction is in

    target_pos = np.flatnonzero(~first)  # (N,) one example per target
    block = group[target_pos]
    history_start = np.maximum(starts[block], target_pos - max_len)
    length = target_pos - history_start
    # row r of `windows` is item[r : r + L]: an example's input is the window at its history start,
    # cut to its length (a view; only the rows picked below are copied)
    windows = sliding_window_view(np.concatenate([item, np.zeros(max_len, dtype=item.dtype)]), max_len)

    from_end = ends[block] - 1 - target_pos  # 0 for a user's last example
    n_examples = (ends - starts - 1)[block]
    test = (from_end == 0) & (n_examples >= 2)
    valid = (from_end == 1) & (n_examples >= 3)
    train = ~(test | valid)
    if not train.any():
        raise DataError(
            f"{prepared.name}: no training examples after filtering: every user has fewer than 2 interactions"
        )

    def split(mask: np.ndarray) -> Split:
        lengths = length[mask]
        item_seq = windows[history_start[mask]]  # (N, L) copy
        item_seq[np.arange(max_len)[None, :] >= lengths[:, None]] = 0
        return Split(
            user=torch.from_numpy(user[target_pos[mask]]),
            item_seq=torch.from_numpy(item_seq),
            item_len=torch.from_numpy(lengths),
            target=torch.from_numpy(item[target_pos[mask]]),
        )

    return SequentialDataset(
        name=prepared.name,
        n_user_ids=len(prepared.user_tokens),
        n_item_ids=len(prepared.item_tokens),
        n_interactions=n,
        train=split(train),
        valid=split(valid),
        test=split(test),
        user_tokens=prepared.user_tokens,
        item_tokens=prepared.item_tokens,
        item_features={k: torch.from_numpy(v) for k, v in prepared.item_features.items()},
        feature_sizes=dict(prepared.feature_sizes),
        feature_tokens=prepared.feature_tokens,
    )
