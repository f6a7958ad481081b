"""Parameter names, defaults and the parsing every command shares.

Names are RecBole's, so users' config files carry over. Values given on the command line
(``--set KEY=VALUE``) and in config files are read as YAML, never evaluated; a value that is not
valid YAML stays a string (``user_inter_num_interval=[5,inf)`` works as in RecBole).
Precedence, lowest first: model defaults < config file < command line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tuner.errors import ConfigError

# Dataset and preprocessing options (RecBole's names and meaning; docs/data.md says more).
DATA_DEFAULTS: dict[str, Any] = {
    "data_path": None,  # a RecBole atomic dataset folder (or its parent); None: the built-in or downloaded dataset of that name
    "USER_ID_FIELD": "user_id",  # the .inter column naming the user
    "ITEM_ID_FIELD": "item_id",  # the .inter column naming the item
    "TIME_FIELD": "timestamp",  # the .inter float column that orders each user's interactions
    # {inter: [...], item: [...], user: [...]}, a file's list '*' or null: all its columns; None: the .inter
    # file only (RecBole's ml-100k default; GRU4RecF adds its item fields with tuner.data.with_item_fields)
    "load_col": None,
    "val_interval": None,  # {field: "[low,high)"} keeps rows whose value lies in the interval(s)
    "filter_inter_by_user_or_item": True,  # drop interactions whose user/item is missing from a loaded .user/.item
    "user_inter_num_interval": None,  # "[5,inf)": k-core on users, repeated with items until stable
    "item_inter_num_interval": None,
    "rm_dup_inter": None,  # None | "first" | "last": drop repeated (user, item) pairs
    "normalize_all": True,  # min-max scale float fields (as RecBole's ml-100k config); orders timestamps as RecBole does
    "MAX_ITEM_LIST_LENGTH": 50,  # L: the last L items of each prefix form the input sequence
}

# Trainer options (RecBole's names and defaults).
TRAIN_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.001,  # Adam's step size
    "train_batch_size": 2048,
    "eval_batch_size": 4096,  # examples per full-sort scoring batch
    "epochs": 300,  # at most this many epochs
    "eval_step": 1,  # validate every eval_step epochs
    "stopping_step": 10,  # stop when more than this many validations in a row miss the best
    "valid_metric": "NDCG@10",  # early stopping and tuning read this one (RecBole's default is MRR@10)
    "metrics": ["Recall", "NDCG", "MRR", "Hit", "Precision"],
    "topk": [10],
    "weight_decay": 0.0,  # Adam's L2 penalty
    "seed": 2020,
    "reproducibility": True,  # deterministic cuDNN
    "device": "cpu",  # cpu | cuda | cuda:N
    "train_neg_sample_args": None,  # RecBole files need ~ with CE; BPR always samples one uniform negative
}

# Names users write that mean one of ours: RecBole's spellings, and the D2L tutorial's L for the window.
ALIASES: dict[str, str] = {"n_h": "nh", "n_v": "nv", "L": "MAX_ITEM_LIST_LENGTH"}


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``), as RecBole's loader does."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """Parse YAML safely (no Python objects, nothing evaluated) with RecBole's float rule."""
    return yaml.load(text, Loader=YamlLoader)  # noqa: S506 - YamlLoader is a SafeLoader


def parse_value(text: str) -> Any:
    """Read one ``--set`` value as YAML; text that is not valid YAML is kept as a string."""
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text


def parse_set_items(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["KEY=VALUE", ...]`` into a dict; later items win."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, for example --set learning_rate=0.01")
        out[key] = parse_value(value)
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file of RecBole parameter names into a dict."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file ({e.strerror})") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else "?"
        raise ConfigError(f"{path}:{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter names to values, got {type(data).__name__}")
    return data


def suggest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or an empty string."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f" (did you mean {close[0]!r}?)" if close else ""


def canonical(name: str) -> str:
    """The name a RecBole alias stands for (``n_h`` -> ``nh``)."""
    return ALIASES.get(name, name)


def check_names(names: Iterable[str], known: Iterable[str], where: str) -> None:
    """Raise :class:`ConfigError` naming the first unknown parameter and the closest known one."""
    known = list(known)
    for name in names:
        if canonical(name) not in known:
            raise ConfigError(f"{where}: unknown parameter {name!r}{suggest(name, known)}")


def check_no_alias_twice(names: Iterable[str], where: str) -> None:
    """One layer may not give a parameter under two names (``L`` and ``MAX_ITEM_LIST_LENGTH``): which would win?"""
    seen: dict[str, str] = {}
    for name in names:
        first = seen.setdefault(canonical(name), name)
        if first != name:
            raise ConfigError(f"{where}: {first!r} and {name!r} are the same parameter; give one of them")


def merge(defaults: Mapping[str, Any], layers: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Apply ``(where, values)`` layers over ``defaults``, lowest precedence first.

    Every key must be known (a key of ``defaults``, or an alias of one); ``where`` names the layer
    in the error (a file path, ``--set``).
    """
    out = dict(defaults)
    for where, values in layers:
        check_names(values, defaults, where)
        check_no_alias_twice(values, where)
        for name, value in values.items():
            out[canonical(name)] = value
    return out
