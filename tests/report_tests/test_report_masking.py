"""Storage URLs are shown with the password masked; error text has the password replaced."""

from __future__ import annotations

import pytest

from tuner.environment import mask_url, redact


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg://tuner:s3cret@db:5432/tuner", "postgresql+psycopg://tuner:***@db:5432/tuner"),
    ("postgresql+psycopg://tuner:p%40ss@db/tuner", "postgresql+psycopg://tuner:***@db/tuner"),
    ("postgresql+psycopg://tuner@db/tuner", "postgresql+psycopg://tuner@db/tuner"),
    ("sqlite:///tuner.db", "sqlite:///tuner.db"),
    ("not a url://u:secret@host", "not a url://u:***@host"),
])
def test_mask_url(url, shown):
    assert mask_url(url) == shown


def test_redact_hides_the_password_as_typed_and_as_encoded():
    url = "postgresql+psycopg://tuner:p%40ss w@db/tuner"
    text = f"failed: {url}; password 'p@ss w' rejected; raw p%40ss w"
    out = redact(text, url)
    assert "p@ss w" not in out and "p%40ss w" not in out
    assert "postgresql+psycopg://tuner:***@db/tuner" in out


def test_redact_without_a_password_changes_nothing():
    assert redact("boom", "sqlite:///x.db") == "boom"
