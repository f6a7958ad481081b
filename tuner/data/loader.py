"""``load_dataset``: a name or folder and options -> a split :class:`SequentialDataset`, parsed once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tuner.data import cache, sources
from tuner.data.dataset import SequentialDataset
from tuner.data.options import resolve_options
from tuner.data.prepared import Prepared, prepare
from tuner.data.sequences import build_dataset


def load_dataset(name_or_path: str, options: Mapping[str, Any] | None = None) -> SequentialDataset:
    """RecBole's sequential dataset for ``name_or_path`` (see sources.py for what names mean).

    ``options`` are ``DATA_DEFAULTS`` keys (``dataset_option_names()``). Files are parsed once: the
    filtered interactions are cached on disk (keyed by file contents and options) and, with the split
    for each ``MAX_ITEM_LIST_LENGTH``, in memory. The returned tensors are shared: do not modify them.
    """
    opts = resolve_options(options)
    source = sources.resolve(str(name_or_path), opts)
    key = cache.cache_key(source.fingerprint(), opts.cache_key_fields())

    def build_prepared() -> Prepared:
        return prepare(source.read(opts), opts, source.name)

    def build() -> SequentialDataset:
        on_disk = isinstance(source, sources.FolderSource)  # generating is as fast as reading a cache
        return build_dataset(cache.prepared(key, source.name, build_prepared, on_disk), opts.max_item_list_length)

    return cache.memory_dataset((key, opts.max_item_list_length), build)
