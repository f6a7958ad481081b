"""The epoch loop: train, validate, stop early, test with the best validation weights.

It follows RecBole 1.2.1's ``Trainer.fit``: Adam, validation after every ``eval_step``-th epoch,
its early-stopping rule (see :mod:`tuner.training.stopping`), and test metrics computed after
loading the weights of the best validation. Differences: the best weights are kept in memory
(no checkpoint files), a non-finite epoch loss raises :class:`NonFiniteLossError` (RecBole checks
NaN only), and epochs count from 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tuner.data.dataset import SequentialDataset, Split
from tuner.errors import NonFiniteLossError, TrainingError
from tuner.models.base import SequentialRecommender
from tuner.training.batches import ShuffledBatches, split_to_device
from tuner.training.evaluation import evaluate
from tuner.training.heap import keep_freed_memory
from tuner.training.settings import TrainerConfig, resolve_device
from tuner.training.stopping import EarlyStopping

# on_epoch(epoch, valid_metrics): called after each validation; it may raise (optuna.TrialPruned) to stop.
EpochHook = Callable[[int, dict[str, float]], None]
# progress(record): called after every epoch with that epoch's history record.
ProgressHook = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RunResult:
    """What one training run reached."""

    valid: dict[str, float]  # validation metrics of the best epoch
    test: dict[str, float]  # test metrics with the best epoch's weights
    best_epoch: int  # 1-based epoch of the best validation
    epochs: int  # epochs trained (early stopping may end the run before ``epochs``)
    seconds: float  # wall-clock time of training and evaluation
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per epoch (see ``fit``)
    # Per user, in the split's row order: the target's rank in the top max(topk) (0: not there), from which
    # every metric follows (tuner.per_user); "valid" at the best epoch, "test" with the best weights.
    ranks: dict[str, np.ndarray] = field(default_factory=dict)
    train_loss: float = math.nan  # the last epoch's mean batch loss


def fit(
    model: SequentialRecommender,
    dataset: SequentialDataset,
    settings: Mapping[str, Any],
    on_epoch: EpochHook | None = None,
    progress: ProgressHook | None = None,
    device: str | torch.device | None = None,
) -> RunResult:
    """Train ``model`` on ``dataset.train``, stop early on ``dataset.valid``, test on ``dataset.test``.

    ``settings`` holds RecBole's trainer names (``learning_rate``, ``epochs``, ...; missing ones take
    their defaults); ``device`` overrides ``settings["device"]``. Each history record holds
    ``epoch``, ``loss`` (the sum of batch losses, as RecBole logs it), ``train_seconds``, and on
    validation epochs ``valid`` (metrics), ``valid_seconds`` and ``best_epoch`` (the best so far).
    The model ends on the best weights. On the CPU, training leaves the process flushing denormal
    floats to zero (see below).
    """
    config = TrainerConfig.from_settings(settings)
    target = resolve_device(device if device is not None else config.device)
    for name, split in (("train", dataset.train), ("valid", dataset.valid), ("test", dataset.test)):
        if len(split) == 0:
            raise TrainingError(f"dataset {dataset.name!r}: the {name} split is empty")
    keep_freed_memory()  # without it each CPU step page-faults its score matrices in again
    # As training sharpens the softmax, the probabilities of unlikely items fall below 1e-38 and the
    # products that read them take the CPU's slow denormal path: Caser's ml-100k epoch went from
    # 1.7 s to 21 s after epoch 30. Values that small change no float32 weight (nor Adam's update,
    # where eps = 1e-8 dominates), so they are flushed to zero. No getter exists to restore it.
    torch.set_flush_denormal(True)
    run = _Run(model, dataset, config, target)
    try:
        return run.fit(on_epoch, progress)
    finally:
        run.release()


class _Run:
    """The state of one fit; :meth:`release` drops every tensor it holds, whatever ended the run."""

    def __init__(self, model: SequentialRecommender, dataset: SequentialDataset, config: TrainerConfig, device):
        self.model = model.to(device)
        model.prepare(device)
        self.config = config
        self.device = device
        self.metric_names, self.topk = config.report_metrics()
        self.train = ShuffledBatches(
            split_to_device(dataset.train, device),
            config.train_batch_size,
            config.seed,
            n_item_ids=dataset.n_item_ids,
            negatives=model.needs_negative,
        )
        self.valid: Split | None = split_to_device(dataset.valid, device)
        self.test: Split | None = split_to_device(dataset.test, device)
        self.optimizer: torch.optim.Optimizer | None = torch.optim.Adam(
            model.parameters(),
            lr=config.learning_rate,
            weight_decay=config.weight_decay,
            fused=device.type in ("cpu", "cuda"),  # one kernel for every parameter: same update, less overhead
        )
        self.best_state: dict[str, torch.Tensor] | None = None

    def fit(self, on_epoch: EpochHook | None, progress: ProgressHook | None) -> RunResult:
        config = self.config
        start = time.perf_counter()
        stopper = EarlyStopping(config.stopping_step)
        eval_step = min(config.eval_step, config.epochs)  # as RecBole
        history: list[dict[str, Any]] = []
        best_valid: dict[str, float] = {}
        best_ranks: np.ndarray | None = None
        best_epoch = 0
        for epoch in range(1, config.epochs + 1):
            tick = time.perf_counter()
            loss = self.train_epoch(epoch)
            record: dict[str, Any] = {"epoch": epoch, "loss": loss, "train_seconds": time.perf_counter() - tick}
            stop = False
            if epoch % eval_step == 0:
                tick = time.perf_counter()
                parts: list[torch.Tensor] = []
                valid = self.evaluate(self.valid, parts)
                record["valid"] = valid
                record["valid_seconds"] = time.perf_counter() - tick
                improved, stop = stopper.update(valid[config.valid_metric])
                if improved:  # the ranks leave the device only for the epochs that become the best
                    best_valid, best_epoch, best_ranks = valid, epoch, _to_numpy(parts)
                    self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                record["best_epoch"] = best_epoch
            history.append(record)
            if progress is not None:
                progress(record)
            if "valid" in record and on_epoch is not None:
                on_epoch(epoch, record["valid"])
            if stop:
                break
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        parts = []
        test = self.evaluate(self.test, parts)
        ranks = {"test": _to_numpy(parts)}
        if best_ranks is not None:
            ranks["valid"] = best_ranks
        return RunResult(
            valid=best_valid,
            test=test,
            best_epoch=best_epoch,
            epochs=len(history),
            seconds=time.perf_counter() - start,
            history=history,
            ranks=ranks,
            train_loss=history[-1]["loss"] / len(self.train) if history else math.nan,
        )

    def train_epoch(self, epoch: int) -> float:
        """One pass over the shuffled training split; the summed batch loss."""
        # No local names for the model or optimizer: a traceback keeps this frame's locals alive.
        self.model.train()
        total = torch.zeros((), device=self.device)
        for batch in self.train.epoch():
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.model.loss(batch)
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
        value = float(total)  # one device sync per epoch
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"epoch {epoch}: the training loss is {value} (try a smaller learning_rate); the run stops"
            )
        return value

    def evaluate(self, split: Split, ranks: list[torch.Tensor] | None = None) -> dict[str, float]:
        return evaluate(
            self.model, split, metrics=self.metric_names, topk=self.topk, batch_size=self.config.eval_batch_size,
            ranks=ranks,
        )

    def release(self) -> None:
        """Drop the optimizer state, the best weights, gradients and device copies of the data."""
        self.optimizer = None
        self.best_state = None
        self.train = self.valid = self.test = None
        self.model.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _to_numpy(parts: list[torch.Tensor]) -> np.ndarray:
    """Batches of target ranks (on the device) as one per-user array in the split's row order."""
    return torch.cat(parts).to(torch.int32).cpu().numpy() if parts else np.zeros(0, dtype=np.int32)
