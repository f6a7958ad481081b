"""Parse a dataset once: a disk cache shared by processes, and a per-process memory cache.

The disk entry is keyed by a hash of the files' contents, the preprocessing options and
``FORMAT_VERSION`` (bump it whenever what ``prepare`` produces changes). It is written to a temporary
file in the same folder and renamed into place, so several processes may build the same entry at
once and a reader never sees half a file; an unreadable entry is rebuilt. Contents are hashed once
per process for a given (path, size, mtime): a worker running many trials only stats the files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

import torch

from tuner import environment
from tuner.data.prepared import Prepared

FORMAT_VERSION = 2  # of the cached payload and of the preprocessing that produced it
MEMORY_ENTRIES = 8  # datasets kept per process (a study may tune MAX_ITEM_LIST_LENGTH over a few values)

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Lru:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int):
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_prepared = _Lru(MEMORY_ENTRIES)
_datasets = _Lru(MEMORY_ENTRIES)
_digests: dict[tuple, str] = {}


def clear_memory() -> None:
    """Forget what this process holds (tests and benchmarks; the disk cache stays)."""
    _prepared.clear()
    _datasets.clear()
    _digests.clear()


def file_digest(path: Path) -> str:
    """sha256 of a file's contents, remembered for as long as its size and times do not change."""
    st = path.stat()
    stamp = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    digest = _digests.get(stamp)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        digest = h.hexdigest()
        _digests[stamp] = digest
    return digest


def cache_key(fingerprint: dict[str, Any], options: dict[str, Any]) -> str:
    text = json.dumps({"format": FORMAT_VERSION, "source": fingerprint, "options": options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def memory_dataset(key: Hashable, build: Callable[[], T]) -> T:
    """The process-level cache of finished datasets."""
    found = _datasets.get(key)
    if found is None:
        found = build()
        _datasets.put(key, found)
    return found


def prepared(key: str, name: str, build: Callable[[], Prepared], on_disk: bool) -> Prepared:
    """``build()``'s result for ``key``: from memory, else from the disk cache, else built (and stored)."""
    found = _prepared.get(key)
    if found is not None:
        return found
    path = _entry_path(key, name) if on_disk else None
    found = _read_entry(path, key) if path is not None else None
    if found is None:
        found = build()
        if path is not None:
            _write_entry(path, key, found)
    _prepared.put(key, found)
    return found


def _entry_path(key: str, name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] or "dataset"
    return environment.cache_dir() / "datasets" / f"{safe}-{key[:32]}.pt"


def _read_entry(path: Path, key: str) -> Prepared | None:
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, weights_only=True)
        if payload.get("format") != FORMAT_VERSION or payload.get("key") != key:
            return None
        return Prepared.from_payload(payload["prepared"])
    except Exception as e:  # a damaged or foreign file is only a cache miss
        log.warning("ignoring unreadable dataset cache %s (%s); rebuilding it", path, e)
        return None


def _write_entry(path: Path, key: str, value: Prepared) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save({"format": FORMAT_VERSION, "key": key, "prepared": value.to_payload()}, f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:  # a read-only or full cache folder costs speed, not correctness
        log.warning("cannot write dataset cache %s (%s)", path, e)
