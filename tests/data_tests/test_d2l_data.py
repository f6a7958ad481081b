"""The D2L tutorial's data for CaserD2L: its seq-aware split, sliding windows and evaluation rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tuner.config import DATA_DEFAULTS
from tuner.data.d2l import build_d2l, load_d2l
from tuner.errors import ConfigError


def frame(rows):
    return pd.DataFrame(rows, columns=["user", "item", "time"]).astype({"user": str, "item": str, "time": float})


# user 1: items 10..15 at times 1..6, but item 16 ties item 15's time and comes later in the file;
# user 2: six items, the file out of time order.
ROWS = [("1", "10", 1), ("1", "11", 2), ("1", "12", 3), ("1", "13", 4), ("1", "15", 6), ("1", "14", 5), ("1", "16", 6),
        ("2", "17", 9), ("2", "10", 1), ("2", "11", 2), ("2", "12", 3), ("2", "13", 4), ("2", "16", 5)]


def test_ml100k_counts_and_first_example_are_the_tutorials():
    data = load_d2l("ml-100k", DATA_DEFAULTS, 5)
    assert (data.n_users, data.n_items, data.n_train, len(data.test)) == (943, 1682, 99_057, 943)
    assert len(data.windows) == 94_342
    assert data.windows.user[0] == 0 and data.windows.target[0] == 101
    assert data.windows.item_seq[0].tolist() == [241, 170, 110, 255, 4]
    assert data.valid is None and data.user_tokens[:2] == ["1", "2"] and data.item_tokens[241] == "242"
    # the test history is each user's last 5 training items; candidates: every item not trained on
    assert data.test.item_seq[0].tolist() == [*data.windows.item_seq[0, 1:].tolist(), 101]
    assert int((~data.test.seen).sum()) == 943 * 1682 - 99_057


def test_ml100k_with_validation_holds_out_the_second_latest():
    test_only = load_d2l("ml-100k", DATA_DEFAULTS, 5)
    data = load_d2l("ml-100k", DATA_DEFAULTS, 5, "valid_and_test")
    assert (data.n_train, len(data.valid), len(data.test)) == (98_114, 943, 943)
    assert len(data.windows) == 94_342 - 943
    assert torch.equal(data.test.target, test_only.test.target)
    # the valid item is the last item of the tutorial's training sequence; test's history ends with it
    assert torch.equal(data.valid.target, test_only.test.item_seq[:, -1])
    assert torch.equal(data.test.item_seq, test_only.test.item_seq)
    assert data.test.seen[torch.arange(943), data.valid.target].all()
    assert not data.valid.seen[torch.arange(943), data.valid.target].any()


def test_split_order_ties_and_windows():
    data = build_d2l("toy", frame(ROWS), L=2)
    item = lambda *tokens: [data.item_tokens.index(t) for t in tokens]  # noqa: E731
    # user 1: the first row with the latest time (item 15) is test; its tie 16 stays in training, last
    assert data.test.target.tolist() == item("15", "17")
    assert data.test.item_seq.tolist() == [item("14", "16"), item("13", "16")]
    # windows of L + 1, each user's latest first: user 1 trains on 10 11 12 13 14 16 (4 windows), user 2 on 10..13 16 (3)
    assert data.windows.user.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert data.windows.item_seq.tolist()[:4] == [item("13", "14"), item("12", "13"), item("11", "12"), item("10", "11")]
    assert data.windows.target.tolist()[:4] == item("16", "14", "13", "12")
    assert data.n_train == len(ROWS) - 2
    seen = data.test.seen
    assert seen[0].nonzero().flatten().tolist() == sorted(item("10", "11", "12", "13", "14", "16"))
    assert data.not_negative[0].nonzero().flatten().tolist() == sorted(item("10", "11", "12", "13", "14", "15", "16"))


def test_ids_follow_the_tokens_numeric_order():
    data = build_d2l("toy", frame([(u, i, t) for u, i, t in ROWS if u == "2"] + [("10", "9", 1), ("10", "100", 2),
                                                                                   ("10", "11", 3), ("10", "12", 4)]), L=1)
    assert data.user_tokens == ["2", "10"] and data.item_tokens == ["9", "10", "11", "12", "13", "16", "17", "100"]


def test_a_window_longer_than_the_shortest_sequence_names_L():
    with pytest.raises(ConfigError, match=r"MAX_ITEM_LIST_LENGTH \(L\) = 5: user '2' has 5 training .* use L <= 4"):
        build_d2l("toy", frame(ROWS), L=5)
    with pytest.raises(ConfigError, match=r"use L <= 3"):
        build_d2l("toy", frame(ROWS), L=4, holdout="valid_and_test")
    assert len(build_d2l("toy", frame(ROWS), L=4).windows) == 2 + 1


def test_filters_are_refused_not_ignored():
    with pytest.raises(ConfigError, match=r"user_inter_num_interval: CaserD2L reads every interaction, unfiltered"):
        load_d2l("ml-100k", {**DATA_DEFAULTS, "user_inter_num_interval": "[5,inf)"}, 5)
    with pytest.raises(ConfigError, match=r"holdout: expected one of test, valid_and_test"):
        load_d2l("ml-100k", DATA_DEFAULTS, 5, "valid")


def test_every_user_and_item_of_a_synthetic_dataset_gets_rows():
    data = load_d2l("synthetic-tiny", DATA_DEFAULTS, 3, "valid_and_test")
    assert len(data.valid) == len(data.test) == data.n_users == 60
    lengths = np.bincount(data.windows.user.numpy(), minlength=data.n_users)
    assert (lengths >= 1).all() and lengths.sum() == data.n_train - 3 * data.n_users
