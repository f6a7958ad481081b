"""The environment contract shared by the CLI, docker-compose.yml and the docs.

Every variable is optional; a command-line option wins over its variable.
"""

from __future__ import annotations

import os
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
