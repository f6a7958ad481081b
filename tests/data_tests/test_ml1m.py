"""ml-1m: conversion of GroupLens's zip (a tiny hand-made one here), checksum, and the offline error."""

from __future__ import annotations

import hashlib
import re
import socket
import zipfile
from pathlib import Path

import pytest

from tuner import environment
from tuner.data import load_dataset, ml1m, with_item_fields
from tuner.errors import DataError

RATINGS = """1::1193::5::978300760
1::661::3::978302109
1::2355::5::978824291
2::1193::4::978298413
2::2355::3::978299000
2::661::2::978299100
3::2355::4::978297000
"""
MOVIES = """1193::One Flew Over the Cuckoo's Nest (1975)::Drama
661::James and the Giant Peach (1996)::Animation|Children's|Musical
2355::City of Lost Children, The (Cit\u00e9 des enfants perdus, La) (1995)::Adventure|Sci-Fi
9999::Untitled::Drama
"""
USERS = """1::F::1::10::48067
2::M::56::16::70072
3::M::25::15::55117
"""


def make_zip(path: Path, ratings: str = RATINGS, skip: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, text in (("ratings.dat", ratings), ("movies.dat", MOVIES), ("users.dat", USERS)):
            if name != skip:
                z.writestr(f"ml-1m/{name}", text.encode("latin-1"))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def closed_url(monkeypatch):
    """Point the download at a local port nothing listens on: a real, failing connection."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(ml1m, "URL", f"http://127.0.0.1:{port}/ml-1m.zip")


def test_convert_writes_recboles_atomic_files(tmp_path):
    archive = make_zip(tmp_path / "ml-1m.zip")
    ml1m.convert(archive, tmp_path / "out")
    inter = (tmp_path / "out" / "ml-1m.inter").read_text(encoding="utf-8").splitlines()
    assert inter[0] == "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    assert inter[1] == "1\t1193\t5\t978300760" and len(inter) == 8
    item = (tmp_path / "out" / "ml-1m.item").read_text(encoding="utf-8").splitlines()
    assert item[0] == "item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq"
    assert item[2] == "661\tJames and the Giant Peach\t1996\tAnimation Children's Musical"
    assert item[3] == "2355\tCity of Lost Children, The (Cit\u00e9 des enfants perdus, La)\t1995\tAdventure Sci-Fi"
    assert item[4] == "9999\tUntitled\t\tDrama"
    user = (tmp_path / "out" / "ml-1m.user").read_text(encoding="utf-8").splitlines()
    assert user[0] == "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"
    assert user[1] == "1\t1\tF\t10\t48067"


def test_first_use_checks_converts_and_loads_then_reuses(monkeypatch, closed_url):
    root = environment.data_dir()
    archive = make_zip(root / "ml-1m.zip")
    monkeypatch.setattr(ml1m, "SHA256", sha256(archive))
    dataset = load_dataset("ml-1m", {"load_col": with_item_fields(None, ["genre"])})
    assert dataset.stats() == {"n_users": 3, "n_items": 4, "n_interactions": 7, "n_train": 2, "n_valid": 0, "n_test": 2}
    assert dataset.feature_tokens["genre"][:3] == ["[PAD]", "Drama", "Animation"]
    assert (root / "ml-1m" / "ml-1m.inter").is_file()
    archive.unlink()
    assert load_dataset("ml-1m", {"MAX_ITEM_LIST_LENGTH": 5}).stats()["n_interactions"] == 7


def test_a_zip_with_another_checksum_is_refused(closed_url):
    archive = make_zip(environment.data_dir() / "ml-1m" / "ml-1m.zip")
    with pytest.raises(DataError) as caught:
        load_dataset("ml-1m")
    message = str(caught.value)
    assert str(archive) in message and f"sha256 is {sha256(archive)}, expected {ml1m.SHA256}" in message


def test_offline_without_files_says_where_to_put_them(closed_url):
    with pytest.raises(DataError) as caught:
        load_dataset("ml-1m")
    message = str(caught.value)
    root = environment.data_dir()
    assert "downloading http://127.0.0.1:" in message and "failed" in message
    assert "put ml-1m.zip" in message and f"in {root}/" in message
    assert f"ml-1m.inter, ml-1m.item, ml-1m.user in {root / 'ml-1m'}/" in message
    assert not list(root.glob("*.part"))


def test_atomic_files_put_by_hand_are_used_without_network(tmp_path, closed_url):
    ml1m.convert(make_zip(tmp_path / "ml-1m.zip"), environment.data_dir() / "ml-1m")
    assert load_dataset("ml-1m").stats()["n_users"] == 3


def test_broken_archives_are_named(tmp_path, monkeypatch, closed_url):
    missing = make_zip(tmp_path / "a" / "ml-1m.zip", skip="users.dat")
    with pytest.raises(DataError, match=r"ml-1m\.zip: no users\.dat inside"):
        ml1m.convert(missing, tmp_path / "out")
    bad_line = make_zip(tmp_path / "b" / "ml-1m.zip", ratings=RATINGS + "4::1193::5\n")
    with pytest.raises(DataError, match=r"ml-1m\.zip:ratings\.dat:8: expected 4 '::'-separated fields"):
        ml1m.convert(bad_line, tmp_path / "out")
    not_zip = tmp_path / "c" / "ml-1m.zip"
    not_zip.parent.mkdir()
    not_zip.write_bytes(b"<html>error page</html>")
    with pytest.raises(DataError, match="not a zip file"):
        ml1m.convert(not_zip, tmp_path / "out")
    assert re.fullmatch(r"[0-9a-f]{64}", ml1m.SHA256)
