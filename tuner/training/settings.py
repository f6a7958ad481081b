"""Run settings by RecBole's parameter names: which names exist, their precedence, their types.

``known_params(model)`` is every name a run of ``model`` accepts with its default;
``resolve(model, config_file, overrides)`` applies model defaults < config file < command line
and checks the trainer's values; ``TrainerConfig.from_settings`` is the typed view the trainer uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tuner import config
from tuner.errors import ConfigError
from tuner.training.metrics import normalise_metric_names, parse_valid_metric

# Names that say what to run rather than how; RecBole files often carry them.
RUN_DEFAULTS: dict[str, Any] = {
    "dataset": None,  # a built-in dataset name or a RecBole atomic folder; the CLI's --dataset wins
}


# Models trained and evaluated by the D2L tutorial's protocol (tuner.training.d2l), not RecBole's trainer.
D2L_MODELS = ("CaserD2L",)
# That protocol's defaults: the tutorial's run (window L = 5, Adam lr 0.04 wd 1e-5, batch 4096, 8 epochs).
D2L_DEFAULTS: dict[str, Any] = {
    "MAX_ITEM_LIST_LENGTH": 5,  # L (alias L): history items per window
    "learning_rate": 0.04,
    "weight_decay": 1e-5,
    "train_batch_size": 4096,  # the last partial batch is dropped, as the tutorial's DataLoader does
    "epochs": 8,
    "valid_metric": "Hit@10",
    "metrics": ["Hit", "AUC"],
    "topk": [10, 50],
    "holdout": "test",  # "test": the tutorial's split (latest per user); "valid_and_test": second-latest validates
}
HOLDOUTS = ("test", "valid_and_test")


def known_params(model: str) -> dict[str, Any]:
    """Every parameter a run of ``model`` accepts, with its default (model defaults win over shared ones)."""
    from tuner.models.registry import model_defaults, model_name  # models are heavy; load them when a model is named

    protocol = D2L_DEFAULTS if model_name(model) in D2L_MODELS else {}
    return {**RUN_DEFAULTS, **config.DATA_DEFAULTS, **config.TRAIN_DEFAULTS, **protocol, **model_defaults(model)}


def ranks_every_candidate(model: str) -> bool:
    """Whether ``model``'s protocol ranks the target among all candidates (so it can compute AUC)."""
    from tuner.models.registry import model_name

    return model_name(model) in D2L_MODELS


def resolve(
    model: str,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    overrides_source: str = "--set",
) -> dict[str, Any]:
    """Settings of one run: defaults < ``config_file`` < ``overrides``; unknown names and bad trainer values raise."""
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if config_file is not None:
        layers.append((str(config_file), config.load_config_file(config_file)))
    if overrides:
        layers.append((overrides_source, overrides))
    settings = config.merge(known_params(model), layers)
    TrainerConfig.from_settings(settings, full_rank=ranks_every_candidate(model))  # errors now, not after loading data
    if "holdout" in settings and settings["holdout"] not in HOLDOUTS:
        raise ConfigError(f"holdout: expected one of {', '.join(HOLDOUTS)}, got {settings['holdout']!r}")
    return settings


