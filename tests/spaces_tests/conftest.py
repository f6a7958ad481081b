from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path):
    """Write ``text`` to a file under tmp_path (bytes as given: CRLF stays CRLF) and return its path."""

    def _write(text: str, name: str = "space.hyper") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8"))
        return path

    return _write
