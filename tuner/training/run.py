"""``train()``: one configuration from settings to metrics, the call a tuning trial makes.

It resolves the settings, loads the dataset (cached by the data module), seeds, builds the model
and fits it. Nothing outlives the call but the returned :class:`RunResult`, so a worker can call it
many times in one process without its memory growing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tuner import config
from tuner.data import SequentialDataset, load_dataset, with_item_fields
from tuner.errors import ConfigError
from tuner.models.registry import build_model
from tuner.training.seeding import init_seed
from tuner.training.settings import ranks_every_candidate, resolve
from tuner.training.trainer import EpochHook, ProgressHook, RunResult, fit


def train(
    model_name: str,
    settings: Mapping[str, Any],
    *,
    dataset: SequentialDataset | str | None = None,
    device: str | torch.device | None = None,
    on_epoch: EpochHook | None = None,
    progress: ProgressHook | None = None,
    threads: int | None = None,
) -> RunResult:
    """Train ``model_name`` with ``settings`` (RecBole names; missing ones take their defaults).

    ``dataset`` is a loaded dataset, a dataset name or folder, or None for ``settings["dataset"]``.
    ``threads`` sets torch's CPU thread count for this process (a worker with several slots passes
    its share); None keeps torch's setting, which is every core unless someone changed it.
    """
    settings = resolve(model_name, overrides=settings, overrides_source="settings")
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads: expected a positive integer, got {threads!r}")
        torch.set_num_threads(threads)
    if ranks_every_candidate(model_name):  # the D2L tutorial's data, training and evaluation
        from tuner.training.d2l import train_d2l

        return train_d2l(model_name, settings, dataset=dataset, device=device, on_epoch=on_epoch, progress=progress)
    data = dataset_for(dataset if dataset is not None else settings.get("dataset"), settings)
    init_seed(settings["seed"], settings["reproducibility"])  # RecBole seeds right before building the model
    model = build_model(
        model_name,
        settings,
        n_user_ids=data.n_user_ids,
        n_item_ids=data.n_item_ids,
        max_seq_length=data.train.item_seq.shape[1],
        item_features=data.item_features,
        feature_sizes=data.feature_sizes,
    )
    try:
        return fit(model, data, settings, on_epoch=on_epoch, progress=progress, device=device)
    finally:
        del model  # fit released the optimizer and the best weights; the model goes with this frame


def dataset_for(given: SequentialDataset | str | None, settings: Mapping[str, Any]) -> SequentialDataset:
    """The dataset a run of ``settings`` trains on: ``given`` as is (checked), or loaded with the run's data options."""
    if given is None:
        raise ConfigError("no dataset: name one (--dataset ml-100k) or set 'dataset' in the config file")
    if isinstance(given, SequentialDataset):
        width = given.train.item_seq.shape[1]
        if width != settings["MAX_ITEM_LIST_LENGTH"]:
            raise ConfigError(
                f"MAX_ITEM_LIST_LENGTH is {settings['MAX_ITEM_LIST_LENGTH']} but the given dataset "
                f"{given.name!r} was built with sequences of length {width}"
            )
        return given
    options = {name: settings[name] for name in config.DATA_DEFAULTS}
    features = settings.get("selected_features")  # GRU4RecF's item fields come from the .item file
    if features:
        options["load_col"] = with_item_fields(options["load_col"], list(features))
    return load_dataset(str(given), options)


def prepare_device(device: str | torch.device) -> None:
    """What training on ``device`` needs ready before a first run is timed: on the CPU, the C++ kernels
    (built now where this machine has no build of these sources yet, so no trial pays for it)."""
    if torch.device(device).type == "cpu":
        from tuner.models.native import cpu_kernels

        cpu_kernels()