@dataclass(frozen=True)
class TrainerConfig:
    """The trainer's settings, checked; built from a resolved settings mapping."""

    learning_rate: float  # Adam's step size
    train_batch_size: int  # examples per optimisation step
    eval_batch_size: int  # examples per full-sort scoring batch
    epochs: int  # at most this many training epochs
    eval_step: int  # validate after every eval_step-th epoch (RecBole caps it at epochs)
    stopping_step: int  # stop once this many validations in a row failed to reach the best (RecBole's rule)
    valid_metric: str  # result key early stopping and the tuner read, e.g. "ndcg@10" (or "auc", see full_rank)
    metrics: tuple[str, ...]  # lowercase metric names to report
    topk: tuple[int, ...]  # cut-offs to report
    weight_decay: float  # Adam's L2 penalty
    seed: int  # seeds random, numpy, torch (and CUDA) and the shuffling generator
    reproducibility: bool  # deterministic cuDNN (RecBole's flag)
    device: str  # "cpu", "cuda" or "cuda:N"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, full_rank: bool = False) -> "TrainerConfig":
        """``full_rank``: the protocol ranks every candidate, so AUC may be asked for (:func:`ranks_every_candidate`)."""
        get = lambda name: settings.get(name, config.TRAIN_DEFAULTS[name])  # noqa: E731
        metrics = tuple(normalise_metric_names(get("metrics"), full_rank=full_rank))
        topk_value = get("topk")
        topk_list = [topk_value] if isinstance(topk_value, int) and not isinstance(topk_value, bool) else topk_value
        if not isinstance(topk_list, (list, tuple)) or not topk_list:
            raise ConfigError(f"topk: expected a positive integer or a list of them, got {topk_value!r}")
        topk = tuple(_positive_int("topk", k) for k in topk_list)
        _check_negative_sampling(settings)
        return cls(
            learning_rate=_positive_number("learning_rate", get("learning_rate")),
            train_batch_size=_positive_int("train_batch_size", get("train_batch_size")),
            eval_batch_size=_positive_int("eval_batch_size", get("eval_batch_size")),
            epochs=_positive_int("epochs", get("epochs")),
            eval_step=_positive_int("eval_step", get("eval_step")),
            stopping_step=_int_at_least("stopping_step", get("stopping_step"), 0),
            valid_metric=parse_valid_metric(get("valid_metric"), full_rank),
            metrics=metrics,
            topk=topk,
            weight_decay=_number_at_least("weight_decay", get("weight_decay"), 0.0),
            seed=_int_at_least("seed", get("seed"), 0),
            reproducibility=_boolean("reproducibility", get("reproducibility")),
            device=str(get("device")),
        )

    def report_metrics(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Metric names and cut-offs to compute: the reported ones plus the validation metric."""
        name, _, k = self.valid_metric.partition("@")
        names = self.metrics if name in self.metrics else (*self.metrics, name)
        topk = self.topk if not k or int(k) in self.topk else (*self.topk, int(k))
        return names, topk


_DEVICE = re.compile(r"^(cpu|cuda)(?::([0-9]+))?$")


def resolve_device(device: str | torch.device) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a :class:`torch.device`, refusing a GPU this machine lacks."""
    text = str(device).strip()
    match = _DEVICE.match(text)
    if not match or (match.group(1) == "cpu" and match.group(2) is not None):
        raise ConfigError(f"device: expected cpu, cuda or cuda:N, got {text!r}")
    if match.group(1) == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"device {text!r}: CUDA is not available (torch {torch.__version__}, "
            f"built with CUDA {torch.version.cuda or 'none'}); use --device cpu"
        )
    index = int(match.group(2) or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device {text!r}: only {torch.cuda.device_count()} CUDA device(s) visible (cuda:0 ..)")
    return torch.device("cuda", index)


def _check_negative_sampling(settings: Mapping[str, Any]) -> None:
    """RecBole files say ``train_neg_sample_args: ~`` for CE; BPR samples one uniform negative."""
    args = settings.get("train_neg_sample_args")
    if args is None or args == "None":
        return
    if str(settings.get("loss_type", "")).upper() == "CE":
        raise ConfigError(f"train_neg_sample_args: must be ~ (None) when loss_type is CE, got {args!r}")
    if (
        not isinstance(args, Mapping)
        or args.get("distribution", "uniform") != "uniform"
        or args.get("sample_num", 1) != 1
        or args.get("dynamic", False)
    ):
        raise ConfigError(
            f"train_neg_sample_args: only ~ or {{distribution: uniform, sample_num: 1}} is supported, got {args!r}"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_number(name: str, value: Any) -> float:
    if not _is_number(value) or value <= 0:
        raise ConfigError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


def _number_at_least(name: str, value: Any, low: float) -> float:
    if not _is_number(value) or value < low:
        raise ConfigError(f"{name}: expected a number >= {low:g}, got {value!r}")
    return float(value)


def _int_at_least(name: str, value: Any, low: int) -> int:
    integral = _is_number(value) and float(value).is_integer()
    if not integral or value < low:
        raise ConfigError(f"{name}: expected an integer >= {low}, got {value!r}")
    return int(value)


def _positive_int(name: str, value: Any) -> int:
    return _int_at_least(name, value, 1)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    return value
