"""A job spec (``studies/*.yaml``): read, checked key by key with ``FILE:LINE:`` messages, frozen.

This module checks the spec's own shape (keys, types, the objective, sampler and pruner settings).
What needs other modules (the search space, parameter names, the dataset) is checked by
:func:`tuner.service.jobs.prepare`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tuner.config import suggest
from tuner.errors import JobError, at

# name: what it holds; required keys have no default in JobSpec.
KEYS = (
    "name", "model", "dataset", "search_space", "params", "objective",
    "n_trials", "timeout_hours", "sampler", "pruner", "max_retries", "confirm", "fuse",
)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Metrics the trainer computes (RecBole's, lower-cased as in RunResult keys) and RecBole's spelling.
METRICS = {"recall": "Recall", "ndcg": "NDCG", "mrr": "MRR", "hit": "Hit", "precision": "Precision"}
OBJECTIVE_PATTERN = re.compile(r"([A-Za-z]+)@([1-9][0-9]*)")
# Objectives without a cut-off: only a protocol that ranks every candidate computes them (CaserD2L's; the
# model is checked at submit, by the settings).
FULL_RANK_OBJECTIVES = {"auc": "AUC"}
# Per sampler / pruner: the settings a spec may give (passed to Optuna's class of that name).
SAMPLER_OPTIONS = {
    "tpe": ("seed", "n_startup_trials", "n_ei_candidates", "multivariate", "constant_liar", "consider_endpoints"),
    "random": ("seed",),
    "grid": ("seed",),  # grid points are queued in an order shuffled by this seed (None: file order)
}
PRUNER_OPTIONS = {
    "none": (),
    "median": ("n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"),
    "hyperband": ("min_resource", "max_resource", "reduction_factor", "bootstrap_count"),
    "successive_halving": ("min_resource", "reduction_factor", "min_early_stopping_rate", "bootstrap_count"),  # ASHA
    "topk": ("k", "epoch"),  # every configuration trains `epoch` epochs, the k best in full (tuner.service.pruners)
}
DEFAULT_MAX_RETRIES = 2


@dataclass(frozen=True)
class JobSpec:
    """What a job runs; stored with the job (``records.SPEC``) so any worker can rebuild it."""

    name: str  # the job's name, also its Optuna study name
    model: str  # "Caser" or "GRU4RecF"
    dataset: str  # a built-in dataset name, or the absolute path of a RecBole atomic dataset folder
    search_space: str  # the space file as the spec names it (its text is stored with the job)
    objective: str  # the validation metric maximised, lower-case: "ndcg@10"
    n_trials: int | None  # the budget: trials run (complete, pruned or failed) across all workers; None: the grid size
    params: dict[str, Any] = field(default_factory=dict)  # fixed parameters by RecBole name
    timeout_hours: float | None = None  # no trial starts later than this after the job's first trial
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "tpe"})  # {name, ...Optuna settings}
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "none"})  # {name, ...Optuna settings}
    max_retries: int = DEFAULT_MAX_RETRIES  # reruns of a trial whose worker died (SIGKILL, lost host)
    # After the search: the `top` best configurations run again with `seeds` new seeds each; None: no stage.
    confirm: dict[str, int] | None = None
    fuse: int | None = None  # trials a slot trains as one fused model (1: off; None: the worker's default)

    @property
    def metric(self) -> str:
        """The objective in RecBole's spelling, as the trainer's ``valid_metric`` (``NDCG@10``, ``AUC``)."""
        if self.objective in FULL_RANK_OBJECTIVES:
            return FULL_RANK_OBJECTIVES[self.objective]
        name, k = self.objective.split("@")
        return f"{METRICS[name]}@{k}"

    @property
    def topk(self) -> int:
        return int(self.objective.split("@")[1])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        """The spec as stored with a job (written by :meth:`to_dict`; unknown keys from newer versions ignored)."""
        return cls(**{k: v for k, v in data.items() if k in KEYS})


def read_spec(path: str | Path, *, name: str | None = None) -> JobSpec:
    """Read and check the spec file; ``name`` overrides the file's name (default: the file name)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise JobError(at(path, None, f"cannot read job spec ({e.strerror})")) from None
    return parse_spec(text, path, name=name)


