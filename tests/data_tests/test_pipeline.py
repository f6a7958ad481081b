"""The preprocessing and split rules on tiny hand-made atomic folders, where every count is checkable by hand."""

import pytest

from tuner.data import load_dataset
from tuner.errors import DataError

from data_helpers import write_atomic

HEADER = "user_id:token|item_id:token|rating:float|timestamp:float\n"


def _inter(rows):
    return HEADER + "".join(f"{u}|{i}|{r}|{t}\n" for u, i, r, t in rows)


def _histories(ds, split):
    return [
        (ds.user_tokens[u], [ds.item_tokens[i] for i in seq[:n]], ds.item_tokens[t])
        for u, seq, n, t in zip(split.user.tolist(), split.item_seq.tolist(), split.item_len.tolist(), split.target.tolist())
    ]


def test_leave_one_out_by_history_length(tmp_path):
    # a: 1 interaction (no example); b: 2 (one example, train); c: 3 (train + test, as RecBole); d: 4 (train, valid, test)
    rows = [("a", "x", 1, 1), ("b", "x", 1, 1), ("b", "y", 1, 2), ("c", "x", 1, 1), ("c", "y", 1, 2), ("c", "z", 1, 3),
            ("d", "x", 1, 1), ("d", "y", 1, 2), ("d", "z", 1, 3), ("d", "w", 1, 4)]
    ds = load_dataset(str(write_atomic(tmp_path / "toy", "toy", _inter(rows))))
    assert sorted(_histories(ds, ds.train)) == [("b", ["x"], "y"), ("c", ["x"], "y"), ("d", ["x"], "y")]
    assert _histories(ds, ds.valid) == [("d", ["x", "y"], "z")]
    assert sorted(_histories(ds, ds.test)) == [("c", ["x", "y"], "z"), ("d", ["x", "y", "z"], "w")]
    assert ds.stats()["n_users"] == 4 and ds.stats()["n_interactions"] == 10


def test_histories_keep_the_last_L_items_sorted_by_time_with_ties_in_file_order(tmp_path):
    # file order differs from time order; q and p share a time, so file order (q first) decides
    rows = [("u", "c", 1, 30), ("u", "a", 1, 10), ("u", "q", 1, 20), ("u", "p", 1, 20), ("u", "d", 1, 40), ("u", "e", 1, 50)]
    ds = load_dataset(str(write_atomic(tmp_path / "toy", "toy", _inter(rows))), {"MAX_ITEM_LIST_LENGTH": 3})
    assert _histories(ds, ds.test) == [("u", ["p", "c", "d"], "e")]
    assert _histories(ds, ds.valid) == [("u", ["q", "p", "c"], "d")]
    assert ds.test.item_seq.shape == (1, 3)
    first = sorted(_histories(ds, ds.train), key=lambda r: len(r[1]))[0]
    assert first == ("u", ["a"], "q")


def test_val_interval_keeps_rows_inside_the_interval(tmp_path):
    rows = [("u", "a", 1, 1), ("u", "b", 3, 2), ("u", "c", 5, 3), ("u", "d", 4.5, 4), ("v", "a", 4, 1), ("v", "b", 2.5, 2)]
    ds = load_dataset(str(write_atomic(tmp_path / "toy", "toy", _inter(rows))), {"val_interval": {"rating": "[3,5)"}})
    # kept: (u,b,3), (u,d,4.5), (v,a,4); 5 is excluded by ')', 1 and 2.5 are below 3
    assert ds.n_interactions == 3
    assert _histories(ds, ds.train) == [("u", ["b"], "d")]


def test_k_core_filter_repeats_until_stable(tmp_path):
    # items: x used by u1,u2,u3; y by u1,u2; z by u3 only. With 2-core on items z goes; then u3 has 1 interaction
    # and goes with a 2-core on users; then x has 2 users left and stays.
    rows = [("u1", "x", 1, 1), ("u1", "y", 1, 2), ("u2", "x", 1, 1), ("u2", "y", 1, 2), ("u3", "x", 1, 1), ("u3", "z", 1, 2)]
    ds = load_dataset(str(write_atomic(tmp_path / "toy", "toy", _inter(rows))),
                      {"user_inter_num_interval": "[2,inf)", "item_inter_num_interval": "[2,inf)"})
    assert sorted(ds.user_tokens[1:]) == ["u1", "u2"] and sorted(ds.item_tokens[1:]) == ["x", "y"]
    assert ds.n_interactions == 4


def test_rm_dup_inter_keeps_first_or_last_by_time(tmp_path):
    rows = [("u", "a", 1, 5), ("u", "b", 1, 2), ("u", "a", 1, 1), ("u", "c", 1, 9)]
    folder = write_atomic(tmp_path / "toy", "toy", _inter(rows))
    first = load_dataset(str(folder), {"rm_dup_inter": "first"})
    last = load_dataset(str(folder), {"rm_dup_inter": "last"})
    assert _histories(first, first.test) == [("u", ["a", "b"], "c")]
    assert _histories(last, last.test) == [("u", ["b", "a"], "c")]
    assert load_dataset(str(folder)).n_interactions == 4


def test_item_features_become_padded_id_tables(tmp_path):
    rows = [("u", "a", 1, 1), ("u", "b", 1, 2), ("u", "c", 1, 3)]
    item = "item_id:token|class:token_seq|year:token\na|Drama Comedy|1990\nb|Comedy|1991\nc||1990\n"
    folder = write_atomic(tmp_path / "toy", "toy", _inter(rows), item=item)
    assert load_dataset(str(folder)).item_features == {}  # RecBole's default load_col: the .inter file only
    ds = load_dataset(str(folder), {"load_col": {"inter": None, "item": ["item_id", "class", "year"]}})
    ids = {ds.item_tokens[i]: row for i, row in enumerate(ds.item_features["class"].tolist())}
    assert ids == {"[PAD]": [0, 0], "a": [1, 2], "b": [2, 0], "c": [0, 0]}
    assert ds.feature_sizes == {"class": 3, "year": 3}


def test_filter_that_leaves_nothing_is_an_error(tmp_path):
    folder = write_atomic(tmp_path / "toy", "toy", _inter([("u", "a", 1, 1), ("u", "b", 2, 2)]))
    with pytest.raises(DataError, match=r"toy\.inter: no interactions left after val_interval"):
        load_dataset(str(folder), {"val_interval": {"rating": "[4,inf)"}})


@pytest.mark.parametrize("bad", ["[5,inf", "5", "[a,b)", "[9,1]"])
def test_bad_interval_strings_are_errors(tmp_path, bad):
    folder = write_atomic(tmp_path / "toy", "toy", _inter([("u", "a", 1, 1), ("u", "b", 2, 2)]))
    with pytest.raises(DataError, match="user_inter_num_interval"):
        load_dataset(str(folder), {"user_inter_num_interval": bad})
