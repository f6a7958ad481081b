"""Bad files name the file and line; parsed datasets are cached on disk and in memory, keyed by content."""

import hashlib
import io
import zipfile

import pytest

from data_helpers import write_atomic
from tuner.data import build, cache, load_dataset, movielens, synthetic
from tuner.errors import DataError

GOOD = "user_id:token|item_id:token|timestamp:float\nu|a|1\nu|b|2\nu|c|3\nv|a|1\nv|c|2\nv|b|3\n"


@pytest.mark.parametrize(
    "inter, message",
    [
        ("user_id:token|item_id:token|timestamp:float\nu|a|1\nu|b|yesterday\n", r"toy\.inter:3: column 'timestamp' \(float\): 'yesterday' is not a number"),
        ("user_id:token|item_id:token|timestamp:date\nu|a|1\n", r"toy\.inter:1: .*unknown type 'date'"),
        ("user_id|item_id:token|timestamp:float\nu|a|1\n", r"toy\.inter:1: header cell 'user_id': expected 'field:type'"),
        ("user_id:token|item_id:token|rating:float\nu|a|1\n", r"toy\.inter: no column 'timestamp'"),
        ("", r"toy\.inter:1: empty file"),
    ],
)
def test_bad_files_name_file_line_and_expectation(tmp_path, inter, message):
    folder = write_atomic(tmp_path / "toy", "toy", inter)
    with pytest.raises(DataError, match=message):
        load_dataset(str(folder))


def test_missing_file_and_missing_load_col_column(tmp_path):
    (tmp_path / "nothere").mkdir()
    with pytest.raises(DataError, match=r"nothere\.inter: missing file"):
        load_dataset(str(tmp_path / "nothere"))
    folder = write_atomic(tmp_path / "toy", "toy", GOOD)
    with pytest.raises(DataError, match=r"toy\.inter:1: no column 'rating' \(load_col asks for it\)"):
        load_dataset(str(folder), {"load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]}})
    with pytest.raises(DataError, match=r"toy\.item: missing file"):
        load_dataset(str(folder), {"load_col": {"inter": None, "item": ["item_id", "class"]}})


def test_unknown_dataset_name_lists_what_exists(tmp_path):
    with pytest.raises(DataError, match=r"'ml-10m'.*ml-100k, ml-1m, synthetic-tiny"):
        load_dataset("ml-10m")


def test_dataset_is_parsed_once_per_content_and_options(tmp_path, monkeypatch):
    calls = []
    real = build.build_dataset
    monkeypatch.setattr("tuner.data.loader.build_dataset", lambda *a: calls.append(1) or real(*a))
    folder = write_atomic(tmp_path / "toy", "toy", GOOD)
    first = load_dataset(str(folder))
    assert load_dataset(str(folder)) is first and len(calls) == 1  # memory
    cache.clear_memory()
    again = load_dataset(str(folder))  # a fresh process: read from the disk cache, not parsed
    assert len(calls) == 1 and again.stats() == first.stats()
    assert len(list((tmp_path / "cache" / "datasets").glob("*.pt"))) == 1
    load_dataset(str(folder), {"MAX_ITEM_LIST_LENGTH": 2})  # other options: parsed
    assert len(calls) == 2
    (folder / "toy.inter").write_text(GOOD.replace("|", "\t") + "w\ta\t1\nw\tb\t2\n")  # other contents: parsed
    cache.clear_memory()
    changed = load_dataset(str(folder))
    assert len(calls) == 3 and changed.stats()["n_users"] == 3


def test_a_torn_cache_file_is_parsed_again(tmp_path):
    folder = write_atomic(tmp_path / "toy", "toy", GOOD)
    load_dataset(str(folder))
    (path,) = (tmp_path / "cache" / "datasets").glob("*.pt")
    path.write_bytes(path.read_bytes()[:50])
    cache.clear_memory()
    assert load_dataset(str(folder)).stats()["n_users"] == 2


def test_synthetic_datasets_are_deterministic_and_learnable():
    tiny = load_dataset("synthetic-tiny")
    assert tiny.stats()["n_users"] == 60 and tiny.n_item_ids == 41
    cache.clear_memory()
    again = load_dataset("synthetic-tiny")
    assert again is not tiny and all(
        (getattr(again, p).item_seq == getattr(tiny, p).item_seq).all() for p in ("train", "valid", "test")
    )
    other = load_dataset("synthetic:users=30,items=20,length=10,seed=3")
    assert other.stats()["n_users"] == 30 and other.n_item_ids == 21
    # the planted successor explains most next items: the pattern is there to learn
    seq, n, target = tiny.train.item_seq, tiny.train.item_len, tiny.train.target
    last = seq[range(len(n)), n - 1]
    successor = {}
    for a, b in zip(last.tolist(), target.tolist()):
        successor.setdefault(a, []).append(b)
    agree = sum(max(v.count(x) for x in v) for v in successor.values()) / len(target)
    assert agree > 0.6
    with pytest.raises(DataError, match="unknown setting 'size'"):
        load_dataset("synthetic:size=3")


def _ml1m_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ml-1m/ratings.dat", "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n2::30::2::978300275\n2::20::5::978824291\n")
        z.writestr("ml-1m/movies.dat", "10::GoldenEye (1995)::Action|Adventure|Thriller\n20::Amélie (2001)::Comedy|Romance\n30::Heat (1995)::Action\n".encode("latin-1"))
        z.writestr("ml-1m/users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return buf.getvalue()


def test_ml1m_zip_is_checked_and_converted_to_atomic_files(tmp_path):
    data = _ml1m_zip()
    (tmp_path / "ml-1m.zip").write_bytes(data)
    folder = movielens.ensure_ml1m(tmp_path, url="http://127.0.0.1:9/none", md5=hashlib.md5(data).hexdigest())
    ds = load_dataset(str(folder), {"load_col": {"inter": None, "item": ["item_id", "genre"]}})
    assert ds.stats() == {"n_users": 2, "n_items": 3, "n_interactions": 5, "n_train": 2, "n_valid": 0, "n_test": 1}
    item = (folder / "ml-1m.item").read_text().splitlines()
    assert item[0] == "item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq"
    assert item[2] == "20\tAmélie\t2001\tComedy Romance"


def test_ml1m_with_a_wrong_checksum_or_offline_says_where_to_put_the_files(tmp_path):
    (tmp_path / "ml-1m.zip").write_bytes(_ml1m_zip())
    with pytest.raises(DataError, match="does not match GroupLens"):
        movielens.ensure_ml1m(tmp_path, url="http://127.0.0.1:9/none")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=rf"could not download .*put GroupLens' ml-1m.zip .* at {empty}/ml-1m.zip"):
        movielens.ensure_ml1m(empty, url="http://127.0.0.1:9/ml-1m.zip")


def test_synthetic_names_are_parsed_strictly():
    assert synthetic.parse_name("ml-100k") is None
    assert synthetic.parse_name("synthetic:users=5,items=4,length=3").users == 5
    with pytest.raises(DataError, match="not a number"):
        synthetic.parse_name("synthetic:users=many")