def parse_spec(text: str, path: str | Path, *, name: str | None = None) -> JobSpec:
    path = Path(path)
    lines = key_lines(text, path)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise JobError(at(path, 1, "expected a mapping of keys (name, model, dataset, search_space, ...)"))

    def fail(keys: tuple[str, ...], message: str) -> JobError:
        line = lines.get(keys) or lines.get(keys[:1])
        return JobError(at(path, line, f"{'.'.join(keys)}: {message}"))

    for key in data:
        if key not in KEYS:
            raise fail((str(key),), f"unknown key{suggest(str(key), KEYS)}; expected one of {', '.join(KEYS)}")
    for key in ("model", "dataset", "search_space", "objective"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise JobError(at(path, lines.get((key,)), f"{key}: required, a non-empty string"))

    job_name = name if name is not None else data.get("name", path.stem)
    if not isinstance(job_name, str) or not NAME_PATTERN.fullmatch(job_name):
        where = () if name is not None else ("name",)
        raise JobError(
            at(path, lines.get(where) if where else None,
               f"job name {job_name!r}: expected letters, digits, '.', '_' or '-' (at most 128, not starting with '.', '_' or '-')")
        )

    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise fail(("params",), "expected a mapping of RecBole parameter names to values")
    for key, value in params.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise fail(("params", str(key)), f"{value!r}: values must be plain YAML (numbers, strings, lists, mappings)") from None

    objective = data["objective"].strip().lower()
    match = OBJECTIVE_PATTERN.fullmatch(objective)
    if objective not in FULL_RANK_OBJECTIVES and (not match or match.group(1) not in METRICS):
        raise fail(("objective",), f"{data['objective']!r}: expected METRIC@K with METRIC one of {', '.join(METRICS)} "
                                   "(e.g. ndcg@10), or auc (CaserD2L)")

    sampler = _settings(data.get("sampler"), ("sampler",), SAMPLER_OPTIONS, "tpe", fail)
    pruner = _settings(data.get("pruner"), ("pruner",), PRUNER_OPTIONS, "none", fail)

    n_trials = data.get("n_trials")
    if n_trials is None and sampler["name"] != "grid":
        raise JobError(at(path, lines.get(("sampler",)), f"n_trials: required with sampler {sampler['name']!r}"))
    if n_trials is not None and (not _is_int(n_trials) or n_trials < 1):
        raise fail(("n_trials",), f"{n_trials!r}: expected a positive whole number")

    timeout = data.get("timeout_hours")
    if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0):
        raise fail(("timeout_hours",), f"{timeout!r}: expected a positive number of hours, or null")

    max_retries = data.get("max_retries", DEFAULT_MAX_RETRIES)
    if not _is_int(max_retries) or max_retries < 0:
        raise fail(("max_retries",), f"{max_retries!r}: expected a whole number >= 0")

    confirm = _confirm(data.get("confirm"), fail)
    fuse = data.get("fuse")
    if fuse is not None and (not _is_int(fuse) or fuse < 1):
        raise fail(("fuse",), f"{fuse!r}: expected a whole number >= 1 (trials a slot trains as one fused model; 1: off)")

    return JobSpec(
        name=job_name,
        model=data["model"].strip(),
        dataset=data["dataset"].strip(),
        search_space=data["search_space"].strip(),
        objective=objective,
        n_trials=n_trials,
        params=params,
        timeout_hours=float(timeout) if timeout is not None else None,
        sampler=sampler,
        pruner=pruner,
        max_retries=int(max_retries),
        confirm=confirm,
        fuse=fuse,
    )


def _confirm(value: Any, fail) -> dict[str, int] | None:
    """``confirm: {top: K, seeds: S}``; absent, null or ``top: 0``: no confirmation stage."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail(("confirm",), f"{value!r}: expected {{top: K, seeds: S}} (K configurations, S more seeds each)")
    for key in value:
        if key not in ("top", "seeds"):
            raise fail(("confirm", str(key)), f"unknown key{suggest(str(key), ('top', 'seeds'))}; expected top, seeds")
    top, seeds = value.get("top", 0), value.get("seeds", 1)
    check_confirm(top, seeds, lambda key, message: fail(("confirm", key), message))
    return {"top": int(top), "seeds": int(seeds)} if top else None


def check_confirm(top: Any, seeds: Any, fail) -> None:
    """K >= 0 configurations, S >= 1 seeds, whole numbers; ``fail(key, message)`` makes the error."""
    if not _is_int(top) or top < 0:
        raise fail("top", f"{top!r}: expected a whole number >= 0 (configurations to confirm)")
    if not _is_int(seeds) or seeds < 1:
        raise fail("seeds", f"{seeds!r}: expected a whole number >= 1 (new seeds per configuration)")


def _settings(value: Any, keys: tuple[str, ...], options: Mapping[str, tuple[str, ...]], default: str, fail) -> dict[str, Any]:
    """``{name: tpe, seed: 0}`` or just ``tpe``: checked names and option keys (values checked by Optuna later)."""
    if value is None:
        value = {"name": default}
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise fail(keys, f"expected {{name: {'|'.join(options)}, ...settings}}")
    settings = dict(value)
    settings["name"] = settings["name"].strip().lower()
    if settings["name"] not in options:
        raise fail(keys + ("name",), f"{value['name']!r}: expected one of {', '.join(options)}")
    allowed = options[settings["name"]]
    for key in settings:
        if key != "name" and key not in allowed:
            expected = ", ".join(allowed) if allowed else "no settings"
            raise fail(keys + (str(key),), f"not a setting of {settings['name']}{suggest(str(key), allowed)}; expected {expected}")
    return settings


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def key_lines(text: str, path: Path) -> dict[tuple[str, ...], int]:
    """1-based line of every key up to two levels deep (``("sampler", "seed")``), for messages."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark, context = getattr(e, "problem_mark", None), getattr(e, "context_mark", None)
        started = f"; {e.context} at line {context.line + 1}" if context is not None and getattr(e, "context", None) else ""
        raise JobError(at(path, mark.line + 1 if mark else None, f"not valid YAML ({getattr(e, 'problem', e)}{started})")) from None
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            lines[(str(key.value),)] = key.start_mark.line + 1
            if isinstance(value, yaml.MappingNode):
                for sub_key, _ in value.value:
                    lines[(str(key.value), str(sub_key.value))] = sub_key.start_mark.line + 1
    return lines
