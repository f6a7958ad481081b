"""A dataset is parsed once: in memory within a process, on disk across processes; new contents, new parse."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from data_expectations import ALL_FILES
from tuner import environment
from tuner.data import atomic, clear_memory, load_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def parse_counter(monkeypatch):
    """Count calls of the real atomic-file parser."""
    calls = []
    real = atomic.read_table

    def counting(path, *args, **kwargs):
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(atomic, "read_table", counting)
    return calls


def cache_files() -> list[Path]:
    return sorted((environment.cache_dir() / "datasets").glob("*.pt"))


def test_second_load_in_a_process_parses_nothing_and_returns_the_same_object(tiny, parse_counter):
    first = load_dataset(str(tiny), {"load_col": ALL_FILES})
    assert parse_counter == ["tiny.inter", "tiny.user", "tiny.item"]
    again = load_dataset(str(tiny), {"load_col": ALL_FILES})
    assert again is first
    assert len(parse_counter) == 3


def test_disk_cache_serves_a_fresh_process_without_parsing(tiny, parse_counter):
    first = load_dataset(str(tiny), {"load_col": ALL_FILES})
    assert len(cache_files()) == 1
    clear_memory()  # as a new process would start
    second = load_dataset(str(tiny), {"load_col": ALL_FILES})
    assert len(parse_counter) == 3  # no parse the second time
    assert second is not first and second.stats() == first.stats()
    assert second.train.item_seq.equal(first.train.item_seq) and second.item_tokens == first.item_tokens
    for field, table in first.item_features.items():
        assert second.item_features[field].equal(table)


@pytest.mark.slow
def test_a_real_second_process_reads_the_disk_cache(tiny):
    load_dataset(str(tiny))
    script = textwrap.dedent(
        f"""
        from tuner.data import atomic, load_dataset
        def refuse(*a, **k):
            raise SystemExit("parsed again")
        atomic.read_table = refuse
        print(load_dataset({str(tiny)!r}).stats()["n_train"])
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=dict(os.environ), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(load_dataset(str(tiny)).stats()["n_train"])


def test_different_L_reuses_the_parse(tiny, parse_counter):
    short = load_dataset(str(tiny), {"MAX_ITEM_LIST_LENGTH": 2})
    long = load_dataset(str(tiny), {"MAX_ITEM_LIST_LENGTH": 50})
    assert parse_counter == ["tiny.inter"]
    assert short.train.item_seq.shape[1] == 2 and long.train.item_seq.shape[1] == 50
    assert len(cache_files()) == 1


def test_changed_contents_or_options_parse_again(tiny, parse_counter):
    before = load_dataset(str(tiny))
    inter = tiny / "tiny.inter"
    inter.write_text(inter.read_text() + "u7\ti9\t5\t700\n")
    after = load_dataset(str(tiny))
    assert len(parse_counter) == 2
    assert after.n_interactions == before.n_interactions + 1
    load_dataset(str(tiny), {"val_interval": {"rating": "[2,inf)"}})
    assert len(parse_counter) == 3
    assert len(cache_files()) == 3


def test_a_damaged_cache_file_is_rebuilt(tiny, parse_counter):
    expected = load_dataset(str(tiny)).stats()
    (entry,) = cache_files()
    entry.write_bytes(b"not a torch file")
    clear_memory()
    assert load_dataset(str(tiny)).stats() == expected
    assert len(parse_counter) == 2
    clear_memory()
    load_dataset(str(tiny))
    assert len(parse_counter) == 2  # the rebuilt entry is good again


@pytest.mark.slow
def test_processes_building_the_same_entry_at_once_all_succeed(tiny):
    script = f"from tuner.data import load_dataset; print(load_dataset({str(tiny)!r}).stats()['n_interactions'])"
    procs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in results), results
    assert {out.strip() for out, _, _ in results} == {"19"}
    assert len(cache_files()) == 1
    assert not list((environment.cache_dir() / "datasets").glob("*.tmp"))
    clear_memory()
    assert load_dataset(str(tiny)).n_interactions == 19


def test_unwritable_cache_folder_only_costs_speed(tiny, monkeypatch, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv(environment.CACHE_DIR, str(blocked))
    assert load_dataset(str(tiny)).n_interactions == 19
