"""Every data test gets its own cache and data folders, and starts with an empty memory cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_folders import write_tiny
from tuner import environment
from tuner.data import clear_memory



@pytest.fixture(autouse=True)
def isolated_folders(tmp_path, monkeypatch):
    monkeypatch.setenv(environment.CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.setenv(environment.DATA_DIR, str(tmp_path / "data"))
    clear_memory()
    yield
    clear_memory()


@pytest.fixture
def tiny(tmp_path) -> Path:
    """The hand-made atomic folder of data_folders.py (tiny.inter, tiny.item, tiny.user)."""
    return write_tiny(tmp_path / "tiny")


@pytest.fixture
def atomic(tmp_path):
    """Write an atomic folder from {suffix: text}; returns the folder (named ``name``)."""

    def _write(files: dict[str, str], name: str = "toy") -> Path:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        for suffix, text in files.items():
            (folder / f"{name}.{suffix}").write_bytes(text.encode("utf-8"))
        return folder

    return _write
