"""The D2L tutorial's protocol for ``CaserD2L``: its data, BPR training and ranking evaluation, on the device.

As the tutorial's ``train_ranking`` runs it: each epoch shuffles the windows (:mod:`tuner.data.d2l`),
draws one negative per window uniformly from the items the user never interacted with, and takes Adam
steps on the mean BPR loss of batches of ``train_batch_size``, the last partial batch dropped. The
tutorial evaluates once, after the last epoch; with ``holdout: valid_and_test`` the validation split is
evaluated every ``eval_step`` epochs for early stopping and tuning (RecBole's rule, tuner.training.stopping),
and test uses the best validation's weights.

Evaluation ranks each user's held-out item against every item the user has not interacted with before
it (the tutorial's intent, done correctly: its ``evaluate_ranking`` draws candidates from
``range(num_users)`` and cuts its hit rate at 50). Ties go to the lower item id, as a stable sort by
descending score orders them. Hit@K is ``rank <= K``; AUC is the fraction of the other candidates ranked
below the target, ``(n_candidates - rank) / (n_candidates - 1)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from tuner import config
from tuner.data.d2l import D2LData, Holdout, load_d2l
from tuner.errors import ConfigError, NonFiniteLossError
from tuner.models.base import Batch, SequentialRecommender
from tuner.models.registry import build_model
from tuner.training.metrics import FULL_RANK_METRICS, mean_metrics, metric_sums
from tuner.training.seeding import init_seed
from tuner.training.settings import TrainerConfig, resolve_device
from tuner.training.stopping import EarlyStopping
from tuner.training.trainer import EpochHook, ProgressHook, RunResult


def train_d2l(
    model_name: str,
    settings: Mapping[str, Any],
    *,
    dataset: D2LData | str | None = None,
    device: str | torch.device | None = None,
    on_epoch: EpochHook | None = None,
    progress: ProgressHook | None = None,
) -> RunResult:
    """``tuner.training.train`` for a D2L-protocol model: ``settings`` already resolved."""
    if on_epoch is not None and settings["holdout"] == "test":
        raise ConfigError("holdout: tuning selects on a validation split; set holdout: valid_and_test "
                          "(holdout test is the tutorial's reproduction, which has none)")
    data = d2l_dataset(dataset if dataset is not None else settings.get("dataset"), settings)
    init_seed(settings["seed"], settings["reproducibility"])
    model = build_model(model_name, settings, n_user_ids=data.n_users, n_item_ids=data.n_items,
                        max_seq_length=settings["MAX_ITEM_LIST_LENGTH"])
    return fit_d2l(model, data, settings, on_epoch=on_epoch, progress=progress, device=device)


def d2l_dataset(given: D2LData | str | None, settings: Mapping[str, Any]) -> D2LData:
    """The tutorial's split of ``given`` (a name or folder, loaded with the run's options), or ``given`` checked."""
    if given is None:
        raise ConfigError("no dataset: name one (--dataset ml-100k) or set 'dataset' in the config file")
    L, holdout = settings["MAX_ITEM_LIST_LENGTH"], settings["holdout"]
    if isinstance(given, D2LData):
        if given.windows.item_seq.shape[1] != L or (given.valid is not None) != (holdout == "valid_and_test"):
            raise ConfigError(f"the given dataset {given.name!r} was built for another L or holdout than "
                              f"MAX_ITEM_LIST_LENGTH {L}, holdout {holdout}")
        return given
    if not isinstance(given, str):
        raise ConfigError(f"dataset: CaserD2L trains on the D2L split of a dataset name or folder, got {type(given).__name__}")
    return load_d2l(given, {k: settings[k] for k in config.DATA_DEFAULTS}, L, holdout)


def fit_d2l(
    model: SequentialRecommender,
    data: D2LData,
    settings: Mapping[str, Any],
    *,
    on_epoch: EpochHook | None = None,
    progress: ProgressHook | None = None,
    device: str | torch.device | None = None,
) -> RunResult:
    """Train ``model`` on ``data.windows``; validate (if ``data.valid``) and test as the module says."""
    cfg = TrainerConfig.from_settings(settings, full_rank=True)
    target = resolve_device(device if device is not None else cfg.device)
    if len(data.windows) < cfg.train_batch_size:
        raise ConfigError(f"train_batch_size: {cfg.train_batch_size} is more than the {len(data.windows)} training "
                          "windows; the last partial batch is dropped, so no step would run")
    model = model.to(target)
    windows = replace(data.windows, **{k: getattr(data.windows, k).to(target) for k in ("user", "item_seq", "target")})
    not_negative = data.not_negative.to(target)
    valid = _to(data.valid, target)
    test = _to(data.test, target)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay,
                                 fused=target.type in ("cpu", "cuda"))
    generator = torch.Generator(target).manual_seed(cfg.seed)
    names, topk = cfg.report_metrics()
    start = time.perf_counter()
    stopper = EarlyStopping(cfg.stopping_step)
    history: list[dict[str, Any]] = []
    best_valid: dict[str, float] = {}
    best_epoch, best_state, best_ranks = 0, None, None
    for epoch in range(1, cfg.epochs + 1):
        tick = time.perf_counter()
        loss = train_epoch(model, optimizer, windows, not_negative, cfg.train_batch_size, generator)
        if not math.isfinite(loss):
            raise NonFiniteLossError(f"epoch {epoch}: the training loss is {loss} (try a smaller learning_rate); the run stops")
        record: dict[str, Any] = {"epoch": epoch, "loss": loss, "train_seconds": time.perf_counter() - tick}
        stop = False
        if valid is not None and (epoch % min(cfg.eval_step, cfg.epochs) == 0):
            tick = time.perf_counter()
            ranks, n_candidates = rank_holdout(model, valid, cfg.eval_batch_size)
            record["valid"] = metrics_of(ranks, n_candidates, names, topk)
            record["valid_seconds"] = time.perf_counter() - tick
            improved, stop = stopper.update(record["valid"][cfg.valid_metric])
            if improved:
                best_valid, best_epoch, best_ranks = record["valid"], epoch, _kept_ranks(ranks, topk)
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            record["best_epoch"] = best_epoch
        history.append(record)
        if progress is not None:
            progress(record)
        if "valid" in record and on_epoch is not None:
            on_epoch(epoch, record["valid"])
        if stop:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    ranks, n_candidates = rank_holdout(model, test, cfg.eval_batch_size)
    per_user = {"test": _kept_ranks(ranks, topk)}
    if best_ranks is not None:
        per_user["valid"] = best_ranks
    return RunResult(
        valid=best_valid,
        test=metrics_of(ranks, n_candidates, names, topk),
        best_epoch=best_epoch if valid is not None else len(history),
        epochs=len(history),
        seconds=time.perf_counter() - start,
        history=history,
        ranks=per_user,
        train_loss=history[-1]["loss"],
    )


def train_epoch(model, optimizer, windows, not_negative: torch.Tensor, batch_size: int, generator) -> float:
    """One shuffled pass, fresh negatives, the last partial batch dropped; the mean of the batch losses."""
    model.train()
    n = len(windows)
    order = torch.randperm(n, generator=generator, device=not_negative.device)
    negatives = sample_negatives(windows.user, not_negative, generator)
    lengths = torch.full((batch_size,), windows.item_seq.shape[1], device=not_negative.device)
    total = torch.zeros((), device=not_negative.device)
    n_batches = n // batch_size
    for i in range(n_batches):
        rows = order[i * batch_size:(i + 1) * batch_size]
        batch = Batch(windows.user[rows], windows.item_seq[rows], lengths, windows.target[rows], negatives[rows])
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(batch)
        loss.backward()
        optimizer.step()
        total += loss.detach()
    return float(total) / n_batches  # one device sync per epoch


def sample_negatives(user: torch.Tensor, not_negative: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(N,) one item per row of ``user``, uniform over the items ``not_negative[user]`` leaves (redrawing the rest)."""
    n_items = not_negative.shape[1]
    negatives = torch.randint(n_items, user.shape, generator=generator, device=user.device)
    redraw = torch.nonzero(not_negative[user, negatives]).squeeze(1)
    while redraw.numel():
        drawn = torch.randint(n_items, redraw.shape, generator=generator, device=user.device)
        negatives[redraw] = drawn
        redraw = redraw[not_negative[user[redraw], drawn]]
    return negatives


