"""What a dataset name or path means: built-in names, folders, data_path, $TUNER_DATA_DIR."""

from __future__ import annotations

import shutil

import pytest

from data_folders import ML100K
from tuner import environment
from tuner.data import load_dataset
from tuner.errors import DataError

INTER = "user_id:token\titem_id:token\ttimestamp:float\na\tx\t1\na\ty\t2\na\tz\t3\n"


def test_a_folder_path_is_read_by_its_name(tiny):
    assert load_dataset(str(tiny)).name == "tiny"


def test_a_folder_with_one_inter_file_of_another_name(tmp_path):
    folder = tmp_path / "download"
    folder.mkdir()
    (folder / "books.inter").write_text(INTER)
    dataset = load_dataset(str(folder))
    assert dataset.name == "books" and dataset.stats()["n_test"] == 1


def test_data_path_accepts_the_folder_or_its_parent(tmp_path):
    copy = tmp_path / "datasets" / "ml-100k"
    shutil.copytree(ML100K, copy)
    (copy / "NOTICE").unlink()
    (copy / "ml-100k.inter").write_text(INTER)  # not the built-in one: the data_path copy must be read
    for data_path in (copy, copy.parent):
        assert load_dataset("ml-100k", {"data_path": str(data_path), "filter_inter_by_user_or_item": False}).n_interactions == 3


def test_data_path_without_the_files(tmp_path):
    with pytest.raises(DataError, match=r"neither books\.inter nor books/books\.inter is there \(data_path\)"):
        load_dataset("books", {"data_path": str(tmp_path)})


def test_names_in_the_data_folder(tmp_path):
    folder = environment.data_dir() / "books"
    folder.mkdir(parents=True)
    (folder / "books.inter").write_text(INTER)
    assert load_dataset("books").n_interactions == 3


def test_unknown_names_list_the_known_ones_and_suggest():
    with pytest.raises(DataError) as caught:
        load_dataset("ml-100")
    message = str(caught.value)
    assert "unknown dataset 'ml-100'" in message and "did you mean 'ml-100k'" in message
    assert "synthetic-tiny" in message and str(environment.data_dir()) in message


def test_missing_folder_path(tmp_path):
    with pytest.raises(DataError, match="no such dataset folder"):
        load_dataset(str(tmp_path / "nowhere"))


def test_folder_without_a_matching_inter_file(tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "a.inter").write_text(INTER)
    (folder / "b.inter").write_text(INTER)
    with pytest.raises(DataError, match=r"expected two\.inter \(RecBole's <folder name>\.inter\); found a\.inter, b\.inter"):
        load_dataset(str(folder))


def test_built_in_names_win_over_a_folder_of_that_name_in_the_working_directory(tmp_path, monkeypatch):
    local = tmp_path / "ml-100k"
    local.mkdir()
    (local / "ml-100k.inter").write_text(INTER)
    monkeypatch.chdir(tmp_path)
    assert load_dataset("ml-100k").n_interactions == 100000
    assert load_dataset("./ml-100k").n_interactions == 3


def test_users_with_one_interaction_only_give_no_training_data(tmp_path):
    folder = tmp_path / "single"
    folder.mkdir()
    (folder / "single.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\na\tx\t1\nb\ty\t2\n")
    with pytest.raises(DataError, match="no training examples after filtering"):
        load_dataset(str(folder))
