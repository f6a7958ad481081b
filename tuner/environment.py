"""The environment contract shared by the CLI, docker-compose.yml and the docs.

Every variable is optional; a command-line option wins over its variable.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, quote_plus
from pathlib import Path

STORAGE = "TUNER_STORAGE"  # SQLAlchemy URL of the shared database
DEVICES = "TUNER_DEVICES"  # worker devices: auto | cpu | cuda:0,cuda:1,...
TRIALS_PER_DEVICE = "TUNER_TRIALS_PER_DEVICE"  # worker slots per device
DATA_DIR = "TUNER_DATA_DIR"  # where dataset folders (and downloads such as ml-1m) are looked for
CACHE_DIR = "TUNER_CACHE_DIR"  # where parsed datasets are cached

DEFAULT_STORAGE = "sqlite:///tuner.db"


def storage_url(explicit: str | None = None) -> str:
    """``--storage``, else ``$TUNER_STORAGE``, else the embedded SQLite file ``tuner.db``."""
    return explicit or os.environ.get(STORAGE) or DEFAULT_STORAGE


def cache_dir() -> Path:
    """``$TUNER_CACHE_DIR``, else ``$XDG_CACHE_HOME/seqrec-tuner``, else ``~/.cache/seqrec-tuner``."""
    if os.environ.get(CACHE_DIR):
        return Path(os.environ[CACHE_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "seqrec-tuner"


def data_dir() -> Path:
    """``$TUNER_DATA_DIR``, else ``~/.local/share/seqrec-tuner/datasets`` (downloads go here)."""
    if os.environ.get(DATA_DIR):
        return Path(os.environ[DATA_DIR])
    return Path.home() / ".local" / "share" / "seqrec-tuner" / "datasets"


def mask_url(url: str) -> str:
    """The storage URL with its password replaced by ``***``: the only form a URL is ever shown in."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Not a URL SQLAlchemy can read: hide whatever sits between "user:" and "@".
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def redact(text: str, url: str) -> str:
    """``text`` (an error message, a log line) with the URL's password, if any, replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = text.replace(url, mask_url(url))
    match = re.search(r"://[^:/@]*:([^@]*)@", url)
    forms = {match.group(1)} if match and match.group(1) else set()  # as written in the URL
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        password = None
    if password:  # as typed, and percent-encoded either way
        forms |= {str(password), quote(str(password), safe=""), quote_plus(str(password))}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text