def rank_holdout(model: SequentialRecommender, split: Holdout, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(U,) the target's 1-based rank among the user's candidates, and (U,) how many candidates there are."""
    was_training = model.training
    model.eval()
    ranks, counts = [], []
    try:
        with torch.inference_mode():
            for lo in range(0, len(split), batch_size):
                rows = slice(lo, lo + batch_size)
                target = split.target[rows]
                batch = Batch(split.user[rows], split.item_seq[rows], torch.empty(0), target)
                scores = torch.nan_to_num(model.full_sort_scores(batch), nan=-math.inf)  # (B, n_items)
                own = scores.gather(1, target[:, None])  # (B, 1)
                ids = torch.arange(scores.shape[1], device=scores.device)
                ahead = (scores > own) | ((scores == own) & (ids < target[:, None]))  # (B, n_items)
                candidate = ~split.seen[rows]
                ranks.append((ahead & candidate).sum(dim=1) + 1)
                counts.append(candidate.sum(dim=1))
    finally:
        model.train(was_training)
    return torch.cat(ranks), torch.cat(counts)


def metrics_of(ranks: torch.Tensor, n_candidates: torch.Tensor, names, topk) -> dict[str, float]:
    """Mean metrics: RecBole's at each K (:func:`metric_sums` of full ranks) and the full-rank ones (AUC)."""
    top_k_names = [n for n in names if n not in FULL_RANK_METRICS]
    out = mean_metrics(metric_sums(ranks, top_k_names, topk), len(ranks))
    if "auc" in names:
        below = (n_candidates - ranks).double() / (n_candidates - 1).clamp(min=1)
        out["auc"] = float(torch.where(n_candidates > 1, below, 1.0).mean())
    return out


def _kept_ranks(ranks: torch.Tensor, topk) -> np.ndarray:
    """Per-user ranks as every trial stores them (tuner.per_user): the rank up to max(topk), else 0."""
    return torch.where(ranks <= max(topk), ranks, 0).cpu().numpy()


def _to(split: Holdout | None, device: torch.device) -> Holdout | None:
    if split is None:
        return None
    return Holdout(*(t.to(device) for t in (split.user, split.item_seq, split.target, split.seen)))
