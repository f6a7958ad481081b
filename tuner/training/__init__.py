"""Training: the epoch loop with early stopping and an epoch hook, full-sort metrics, settings.

``train(model_name, settings)`` runs one configuration end to end; ``fit(model, dataset, settings)``
trains a model you built. Settings use RecBole's names (see :mod:`tuner.training.settings`).
"""

from tuner.training.metrics import METRIC_NAMES, metric_key
from tuner.training.settings import TrainerConfig, known_params, resolve, resolve_device
from tuner.training.trainer import RunResult, fit

__all__ = [
    "METRIC_NAMES",
    "RunResult",
    "TrainerConfig",
    "fit",
    "known_params",
    "metric_key",
    "resolve",
    "resolve_device",
    "train",
]


def __getattr__(name: str):
    # train() pulls in dataset loading; import it when first asked for, not with the metrics.
    if name == "train":
        from tuner.training.run import train

        return train
    raise AttributeError(f"module 'tuner.training' has no attribute {name!r}")
