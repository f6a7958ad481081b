"""Fused training: K trials of one shape trained as one fused model, each finishing on its own.

``fit_fused(model_name, dataset, members)`` runs the epoch loop of :mod:`tuner.training.trainer` for
K members at once. What the members share, and why it changes nothing for any of them:
* the batches: one :class:`ShuffledBatches` with the members' common seed, which is the order and
  the BPR negatives each unfused trial draws with that seed (members must share ``seed`` and
  ``train_batch_size``: :func:`fusion_key`);
* one batched forward and backward per step (:mod:`tuner.models.fused`), whose loss is the sum of
  the members' losses, so each member's parameters get exactly their own loss's gradient.
What each member keeps: its model, built and seeded exactly as ``train()`` builds it (same initial
weights), its dropout masks (see ``MemberDropout``), its own ``torch.optim.Adam`` with its
``learning_rate`` and ``weight_decay``, its validation every ``eval_step`` epochs, early stopping,
best weights, epoch hooks, ``epochs`` budget, and test evaluation with its best weights.
A member whose hook raises (pruning), that stops early, whose loss is not finite or whose epochs are
done leaves at that epoch boundary; the others go on with one member fewer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tuner.data.dataset import SequentialDataset
from tuner.errors import NonFiniteLossError, TrainingError
from tuner.models.fused import FusedModel, fuse
from tuner.models.registry import build_model
from tuner.training.batches import ShuffledBatches, split_to_device
from tuner.training.evaluation import evaluate
from tuner.training.heap import keep_freed_memory
from tuner.training.run import dataset_for
from tuner.training.seeding import init_seed
from tuner.training.settings import TrainerConfig, resolve, resolve_device
from tuner.training.stopping import EarlyStopping
from tuner.training.trainer import EpochHook, ProgressHook, RunResult, _to_numpy

# Settings a member may have of its own; any other difference changes a tensor's shape, the batches
# or the evaluation, and the trials cannot be fused.
MEMBER_KEYS = ("learning_rate", "weight_decay", "reg_weight", "dropout_prob", "epochs", "stopping_step")


def fusion_key(settings: Mapping[str, Any]) -> tuple:
    """Equal for two resolved settings exactly when their trials can be fused."""
    return tuple(sorted((k, repr(v)) for k, v in settings.items() if k not in MEMBER_KEYS))


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """``key (a vs b)`` for each setting that keeps two trials from being fused (for log lines)."""
    keys = sorted((set(a) | set(b)) - set(MEMBER_KEYS))
    return [f"{k} ({a.get(k)!r} vs {b.get(k)!r})" for k in keys if repr(a.get(k)) != repr(b.get(k))]


@dataclass
class Member:
    """One trial of a fused run: its settings (RecBole names) and its hooks, as ``train()`` takes them."""

    settings: Mapping[str, Any]
    on_epoch: EpochHook | None = None
    progress: ProgressHook | None = None


# A member's outcome: its RunResult, or the exception that ended it (a hook's TrialPruned, a
# NonFiniteLossError), exactly what ``train()`` would have returned or raised for that trial.
Outcome = RunResult | BaseException
# on_leave(index, outcome): member ``index`` (its place in the caller's list) has left with ``outcome``.
LeaveHook = Callable[[int, Outcome], None]


def fit_fused(model_name: str, dataset: SequentialDataset | str, members: Sequence[Member],
              device: str | torch.device | None = None, on_leave: LeaveHook | None = None) -> list[Outcome]:
    """Train the members as one fused model; one outcome per member, in order.

    ``dataset`` is a loaded dataset or a name, as ``train()`` takes it. ``on_leave(index, outcome)`` is
    called as each member leaves (a worker records its trial then, while the others train on).
    """
    settings = [resolve(model_name, overrides=m.settings, overrides_source="settings") for m in members]
    for other in settings[1:]:
        if fusion_key(other) != fusion_key(settings[0]):
            raise TrainingError(f"these trials cannot be fused: they differ in {', '.join(differences(settings[0], other))}")
    dataset = dataset_for(dataset, settings[0])
    models, generators = build_members(model_name, dataset, settings)
    target = resolve_device(device if device is not None else settings[0]["device"])
    for name, split in (("train", dataset.train), ("valid", dataset.valid), ("test", dataset.test)):
        if len(split) == 0:
            raise TrainingError(f"dataset {dataset.name!r}: the {name} split is empty")
    keep_freed_memory()
    torch.set_flush_denormal(True)  # as fit(): see tuner.training.trainer
    run = _FusedRun(models, generators, settings, members, dataset, target, on_leave)
    try:
        return run.fit()
    finally:
        run.release()


def build_members(model_name: str, dataset: SequentialDataset, settings: Sequence[Mapping[str, Any]]):
    """Each member's model, seeded and built as ``train()`` builds it, and a CPU generator standing
    where the global one stood after that build (its dropout masks come from there)."""
    models, generators = [], []
    for s in settings:
        init_seed(s["seed"], s["reproducibility"])
        models.append(build_model(
            model_name, s, n_user_ids=dataset.n_user_ids, n_item_ids=dataset.n_item_ids,
            max_seq_length=dataset.train.item_seq.shape[1], item_features=dataset.item_features,
            feature_sizes=dataset.feature_sizes,
        ))
        generator = torch.Generator()
        generator.set_state(torch.get_rng_state())
        generators.append(generator)
    return models, generators


@dataclass
class _MemberState:
    """What one member carries through the fused run."""

    index: int  # position in the caller's list
    hooks: Member
    config: TrainerConfig
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer | None
    stopper: EarlyStopping
    history: list[dict[str, Any]] = field(default_factory=list)
    best_valid: dict[str, float] = field(default_factory=dict)
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    best_ranks: np.ndarray | None = None  # the best epoch's validation ranks (RunResult.ranks["valid"])


class _FusedRun:
    def __init__(self, models, generators, settings, members, dataset: SequentialDataset, device: torch.device,
                 on_leave: LeaveHook | None = None):
        self.device = device
        self.on_leave = on_leave
        for model in models:
            model.to(device)
        models[0].prepare(device)
        if device.type == "cuda":  # one CUDA generator for all members' masks (see MemberDropout)
            cuda = torch.Generator(device).manual_seed(int(settings[0]["seed"]))
            generators = [cuda] * len(models)
        self.fused: FusedModel | None = fuse(models, generators)
        configs = [TrainerConfig.from_settings(s) for s in settings]
        self.states = [
            _MemberState(i, members[i], c, models[i], torch.optim.Adam(
                models[i].parameters(), lr=c.learning_rate, weight_decay=c.weight_decay,
                fused=device.type in ("cpu", "cuda"),  # the unfused trainer's optimizer, per member
            ), EarlyStopping(c.stopping_step))
            for i, c in enumerate(configs)
        ]
        first = configs[0]
        self.metric_names, self.topk = first.report_metrics()
        self.eval_batch_size = first.eval_batch_size
        self.train = ShuffledBatches(split_to_device(dataset.train, device), first.train_batch_size, first.seed,
                                     n_item_ids=dataset.n_item_ids, negatives=models[0].needs_negative)
        self.valid = split_to_device(dataset.valid, device)
        self.test = split_to_device(dataset.test, device)
        self.outcomes: list[Outcome | None] = [None] * len(models)

    def fit(self) -> list[Outcome]:
        start = time.perf_counter()
        self.start = start
        for epoch in range(1, max(s.config.epochs for s in self.states) + 1):
            tick = time.perf_counter()
            losses = self.train_epoch()
            train_seconds = time.perf_counter() - tick
            leaving: dict[int, BaseException | None] = {}
            for state, loss in zip(self.states, losses):
                ended = self.after_epoch(state, epoch, loss, train_seconds)
                if ended is not False:
                    leaving[state.index] = ended
            if leaving:
                self.leave(leaving)
            if not self.states:
                break
        return [o for o in self.outcomes]  # type: ignore[misc]

    def train_epoch(self) -> list[float]:
        """One pass over the shared batches; each member's summed batch loss."""
        self.fused.train()
        total = torch.zeros(len(self.states), device=self.device)
        for batch in self.train.epoch():
            for state in self.states:
                state.optimizer.zero_grad(set_to_none=True)
            losses = self.fused.member_losses(batch)  # (K,)
            losses.sum().backward()
            for state in self.states:
                state.optimizer.step()
            total += losses.detach()
        return total.tolist()  # one device sync per epoch

    def after_epoch(self, state: _MemberState, epoch: int, loss: float, train_seconds: float):
        """Validate a member as ``fit`` does; False while it goes on, else None (done) or the exception."""
        config = state.config
        if not math.isfinite(loss):
            return NonFiniteLossError(f"epoch {epoch}: the training loss is {loss} (try a smaller learning_rate); the run stops")
        record: dict[str, Any] = {"epoch": epoch, "loss": loss, "train_seconds": train_seconds}
        stop = False
        if epoch % min(config.eval_step, config.epochs) == 0:
            tick = time.perf_counter()
            parts: list[torch.Tensor] = []
            valid = self.evaluate(state, self.valid, parts)
            record["valid"], record["valid_seconds"] = valid, time.perf_counter() - tick
            improved, stop = state.stopper.update(valid[config.valid_metric])
            if improved:
                state.best_valid, state.best_epoch, state.best_ranks = valid, epoch, _to_numpy(parts)
                state.best_state = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
            record["best_epoch"] = state.best_epoch
        state.history.append(record)
        try:
            if state.hooks.progress is not None:
                state.hooks.progress(record)
            if "valid" in record and state.hooks.on_epoch is not None:
                state.hooks.on_epoch(epoch, record["valid"])
        except Exception as error:  # pruning and failures end this member only (a signal's BaseException ends all)
            return error
        return None if stop or epoch >= config.epochs else False

    def leave(self, leaving: Mapping[int, BaseException | None]) -> None:
        """Finish the leaving members (test with their best weights) and shrink the fused model."""
        for state in self.states:
            if state.index in leaving:
                error = leaving[state.index]
                self.outcomes[state.index] = error if error is not None else self.finish(state)
                state.optimizer = state.best_state = None
        kept = [i for i, s in enumerate(self.states) if s.index not in leaving]
        self.states = [self.states[i] for i in kept]
        self.fused.keep(kept)
        if self.on_leave is not None:
            for index in sorted(leaving):
                self.on_leave(index, self.outcomes[index])

    def finish(self, state: _MemberState) -> RunResult:
        if state.best_state is not None:
            state.model.load_state_dict(state.best_state)
        parts: list[torch.Tensor] = []
        test = self.evaluate(state, self.test, parts)
        ranks = {"test": _to_numpy(parts)}
        if state.best_ranks is not None:
            ranks["valid"] = state.best_ranks
        return RunResult(valid=state.best_valid, test=test, best_epoch=state.best_epoch, epochs=len(state.history),
                         seconds=time.perf_counter() - self.start, history=state.history, ranks=ranks,
                         train_loss=state.history[-1]["loss"] / len(self.train))

    def evaluate(self, state: _MemberState, split, parts: list[torch.Tensor]) -> dict[str, float]:
        return evaluate(state.model, split, metrics=self.metric_names, topk=self.topk, batch_size=self.eval_batch_size,
                        ranks=parts)

    def release(self) -> None:
        for state in self.states:
            state.optimizer = state.best_state = None
            state.model.zero_grad(set_to_none=True)
        self.states = []
        self.fused = None
        self.train = self.valid = self.test = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
