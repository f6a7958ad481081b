"""TUNER_STORAGE_FILE: the storage URL read from a file (a docker secret), so no password sits in the env."""

from __future__ import annotations

import pytest

from tuner import environment
from tuner.errors import ConfigError

URL = "postgresql+psycopg://tuner:s3cret-pw@postgres:5432/tuner"


@pytest.fixture
def clean_env(monkeypatch):
    for variable in environment.VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_the_url_comes_from_the_file_without_its_newline(clean_env, tmp_path):
    (tmp_path / "url").write_text(f"# written by the set-up step\n{URL}\n")
    clean_env.setenv(environment.STORAGE_FILE, str(tmp_path / "url"))
    assert environment.storage_url() == URL
    assert environment.storage_url("sqlite:///other.db") == "sqlite:///other.db", "--storage still wins"


def test_without_either_variable_the_default_is_sqlite(clean_env):
    assert environment.storage_url() == environment.DEFAULT_STORAGE


def test_setting_both_variables_is_an_error(clean_env, tmp_path):
    (tmp_path / "url").write_text(URL)
    clean_env.setenv(environment.STORAGE_FILE, str(tmp_path / "url"))
    clean_env.setenv(environment.STORAGE, "sqlite:///x.db")
    with pytest.raises(ConfigError, match="both TUNER_STORAGE and TUNER_STORAGE_FILE"):
        environment.storage_url()


def test_a_missing_file_is_named(clean_env, tmp_path):
    clean_env.setenv(environment.STORAGE_FILE, str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match=r"absent: cannot read the storage URL"):
        environment.storage_url()


@pytest.mark.parametrize("text", ["", "\n  \n", f"{URL}\n{URL}\n"])
def test_a_file_without_exactly_one_url_is_refused_without_printing_it(clean_env, tmp_path, text):
    (tmp_path / "url").write_text(text)
    clean_env.setenv(environment.STORAGE_FILE, str(tmp_path / "url"))
    with pytest.raises(ConfigError, match="expected exactly one line") as error:
        environment.storage_url()
    assert "s3cret-pw" not in str(error.value)
