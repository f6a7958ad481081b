"""Parse once: datasets are cached on disk (keyed by file contents and options) and in memory.

A worker running many trials asks for the same dataset again and again; after the first parse it
costs a dictionary look-up in that process, and a fresh process reads one tensor file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from tuner.data.dataset import SequentialDataset, Split

FORMAT_VERSION = 2  # bump when the pipeline's output changes, so old cache files are not read
_memory: dict[str, SequentialDataset] = {}


def options_key(options: Mapping[str, Any]) -> str:
    return json.dumps(options, sort_keys=True, default=str)


def content_key(files: Mapping[str, Path], options: Mapping[str, Any]) -> str:
    h = hashlib.sha256(f"v{FORMAT_VERSION}|{options_key(options)}".encode())
    for part in sorted(files):
        h.update(part.encode())
        with open(files[part], "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:32]


def stat_key(files: Mapping[str, Path], options: Mapping[str, Any]) -> str:
    """A cheap in-process key: paths, sizes and modification times instead of contents."""
    parts = [(p, str(files[p].resolve()), files[p].stat().st_size, files[p].stat().st_mtime_ns) for p in sorted(files)]
    return json.dumps([FORMAT_VERSION, parts, options_key(options)])


def cached(files: Mapping[str, Path], options: Mapping[str, Any], directory: Path | None,
           parse: Callable[[], SequentialDataset]) -> SequentialDataset:
    """The dataset from memory, else from ``directory`` on disk, else ``parse()`` and store it in both."""
    mem_key = stat_key(files, options)
    if mem_key in _memory:
        return _memory[mem_key]
    path = directory / f"{content_key(files, options)}.pt" if directory is not None else None
    dataset = _read(path) if path is not None and path.exists() else None
    if dataset is None:
        dataset = parse()
        if path is not None:
            _write(path, dataset)
    _memory[mem_key] = dataset
    return dataset


def remember(key: str, make: Callable[[], SequentialDataset]) -> SequentialDataset:
    """In-memory only, for generated datasets that have no files."""
    if key not in _memory:
        _memory[key] = make()
    return _memory[key]


def clear_memory() -> None:
    _memory.clear()


def _to_plain(dataset: SequentialDataset) -> dict[str, Any]:
    plain = {f.name: getattr(dataset, f.name) for f in fields(SequentialDataset)}
    for part in ("train", "valid", "test"):
        plain[part] = {f.name: getattr(getattr(dataset, part), f.name) for f in fields(Split)}
    return plain


def _read(path: Path) -> SequentialDataset | None:
    try:
        plain = torch.load(path, weights_only=True)
        for part in ("train", "valid", "test"):
            plain[part] = Split(**plain[part])
        return SequentialDataset(**plain)
    except Exception:  # a torn or outdated file is re-parsed, never trusted
        return None


def _write(path: Path, dataset: SequentialDataset) -> None:
    """Write atomically (temporary file + rename), so workers sharing a cache never read half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            torch.save(_to_plain(dataset), f)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache directory costs speed, not correctness
