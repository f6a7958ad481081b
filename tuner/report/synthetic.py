"""Jobs that look like the service wrote them, without training anything.

The report's tests, its benchmark and ``docs/report.md`` need studies that follow the
:mod:`tuner.records` contract (complete, pruned, failed and running trials from several workers and
devices, learning curves as intermediate values). This module writes such a study with Optuna's
public API in one ``add_trials`` call, so even 2,000 trials take seconds.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Sequence

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from tuner import __version__, records

# A small search space per model: RecBole's parameter names and plausible ranges.
SPACES = {
    "Caser": {
        "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
        "embedding_size": CategoricalDistribution([32, 64, 128]),
        "nh": IntDistribution(4, 32),
        "nv": IntDistribution(1, 8),
        "dropout_prob": FloatDistribution(0.0, 0.6),
    },
    "GRU4RecF": {
        "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
        "hidden_size": CategoricalDistribution([64, 128, 256]),
        "num_layers": IntDistribution(1, 3),
        "dropout_prob": FloatDistribution(0.0, 0.6),
        "pooling_mode": CategoricalDistribution(["sum", "mean", "max"]),
    },
}

SPACE_TEXT = {
    "Caser": "learning_rate loguniform -9.2,-4.6\nembedding_size choice [32,64,128]\n"
    "nh randint 4,33\nnv randint 1,9\ndropout_prob uniform 0,0.6\n",
    "GRU4RecF": "learning_rate loguniform -9.2,-4.6\nhidden_size choice [64,128,256]\n"
    "num_layers randint 1,4\ndropout_prob uniform 0,0.6\npooling_mode choice ['sum','mean','max']\n",
}

FAIL_REASONS = (
    "TrainingError: CUDA out of memory (tried to allocate 2.00 GiB)",
    "NonFiniteLossError: loss became nan at epoch 3",
    "worker lost: no heartbeat for over 60 s (worker {worker})",
)


def add_synthetic_job(
    storage: str | optuna.storages.BaseStorage,
    name: str,
    n_trials: int,
    *,
    model: str = "Caser",
    dataset: str = "ml-100k",
    objective: str = "ndcg@10",
    seed: int = 0,
    workers: Sequence[tuple[str, str]] = (("gpu-a:101:0", "cuda:0"), ("gpu-a:102:1", "cuda:1"), ("cpu-b:7:0", "cpu")),
    n_running: int = 2,
    n_waiting: int = 0,
    spec_extra: dict | None = None,
    confirm: tuple[int, int] = (0, 0),
) -> optuna.Study:
    """Create study ``name`` holding ``n_trials`` trials as the service would have written them.

    About 70% complete, 20% pruned, 5% failed (one of them retried), then ``n_running`` running and
    ``n_waiting`` waiting (queued, not started) trials. ``confirm=(K, S)``: then S replicates (seeds 1..S)
    of each of the K best complete trials, and every trial records its role, config_id and seed (a job
    without them is one from before the confirmation stage).
    The objective rises with learning rate near 3e-3 and with dropout near 0.2, plus noise.
    """
    rng = random.Random(seed)
    space = SPACES[model]
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    # the shape of tuner.service's JobSpec.to_dict()
    spec = {"name": name, "model": model, "dataset": dataset, "search_space": f"{model.lower()}.hyper",
            "objective": objective, "n_trials": n_trials,
            "params": {"epochs": 30, "stopping_step": 5, "train_batch_size": 2048, "MAX_ITEM_LIST_LENGTH": 10},
            "timeout_hours": None, "sampler": {"name": "tpe", "seed": seed},
            "pruner": {"name": "median", "n_startup_trials": 5}, "max_retries": 2}
    spec.update(spec_extra or {})
    attrs = {
        records.SPEC: spec, records.SPACE_TEXT: SPACE_TEXT[model], records.SPACE_NAME: f"{model.lower()}.hyper",
        records.MODEL: model, records.DATASET: dataset, records.OBJECTIVE: objective, records.N_TRIALS: n_trials,
        records.TOOL_VERSION: __version__, records.CREATED_AT: "",
    }
    # Start in the past so that the last trials end about now (Optuna keeps naive local times).
    begin = dt.datetime.now() - dt.timedelta(seconds=25 * n_trials / len(workers))
    clock = {worker: begin + dt.timedelta(seconds=i) for i, (worker, _) in enumerate(workers)}
    attrs[records.CREATED_AT] = begin.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    trials = []
    failed = []
    devices = dict(workers)
    for number in range(n_trials):
        worker = min(clock, key=clock.get)  # the free worker slot takes the next trial, as in the service
        device = devices[worker]
        params = {key: dist.to_external_repr(_sample(rng, dist)) for key, dist in space.items()}
        quality = _quality(params, model) + rng.gauss(0, 0.004)
        running = number >= n_trials - n_running
        roll = rng.random()
        state = (TrialState.RUNNING if running else TrialState.FAIL if roll < 0.05
                 else TrialState.PRUNED if roll < 0.25 else TrialState.COMPLETE)
        max_epochs = 30
        epochs = {TrialState.PRUNED: rng.randint(2, 8), TrialState.FAIL: rng.randint(1, 4),
                  TrialState.RUNNING: rng.randint(1, 10)}.get(state, rng.randint(12, max_epochs))
        curve = {e: quality * (1 - math.exp(-e / 4)) + rng.gauss(0, 0.001) for e in range(1, epochs + 1)}
        if state == TrialState.PRUNED:
            curve = {e: v * 0.7 for e, v in curve.items()}
        seconds = epochs * (2.0 if device == "cpu" else 0.6) * (1 + rng.random())
        start = clock[worker]
        clock[worker] = start + dt.timedelta(seconds=seconds + 0.5)
        user_attrs = {records.DEVICE: device, records.HOST: worker.split(":")[0], records.WORKER: worker}
        if device.startswith("cuda"):
            user_attrs[records.GPU_PEAK_MIB] = round(300 + params.get("embedding_size", params.get("hidden_size", 64)) * 4
                                                     + rng.random() * 50, 1)
        value = None
        if state == TrialState.COMPLETE:
            best_epoch = max(curve, key=curve.get)
            valid = _metrics(curve[best_epoch], rng)
            valid[objective] = curve[best_epoch]
            test = _metrics(curve[best_epoch] * 0.85, rng)
            value = valid[objective]
            user_attrs.update({records.VALID_METRICS: valid, records.TEST_METRICS: test,
                               records.BEST_EPOCH: best_epoch, records.EPOCHS: epochs, records.SECONDS: seconds})
        elif state == TrialState.PRUNED:
            user_attrs.update({records.EPOCHS: epochs, records.SECONDS: seconds,
                               records.PRUNE_REASON: "MedianPruner: below the median of earlier trials at the same epoch"})
        elif state == TrialState.FAIL:
            user_attrs.update({records.EPOCHS: epochs, records.SECONDS: seconds,
                               records.FAIL_REASON: FAIL_REASONS[len(failed) % len(FAIL_REASONS)].format(worker=worker)})
            failed.append(number)
        if failed and state == TrialState.COMPLETE and not any(records.RETRY_OF in t.user_attrs for t in trials):
            user_attrs[records.RETRY_OF] = failed[0]
        trials.append(FrozenTrial(
            number=number, trial_id=number, state=state, value=value, values=None,
            datetime_start=start,
            datetime_complete=None if running else clock[worker] - dt.timedelta(seconds=0.5),
            params=params, distributions=dict(space), user_attrs=user_attrs, system_attrs={},
            intermediate_values=curve,
        ))
    for number in range(n_trials, n_trials + n_waiting):  # the rest of the budget, queued as the service does
        trials.append(FrozenTrial(
            number=number, trial_id=number, state=TrialState.WAITING, value=None, values=None, datetime_start=None,
            datetime_complete=None, params={}, distributions={}, user_attrs={}, system_attrs={}, intermediate_values={},
        ))
    if confirm[0] > 0:
        trials += _replicates(trials, confirm, objective, model, rng)
    study.add_trials(trials)
    return study


def _replicates(trials: list[FrozenTrial], confirm: tuple[int, int], objective: str, model: str,
                rng: random.Random) -> list[FrozenTrial]:
    """S more seeds of the K best complete trials, after them in time; every trial gets role, config_id, seed."""
    top, seeds = confirm
    for t in trials:
        if t.params:
            t.user_attrs.update({records.ROLE: records.SEARCH, records.CONFIG_ID: records.config_id(t.params),
                                 records.SEED: 2020})
    best = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: -t.value)[:top]
    end = max(t.datetime_complete or t.datetime_start for t in trials if t.datetime_start)
    out = []
    for i, first in enumerate(t for t in best for _ in range(seeds)):
        value = _quality(first.params, model) + rng.gauss(0, 0.004)
        valid, test = _metrics(value, rng), _metrics(value * 0.85, rng)
        valid[objective] = value
        start = end + dt.timedelta(seconds=20 * i)
        attrs = {k: first.user_attrs[k] for k in (records.DEVICE, records.HOST, records.WORKER)}
        attrs.update({records.ROLE: records.REPLICATE, records.CONFIG_ID: first.user_attrs[records.CONFIG_ID],
                      records.SEED: 1 + i % seeds, records.VALID_METRICS: valid, records.TEST_METRICS: test,
                      records.BEST_EPOCH: first.user_attrs[records.BEST_EPOCH], records.EPOCHS: first.user_attrs[records.EPOCHS],
                      records.SECONDS: 19.0})
        out.append(FrozenTrial(
            number=len(trials) + i, trial_id=len(trials) + i, state=TrialState.COMPLETE, value=value, values=None,
            datetime_start=start, datetime_complete=start + dt.timedelta(seconds=19), params=dict(first.params),
            distributions=dict(first.distributions), user_attrs=attrs, system_attrs={},
            intermediate_values={e: v * value / first.value for e, v in first.intermediate_values.items()},
        ))
    return out


def _sample(rng: random.Random, dist) -> float:
    """A value in internal representation (a choice's index for categoricals)."""
    if isinstance(dist, CategoricalDistribution):
        return rng.randrange(len(dist.choices))
    if isinstance(dist, IntDistribution):
        return rng.randint(dist.low, dist.high)
    if dist.log:
        return math.exp(rng.uniform(math.log(dist.low), math.log(dist.high)))
    return rng.uniform(dist.low, dist.high)


def _quality(params: dict, model: str) -> float:
    lr = -abs(math.log10(params["learning_rate"]) - math.log10(3e-3)) * 0.01
    dropout = -abs(params["dropout_prob"] - 0.2) * 0.02
    base = 0.065 if model == "Caser" else 0.072
    return base + lr + dropout


def _metrics(ndcg: float, rng: random.Random) -> dict[str, float]:
    """Plausible metrics @10 around a given NDCG@10 (recall ~2x, mrr ~0.7x, hit = recall in leave-one-out)."""
    recall = ndcg * 2.05 + rng.gauss(0, 0.001)
    return {"recall@10": recall, "ndcg@10": ndcg, "mrr@10": ndcg * 0.7, "hit@10": recall, "precision@10": recall / 10}


def simulated_ranks(
    rng,
    user_logits,
    n_runs: int,
    *,
    offset: float = 0.0,
    shift_sd: float = 0.05,
    noise_sd: float = 0.3,
    k: int = 10,
):
    """Per-user ranks of the target (1..k, 0: not in the top k) in ``n_runs`` simulated training runs of one
    configuration, shape (runs, users), as :mod:`tuner.per_user` stores them.

    A user's target reaches the top k with probability ``sigmoid(user_logit + offset + shift + noise)``:
    ``user_logits`` is how easy each user is (shared by every configuration), ``offset`` how good the
    configuration is, ``shift`` (sd ``shift_sd``) what one seed moves for every user, ``noise`` (sd
    ``noise_sd``) what it moves per user; a hit lands on a uniform position 1..k. ``rng`` is a
    ``numpy.random.Generator``. For the statistics' A/A and A/B checks (docs/statistics.md).
    """
    import numpy as np

    logits = np.asarray(user_logits, dtype=np.float64)
    shift = rng.normal(0.0, shift_sd, size=(n_runs, 1))
    noise = rng.normal(0.0, noise_sd, size=(n_runs, logits.size))
    hit = rng.random((n_runs, logits.size)) < 1.0 / (1.0 + np.exp(-(logits + offset + shift + noise)))
    return np.where(hit, rng.integers(1, k + 1, size=hit.shape), 0).astype(np.int64)


def simulated_rejection_rate(
    *,
    offset_b: float = 0.0,
    interaction: float = 0.0,
    runs: int = 5,
    users: int = 943,
    repetitions: int = 400,
    with_users: bool = True,
    seed: int = 0,
    **kw,
) -> float:
    """The share of ``repetitions`` in which :func:`tuner.report.confidence.compare` tells configuration A
    from B at 5%, each run ``runs`` times on a fresh sample of ``users`` (ml-100k's 943 by default).

    Users are drawn so that hit@10 is about 0.12 and NDCG@10 about 0.05, as Caser on ml-100k. ``offset_b``:
    how much worse B is (0: the same configuration under two labels, an A/A check). ``interaction``: B is
    better on some users and worse on others by that much while A and B are equally good over the
    population (A gets +g per user, B -g, g symmetric). ``with_users=False`` tests over seeds only.
    Other keywords go to :func:`simulated_ranks`.
    """
    import numpy as np

    from tuner.per_user import per_user_values
    from tuner.report.confidence import ALPHA, compare

    def ndcg(logits, offset=0.0):
        ranks = simulated_ranks(rng, logits, runs, offset=offset, **kw)
        return per_user_values(ranks.ravel(), "ndcg@10").reshape(runs, -1)

    rng = np.random.default_rng(seed)
    told = 0
    for _ in range(repetitions):
        logits = rng.normal(-2.3, 1.0, users)
        g = rng.normal(0.0, interaction, users)
        a, b = ndcg(logits + g), ndcg(logits - g, offset_b)
        result = compare(a.mean(axis=1), b.mean(axis=1), a if with_users else None, b if with_users else None)
        told += result.p_value < ALPHA
    return told / repetitions
