import pytest

from tuner.data import cache


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Each test gets an empty disk cache and memory cache, so cache behaviour is observable."""
    monkeypatch.setenv("TUNER_CACHE_DIR", str(tmp_path / "cache"))
    cache.clear_memory()
    yield
    cache.clear_memory()
