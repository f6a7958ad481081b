"""Where a dataset comes from, by name or path, and how to read it into atomic tables.

Resolution, first match wins:

1. ``synthetic-tiny``, ``synthetic-small``, ``synthetic:...``: generated (synthetic.py);
2. ``data_path`` set: ``data_path/<name>.inter``, or RecBole's layout ``data_path/<name>/<name>.inter``;
3. ``ml-100k``: the copy shipped in the package (see builtin/ml-100k/NOTICE);
4. ``ml-1m``: ``$TUNER_DATA_DIR/ml-1m/``, downloaded and converted on first use (ml1m.py);
5. an existing folder: its ``<folder name>.inter`` (or its only ``.inter`` file);
6. ``$TUNER_DATA_DIR/<name>/<name>.inter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner import environment
from tuner.config import suggest
from tuner.data import atomic, ml1m, synthetic
from tuner.data.atomic import AtomicTables, Table
from tuner.data.cache import file_digest
from tuner.data.options import DataOptions
from tuner.errors import ConfigError, DataError

BUILTIN_FOLDER = Path(__file__).parent / "builtin"
BUILTIN_NAMES = ("ml-100k", "ml-1m", "synthetic-tiny", "synthetic-small")


@dataclass(frozen=True)
class FolderSource:
    """A folder of RecBole atomic files ``<stem>.inter`` (required), ``<stem>.item``, ``<stem>.user``."""

    name: str  # the dataset's name (RecBole's ``dataset``)
    folder: Path
    stem: str  # the atomic files' common name

    def path(self, suffix: str) -> Path:
        return self.folder / f"{self.stem}.{suffix}"

    def fingerprint(self) -> dict[str, Any]:
        files = {}
        for suffix in ("inter", "item", "user"):
            path = self.path(suffix)
            files[suffix] = file_digest(path) if path.is_file() else None
        if files["inter"] is None:
            raise DataError(f"{self.path('inter')}: file not found; a RecBole dataset folder holds {self.stem}.inter")
        return {"kind": "atomic", "name": self.name, "files": files}

    def read(self, opts: DataOptions) -> AtomicTables:
        required = _required_columns(opts)
        inter = self._read("inter", required["inter"], opts)
        assert inter is not None
        user = self._read("user", required["user"], opts)
        item = self._read("item", required["item"], opts)
        return AtomicTables(inter=inter, item=item, user=user)

    def _read(self, suffix: str, required: dict[str, tuple[str, str]], opts: DataOptions) -> Table | None:
        path = self.path(suffix)
        if suffix not in opts.load_col:
            return None  # RecBole does not read a file that load_col leaves out
        if suffix != "inter" and not path.is_file():
            raise DataError(f"{path}: file not found (load_col names the {suffix} file)")
        columns = opts.load_col[suffix]
        _check_required(columns, required, suffix)
        table = atomic.read_table(path, columns, non_empty=[opts.time_field] if suffix == "inter" else [])
        for field, (option, ftype) in required.items():
            atomic.require_column(path, table.types, field, option, ftype)
        return table


def _required_columns(opts: DataOptions) -> dict[str, dict[str, tuple[str, str]]]:
    """suffix -> column the file must have -> (the option naming it, the type RecBole needs)."""
    user = {opts.user_field: ("USER_ID_FIELD", "token")}
    item = {opts.item_field: ("ITEM_ID_FIELD", "token")}
    return {"inter": {**user, **item, opts.time_field: ("TIME_FIELD", "float")}, "user": user, "item": item}


def _check_required(columns: tuple[str, ...] | None, required: dict[str, tuple[str, str]], suffix: str) -> None:
    if columns is None:
        return
    for field, (option, _) in required.items():
        if field not in columns:
            raise ConfigError(f"load_col.{suffix} leaves out {field!r} ({option}), which the {suffix} file needs")


@dataclass(frozen=True)
class SyntheticSource:
    """A generated dataset."""

    spec: synthetic.SyntheticSpec

    @property
    def name(self) -> str:
        return self.spec.name

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "synthetic", "spec": self.spec.name}

    def read(self, opts: DataOptions) -> AtomicTables:
        fixed = {"USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp"}
        given = {"USER_ID_FIELD": opts.user_field, "ITEM_ID_FIELD": opts.item_field, "TIME_FIELD": opts.time_field}
        for option, value in given.items():
            if value != fixed[option]:
                raise ConfigError(f"{option}: synthetic datasets name it {fixed[option]!r}, got {value!r}")
        generated = synthetic.generate(self.spec)
        tables: dict[str, Table | None] = {"inter": generated.inter, "item": generated.item}
        required = _required_columns(opts)
        for suffix, table in tables.items():  # load_col picks files and columns as it does for files
            if suffix not in opts.load_col or table is None:
                tables[suffix] = None
                continue
            _check_required(opts.load_col[suffix], required[suffix], suffix)
            tables[suffix] = atomic.select_columns(table, opts.load_col[suffix])
        if "user" in opts.load_col:
            raise DataError(f"{self.name}: a generated dataset has no user file (load_col names one)")
        assert tables["inter"] is not None
        return AtomicTables(inter=tables["inter"], item=tables["item"], user=None)


Source = FolderSource | SyntheticSource


def resolve(name_or_path: str, opts: DataOptions) -> Source:
    if synthetic.is_synthetic(name_or_path):
        return SyntheticSource(synthetic.parse_spec(name_or_path))
    if opts.data_path is not None:
        return _in_data_path(name_or_path, Path(opts.data_path).expanduser())
    if name_or_path == "ml-100k":  # a built-in name means the same in any working directory (./ml-100k is a path)
        return FolderSource(name="ml-100k", folder=BUILTIN_FOLDER / "ml-100k", stem="ml-100k")
    root = environment.data_dir()
    if name_or_path == ml1m.NAME:
        return FolderSource(name=ml1m.NAME, folder=ml1m.ensure(root), stem=ml1m.NAME)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return _folder(path)
    if (root / name_or_path / f"{name_or_path}.inter").is_file():
        return FolderSource(name=name_or_path, folder=root / name_or_path, stem=name_or_path)
    if "/" in name_or_path or name_or_path.startswith("."):
        raise DataError(f"{name_or_path}: no such dataset folder")
    known = [*BUILTIN_NAMES, *_names_in(root)]
    raise DataError(
        f"unknown dataset {name_or_path!r}{suggest(name_or_path, known)}: expected one of "
        f"{', '.join(known)}, a folder of RecBole atomic files, or a folder {root / name_or_path}/ "
        f"holding {name_or_path}.inter"
    )


def _in_data_path(name: str, base: Path) -> FolderSource:
    stem = Path(name).name
    for folder in (base, base / stem):
        if (folder / f"{stem}.inter").is_file():
            return FolderSource(name=stem, folder=folder, stem=stem)
    raise DataError(f"{base}: neither {stem}.inter nor {stem}/{stem}.inter is there (data_path)")


def _folder(path: Path) -> FolderSource:
    stem = path.resolve().name
    if (path / f"{stem}.inter").is_file():
        return FolderSource(name=stem, folder=path, stem=stem)
    inters = sorted(path.glob("*.inter"))
    if len(inters) == 1:
        return FolderSource(name=inters[0].stem, folder=path, stem=inters[0].stem)
    found = ", ".join(p.name for p in inters) or "no .inter file"
    raise DataError(f"{path}: expected {stem}.inter (RecBole's <folder name>.inter); found {found}")


def _names_in(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / f"{p.name}.inter").is_file())
