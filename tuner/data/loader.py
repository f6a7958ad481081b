"""``load_dataset``: a name or folder and RecBole's options in, a split :class:`SequentialDataset` out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner import environment
from tuner.config import DATA_DEFAULTS, check_names
from tuner.data import cache, synthetic
from tuner.data.build import build_dataset
from tuner.data.dataset import SequentialDataset
from tuner.data.files import load_tables
from tuner.data.movielens import ensure_ml1m
from tuner.errors import DataError

BUILTIN_DIR = Path(__file__).parent / "builtin"
BUILTIN_NAMES = ("ml-100k", "ml-1m", *synthetic.PRESETS)


def dataset_option_names() -> list[str]:
    return list(DATA_DEFAULTS)


def load_dataset(name_or_path: str, options: Mapping[str, Any] | None = None) -> SequentialDataset:
    """Load, filter, remap and split a dataset, parsing its files at most once per content and options.

    ``name_or_path``: a dataset folder (files ``<folder name>.inter`` ...), a name under ``data_path``,
    a built-in name (ml-100k ships with the tool; ml-1m is downloaded on first use), or a synthetic name.
    ``options``: DATA_DEFAULTS keys (other keys are ignored, so a whole run configuration can be passed).
    """
    given = dict(options or {})
    opts = {k: given.get(k, v) for k, v in DATA_DEFAULTS.items()}
    data_path = opts.pop("data_path")
    spec = synthetic.parse_name(str(name_or_path))
    if spec is not None:
        key = f"{name_or_path}|{cache.options_key(opts)}"
        return cache.remember(key, lambda: build_dataset(str(name_or_path), synthetic.generate(spec), opts))
    folder, name = resolve_folder(str(name_or_path), data_path)
    files = {p: folder / f"{name}.{p}" for p in ("inter", "item", "user") if (folder / f"{name}.{p}").is_file()}

    def parse() -> SequentialDataset:
        return build_dataset(name, load_tables(folder, name, opts["load_col"]), opts)

    if "inter" not in files:
        return parse()  # raises the missing-file error with its path
    return cache.cached(files, opts, environment.cache_dir() / "datasets", parse)


def resolve_folder(name_or_path: str, data_path: object) -> tuple[Path, str]:
    path = Path(name_or_path).expanduser()
    if data_path is not None:
        folder = Path(str(data_path)).expanduser() / name_or_path
        if not folder.is_dir():
            raise DataError(f"{folder}: no such dataset folder (data_path {data_path!r} + dataset {name_or_path!r})")
        return folder, folder.name
    if path.is_dir():
        return path, path.resolve().name
    if name_or_path in ("ml-100k",):
        return BUILTIN_DIR / name_or_path, name_or_path
    if name_or_path == "ml-1m":
        return ensure_ml1m(environment.data_dir()), "ml-1m"
    downloaded = environment.data_dir() / name_or_path
    if downloaded.is_dir():
        return downloaded, name_or_path
    raise DataError(
        f"dataset {name_or_path!r}: not a folder and not a built-in name ({', '.join(BUILTIN_NAMES)}, synthetic:users=..); "
        f"give a RecBole atomic dataset folder, or put it in {environment.data_dir()}"
    )


def check_option_names(options: Mapping[str, Any], where: str) -> None:
    check_names(options, DATA_DEFAULTS, where)
