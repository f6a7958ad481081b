"""RecBole's meaning of each preprocessing step, on small hand-made folders."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.data import load_dataset, with_item_fields
from tuner.data.intervals import parse_intervals

HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"


def rows(*triples) -> str:
    return HEADER + "".join(f"{u}\t{i}\t{t}\n" for u, i, t in triples)


def examples(dataset, part):
    split = getattr(dataset, part)
    items, users = dataset.item_tokens, dataset.user_tokens
    return sorted(
        (users[u], tuple(items[i] for i in seq[:n]), items[t])
        for u, seq, n, t in zip(split.user.tolist(), split.item_seq.tolist(), split.item_len.tolist(), split.target.tolist())
    )


@pytest.mark.parametrize(
    "text, inside, outside",
    [
        ("[5,inf)", [5, 6, 1e9], [4, 4.99]),
        ("(0,10]", [0.5, 10], [0, 10.01]),
        ("[1,2);[4,5]", [1, 1.5, 4, 5], [2, 3, 5.5]),
        ([5, 10], [5, 10], [4, 11]),  # a YAML list reads as the closed interval, as RecBole's str() of it does
        ("(-inf,3)", [-5, 2.9], [3]),
    ],
)
def test_interval_strings_mean_what_recbole_means(text, inside, outside):
    intervals = parse_intervals(text, "opt")
    assert intervals.contains(np.array(inside, dtype=float)).all()
    assert not intervals.contains(np.array(outside, dtype=float)).any()
    assert not intervals.contains(np.array([np.nan])).any()


def test_k_core_is_repeated_until_stable(atomic):
    # pass 1 bans u3 (1 interaction) and i3 (1); then u2 and i2 fall to 1 and go; then u1 and i1.
    folder = atomic({"inter": rows(
        ("u1", "i1", 1), ("u1", "i2", 2), ("u2", "i1", 3), ("u2", "i3", 4), ("u3", "i2", 5),
        ("u4", "i4", 6), ("u4", "i5", 7), ("u5", "i4", 8), ("u5", "i5", 9),
    )})
    options = {"user_inter_num_interval": "[2,inf)", "item_inter_num_interval": "[2,inf)"}
    dataset = load_dataset(str(folder), options)
    assert dataset.user_tokens[1:] == ["u4", "u5"] and sorted(dataset.item_tokens[1:]) == ["i4", "i5"]
    assert dataset.n_interactions == 4


def test_an_upper_bound_drops_busy_users(atomic):
    folder = atomic({"inter": rows(("a", "x", 1), ("a", "y", 2), ("a", "z", 3), ("b", "x", 4), ("b", "y", 5))})
    dataset = load_dataset(str(folder), {"user_inter_num_interval": "[1,2]"})
    assert dataset.user_tokens[1:] == ["b"] and dataset.n_interactions == 2


def test_leave_one_out_with_few_interactions_follows_recbole(atomic):
    # users with 1, 2, 3, 4 interactions: 0, 1, 2, 3 examples
    folder = atomic({"inter": rows(
        ("one", "a", 1),
        ("two", "a", 1), ("two", "b", 2),
        ("three", "a", 1), ("three", "b", 2), ("three", "c", 3),
        ("four", "a", 1), ("four", "b", 2), ("four", "c", 3), ("four", "d", 4),
    )})
    dataset = load_dataset(str(folder))
    assert examples(dataset, "train") == [
        ("four", ("a",), "b"),
        ("three", ("a",), "b"),
        ("two", ("a",), "b"),  # a single example is training data
    ]
    assert examples(dataset, "valid") == [("four", ("a", "b"), "c")]
    assert examples(dataset, "test") == [("four", ("a", "b", "c"), "d"), ("three", ("a", "b"), "c")]  # two: no valid
    assert dataset.n_user_ids == 5  # "one" keeps its id though it has no example


def test_history_keeps_the_last_L_items(atomic):
    folder = atomic({"inter": rows(*[("u", f"i{k}", k) for k in range(1, 7)])})
    dataset = load_dataset(str(folder), {"MAX_ITEM_LIST_LENGTH": 3})
    assert examples(dataset, "test") == [("u", ("i3", "i4", "i5"), "i6")]
    assert examples(dataset, "train")[0] == ("u", ("i1",), "i2")
    assert dataset.test.item_seq.tolist() == [[dataset.item_tokens.index(t) for t in ("i3", "i4", "i5")]]
    assert dataset.train.item_seq[0, 1:].tolist() == [0, 0]


def test_equal_timestamps_keep_file_order_and_ids_follow_first_appearance(atomic):
    folder = atomic({"inter": rows(("u", "late", 20), ("u", "b", 10), ("u", "a", 10), ("u", "first", 5))})
    dataset = load_dataset(str(folder))
    assert dataset.item_tokens == ["[PAD]", "late", "b", "a", "first"]
    assert examples(dataset, "test") == [("u", ("first", "b", "a"), "late")]


def test_timestamps_float32_cannot_tell_apart_tie_as_in_recbole(atomic):
    # scaled to [0, 1], 500000001 and 500000000 are the same float32: they keep file order
    folder = atomic({"inter": rows(("u", "first", 0), ("u", "b", 500000001), ("u", "a", 500000000), ("u", "last", 1000000000))})
    assert examples(load_dataset(str(folder)), "test") == [("u", ("first", "b", "a"), "last")]
    folder = atomic({"inter": rows(("u", "first", 0), ("u", "b", 500000040), ("u", "a", 500000000), ("u", "last", 1000000000))}, "apart")
    assert examples(load_dataset(str(folder)), "test") == [("u", ("first", "a", "b"), "last")]


def test_rm_dup_inter_keeps_the_first_or_last_in_time(atomic):
    folder = atomic({"inter": rows(("u", "x", 30), ("u", "y", 20), ("u", "x", 10), ("u", "z", 40))})
    first = load_dataset(str(folder), {"rm_dup_inter": "first"})
    assert examples(first, "test") == [("u", ("x", "y"), "z")]
    last = load_dataset(str(folder), {"rm_dup_inter": "last"})
    assert examples(last, "test") == [("u", ("y", "x"), "z")]
    kept = load_dataset(str(folder))
    assert kept.n_interactions == 4


def test_val_interval_on_an_item_field_drops_those_items_interactions(atomic):
    folder = atomic({
        "inter": rows(("u", "a", 1), ("u", "b", 2), ("u", "c", 3), ("u", "d", 4)),
        "item": "item_id:token\tyear:float\na\t1990\nb\t2001\nc\t1995\nd\t1999\n",
    })
    with_items = {"load_col": {"inter": None, "item": None}, "val_interval": {"year": "[1990,2000)"}}
    dataset = load_dataset(str(folder), with_items)
    assert examples(dataset, "test") == [("u", ("a", "c"), "d")]
    off = load_dataset(str(folder), {**with_items, "filter_inter_by_user_or_item": False})
    assert off.n_interactions == 4


def test_token_and_token_seq_item_features(atomic):
    folder = atomic({
        "inter": rows(("u", "a", 1), ("u", "b", 2), ("u", "c", 3), ("u", "z", 4)),
        "item": "item_id:token\tbrand:token\ttags:token_seq\tprice:float\n"
                "b\tacme\tred  big\t1\na\t\tbig\t2\nc\tzeta\t\t3\nunused\tacme\tsmall red blue\t4\n",
    }, "feat")
    dataset = load_dataset(str(folder), {"load_col": {"inter": "*", "item": "*"}, "filter_inter_by_user_or_item": False})
    items = dataset.item_tokens
    assert items == ["[PAD]", "a", "b", "c", "z", "unused"]
    assert dataset.feature_tokens == {"brand": ["[PAD]", "acme", "zeta"], "tags": ["[PAD]", "red", "big", "small", "blue"]}
    assert dataset.feature_sizes == {"brand": 3, "tags": 5}
    assert dataset.item_features["brand"].tolist() == [[0], [0], [1], [2], [0], [1]]
    assert dataset.item_features["tags"].tolist() == [[0, 0, 0], [2, 0, 0], [1, 2, 0], [0, 0, 0], [0, 0, 0], [3, 1, 4]]
    assert "price" not in dataset.item_features  # float features are not used by the models


def test_load_col_limits_the_feature_columns(atomic):
    folder = atomic({
        "inter": rows(("u", "a", 1), ("u", "b", 2), ("u", "c", 3)),
        "item": "item_id:token\tbrand:token\ttags:token_seq\na\tx\tp q\nb\ty\tq\nc\tx\tp\n",
    })
    only_tags = {"load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "tags"]}}
    assert list(load_dataset(str(folder), only_tags).item_features) == ["tags"]
    no_items = {"load_col": {"inter": ["user_id", "item_id", "timestamp"]}}
    assert load_dataset(str(folder), no_items).item_features == {}
    assert load_dataset(str(folder)).item_features == {}  # the default, RecBole's for ml-100k: .inter only
    both = load_dataset(str(folder), {"load_col": with_item_fields(None, ["brand"])})
    assert list(both.item_features) == ["brand"] and both.feature_tokens["brand"] == ["[PAD]", "x", "y"]
