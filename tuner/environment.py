"""The environment contract shared by the CLI, docker-compose.yml and the docs.

Every variable is optional; a command-line option wins over its variable.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, quote_plus
from pathlib import Path

from tuner.errors import ConfigError

STORAGE = "TUNER_STORAGE"  # SQLAlchemy URL of the shared database
STORAGE_FILE = "TUNER_STORAGE_FILE"  # a file holding that URL (a docker secret), so no password sits in the env
DEVICES = "TUNER_DEVICES"  # worker devices: auto | cpu | cuda:0,cuda:1,...
TRIALS_PER_DEVICE = "TUNER_TRIALS_PER_DEVICE"  # worker slots per device
DATA_DIR = "TUNER_DATA_DIR"  # where dataset folders (and downloads such as ml-1m) are looked for
CACHE_DIR = "TUNER_CACHE_DIR"  # where parsed datasets are cached
NATIVE_KERNELS = "TUNER_NATIVE_KERNELS"  # 0 turns off the C++ CPU kernels (tuner/models/native.py)
KERNEL_DIR = "TUNER_KERNEL_DIR"  # where the C++ CPU kernels are built, one folder per build key

# Every variable of the contract; the deployment tests check docker-compose.yml sets no other TUNER_*.
VARIABLES = (STORAGE, STORAGE_FILE, DEVICES, TRIALS_PER_DEVICE, DATA_DIR, CACHE_DIR, NATIVE_KERNELS, KERNEL_DIR)

DEFAULT_STORAGE = "sqlite:///tuner.db"


def storage_url(explicit: str | None = None) -> str:
    """``--storage``, else ``$TUNER_STORAGE``, else the URL in the file ``$TUNER_STORAGE_FILE``,
    else the embedded SQLite file ``tuner.db``.

    Setting both variables is an error (as with the postgres image's ``X`` / ``X_FILE`` pairs): one of
    them would be silently ignored.
    """
    if explicit:
        return explicit
    from_env, file_name = os.environ.get(STORAGE), os.environ.get(STORAGE_FILE)
    if from_env and file_name:
        raise ConfigError(f"both {STORAGE} and {STORAGE_FILE} are set; set only one of them")
    if from_env:
        return from_env
    if file_name:
        return _read_storage_file(Path(file_name))
    return DEFAULT_STORAGE


def _read_storage_file(path: Path) -> str:
    # The message names the file only: its content is a URL with a password in it.
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the storage URL named by {STORAGE_FILE} ({e.strerror})") from None
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) != 1:
        raise ConfigError(
            f"{path}: expected exactly one line with a storage URL (from {STORAGE_FILE}), found {len(lines)}"
        )
    return lines[0]


def cache_dir() -> Path:
    """``$TUNER_CACHE_DIR``, else ``$XDG_CACHE_HOME/seqrec-tuner``, else ``~/.cache/seqrec-tuner``."""
    if os.environ.get(CACHE_DIR):
        return Path(os.environ[CACHE_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "seqrec-tuner"


def kernel_dir() -> Path:
    """``$TUNER_KERNEL_DIR``, else ``kernels/`` in the cache folder (``~/.cache/seqrec-tuner/kernels``)."""
    if os.environ.get(KERNEL_DIR):
        return Path(os.environ[KERNEL_DIR])
    return cache_dir() / "kernels"


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
