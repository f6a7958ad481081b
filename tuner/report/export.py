"""Exports of a job: every trial as a table (CSV, JSON, Parquet) and the best configuration as a
RecBole config file that ``run_recbole(model=..., dataset=..., config_file_list=[FILE])`` reads as is.

Both are drawn from the report's plain data (:class:`tuner.report.data.Job`); pandas only here.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import yaml

from tuner.config import DATA_DEFAULTS, TRAIN_DEFAULTS, canonical, parse_value
from tuner.errors import ConfigError, JobError
from tuner.report.data import Job

TABLE_FORMATS = ("csv", "json", "parquet")
FORMATS = TABLE_FORMATS + ("recbole",)

# The job spec's key for the parameters fixed for every trial (RecBole names), as tuner.service writes it.
SPEC_FIXED_KEY = "params"

# Our evaluation, in RecBole's words: leave-one-out by time, per user, full ranking.
RECBOLE_EVAL_ARGS = {"split": {"LS": "valid_and_test"}, "group_by": "user", "order": "TO", "mode": "full"}

# Our lowercase metric names -> RecBole's.
RECBOLE_METRICS = {"recall": "Recall", "ndcg": "NDCG", "mrr": "MRR", "hit": "Hit", "precision": "Precision",
                   "map": "MAP", "gauc": "GAUC", "itemcoverage": "ItemCoverage"}

# Settings of this tool that RecBole does not read (RecBole picks its device from use_gpu/gpu_id).
NOT_RECBOLE = frozenset({"device"})


def trials_frame(job: Job):
    """One row per trial: number, state, objective, ``config_id`` (the same for every run of one
    configuration), ``seed``, ``role`` (search or replicate), ``param_<name>``, ``valid_<metric>``,
    ``test_<metric>``, epochs, timings, GPU memory, device, host, worker, reason, retry_of."""
    import pandas as pd

    rows = []
    for r in job.trials:
        row: dict[str, Any] = {"job": job.name, "number": r.number, "state": r.state, "value": r.value,
                               "config_id": r.config_id, "seed": r.seed, "role": r.role}
        row.update({f"param_{p}": r.params.get(p) for p in job.param_names})
        row.update({f"valid_{m}": r.valid.get(m) for m in job.valid_metric_names})
        row.update({f"test_{m}": r.test.get(m) for m in job.test_metric_names})
        row.update({
            "best_epoch": r.best_epoch, "epochs": r.epochs, "seconds": r.seconds, "gpu_peak_mib": r.gpu_peak_mib,
            "datetime_start": r.start, "datetime_complete": r.end,
            "device": r.device, "host": r.host, "worker": r.worker, "reason": r.reason, "retry_of": r.retry_of,
        })
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    for column in ("number", "seed", "best_epoch", "epochs", "retry_of"):
        frame[column] = frame[column].astype("Int64")  # integers with gaps stay integers
    for column in ("datetime_start", "datetime_complete"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def table_bytes(job: Job, fmt: str) -> bytes:
    """The trials table in ``fmt`` (csv, json or parquet)."""
    frame = trials_frame(job)
    if fmt == "csv":
        return frame.to_csv(index=False).encode("utf-8")
    if fmt == "json":
        return (frame.to_json(orient="records", date_format="iso", double_precision=15, indent=1) + "\n").encode("utf-8")
    if fmt == "parquet":
        buffer = io.BytesIO()
        _parquet_safe(frame).to_parquet(buffer, index=False)
        return buffer.getvalue()
    raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")


def recbole_config(job: Job) -> dict[str, Any]:
    """The recommended configuration (with no confirmation: the best single run) as RecBole settings: model
    and dataset, data and evaluation settings that match this tool's, the fixed parameters of the spec and
    the tuned ones, all plain YAML types."""
    best = job.best
    if best is None:
        raise JobError(f"job {job.name!r} has no complete trial: nothing to export as a RecBole config")
    if job.model == "CaserD2L":
        raise JobError(f"job {job.name!r}: RecBole has no model 'CaserD2L' (the D2L tutorial's Caser, with its own "
                       "data split and protocol), so there is no RecBole config to export; use --format csv or json")
    fixed = spec_fixed(job.spec)
    tuned = {canonical(k): _recbole_value(v) for k, v in best.params.items()}
    settings = {**fixed, **tuned}
    metric, _, k = job.objective.partition("@")
    if metric.lower() not in RECBOLE_METRICS or not k.isdigit():
        raise JobError(f"job {job.name!r}: objective {job.objective!r} is not a RecBole metric@k (e.g. ndcg@10)")
    metrics = list(settings.pop("metrics", TRAIN_DEFAULTS["metrics"]))
    if RECBOLE_METRICS[metric.lower()] not in metrics:
        metrics.append(RECBOLE_METRICS[metric.lower()])
    topk = settings.pop("topk", TRAIN_DEFAULTS["topk"])
    topk = sorted({*(topk if isinstance(topk, list) else [topk]), int(k)})
    settings.pop("valid_metric", None)

    # A dataset given as a folder (ours: the folder of atomic files) is, for RecBole, a name under data_path.
    dataset_folder = settings.pop("data_path", None) or (job.dataset if _is_path(job.dataset) else None)
    dataset = Path(dataset_folder).name if dataset_folder else job.dataset
    out: dict[str, Any] = {"model": job.model, "dataset": dataset}
    if dataset_folder:
        out["data_path"] = str(Path(dataset_folder).parent)
    for key, default in DATA_DEFAULTS.items():  # all of them: RecBole's dataset files set other defaults
        if key != "data_path":
            out[key] = settings.pop(key, default)
    out["eval_args"] = RECBOLE_EVAL_ARGS
    out["metrics"] = metrics
    out["topk"] = topk
    out["valid_metric"] = f"{RECBOLE_METRICS[metric.lower()]}@{k}"
    for key in TRAIN_DEFAULTS:
        if key in settings and key not in NOT_RECBOLE:
            out[key] = settings.pop(key)
    for key in NOT_RECBOLE:
        settings.pop(key, None)
    out.update(settings)  # the model's parameters, fixed and tuned
    if str(out.get("loss_type", "CE")).upper() == "CE":
        out["train_neg_sample_args"] = None  # RecBole refuses negative sampling with the CE loss
    return _plain_yaml_types(out)


def recbole_yaml(job: Job) -> str:
    """:func:`recbole_config` as a commented YAML file."""
    config = recbole_config(job)
    best, ranking = job.recommended, job.ranking
    name, objective = _one_line(job.name), job.objective
    if best.confirmed:
        header = [
            f"# RecBole config of the recommended configuration of job {name} ({best.config_id}):",
            f"# {best.n_runs} runs (trials {', '.join(str(r.number) for r in best.runs)}), validation {objective} "
            f"{best.valid.mean:.4f} {_ci(best.valid)}"
            + (f", test {best.test.mean:.4f} {_ci(best.test)}" if best.test else "") + " over seeds;",
            f"# {len(ranking.tied)} other configuration(s) tied with it at 5%.",
        ]
    else:
        test = best.test.mean if best.test else None
        header = [
            f"# RecBole config of the best configuration of job {name}: trial {best.runs[0].number},",
            f"# validation {objective} {best.valid.mean:.4f}" + (f", test {test:.4f}" if test is not None else "") + ".",
            "# Unconfirmed: a single run (one seed); run tuner confirm JOB to replicate the leading configurations.",
        ]
    header.append(f"# run_recbole(model={config['model']!r}, dataset={config['dataset']!r}, config_file_list=['this file'])")
    return "\n".join(header) + "\n" + yaml.safe_dump(config, sort_keys=False, default_flow_style=None, allow_unicode=True)


def spec_fixed(spec: dict[str, Any]) -> dict[str, Any]:
    """The parameters the job fixed for every trial, by canonical RecBole name."""
    fixed = spec.get(SPEC_FIXED_KEY)
    return {canonical(str(k)): v for k, v in fixed.items()} if isinstance(fixed, dict) else {}


def _recbole_value(value: Any) -> Any:
    """A tuned value as RecBole wants it: a choice written as YAML text (``"[64, 64]"``) becomes the list."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        return parse_value(value)
    return value


def _plain_yaml_types(value: Any) -> Any:
    """Only str, int, float, bool, None, lists and dicts (no numpy scalars, tuples or NaN)."""
    if isinstance(value, dict):
        return {str(k): _plain_yaml_types(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_yaml_types(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return int(value)
    if isinstance(value, float) or (hasattr(value, "dtype") and value.dtype.kind == "f"):
        if not math.isfinite(float(value)):
            raise JobError(f"cannot export {value!r} to RecBole: not a finite number")
        return float(value)
    return str(value)


def _parquet_safe(frame):
    """Parquet columns need one type: a parameter that mixes types (choices ``[None, 64, "auto"]``) is written as text."""
    import pandas as pd

    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            kinds = {type(v) for v in frame[column] if not pd.isna(v)}
            if len(kinds) > 1:
                frame[column] = frame[column].map(lambda v: None if pd.isna(v) else str(v))
    return frame


def _is_path(dataset: str | None) -> bool:
    return bool(dataset) and ("/" in dataset or "\\" in dataset)


def _ci(interval) -> str:
    return f"(95% CI {interval.low:.4f} to {interval.high:.4f})"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
