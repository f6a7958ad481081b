"""What the tool stores beside Optuna's own tables: the attribute names both the service (writer)
and the report (reader) agree on. A job is an Optuna study of the same name.

Study user attributes (written once by ``tuner submit``):
- ``spec``: the job spec as a plain dict (paths resolved, secrets never stored)
- ``space_text``: the search-space file's text; ``space_name``: its file name
- ``model``, ``dataset``, ``objective`` (e.g. ``"ndcg@10"``, maximised), ``n_trials`` (budget)
- ``tool_version``, ``created_at`` (ISO 8601, UTC)
- ``started_at`` (ISO 8601, UTC): when a worker first took one of its trials (``timeout_hours`` counts from it)

Trial user attributes (written by the worker that ran the trial):
- ``valid_metrics``, ``test_metrics``: ``{"ndcg@10": float, ...}`` at the best epoch
- ``best_epoch``, ``epochs`` (epochs run, counted from 1), ``seconds`` (training wall time). A pruned trial
  tells one story, the one Optuna's value tells (the objective of the epoch it was pruned at): its
  ``valid_metrics`` are that last reported epoch's and it has no ``best_epoch`` (the curve is in
  ``epoch_metrics``); a failed or interrupted trial keeps the best epoch it reached
- ``device`` (``"cpu"``, ``"cuda:0"``), ``host``, ``worker`` (``"host:pid:slot"``)
- ``fail_reason`` for a failed trial, ``prune_reason`` for a pruned one. A trial whose worker died is
  failed by another worker's reaper with ``fail_reason`` "worker lost: ..."; one stopped by SIGTERM/Ctrl-C
  has "interrupted: ...". Both are queued again (a new WAITING trial, same parameters) unless the job's
  ``max_retries`` crash reruns are used up.
- ``retry_of``: the number of the trial this one reruns after a crash or an interruption
- ``copy_of``: the sampler drew the parameters of this complete trial again, with the same seed, device and
  threads: it was not trained again. The copy is recorded FAIL, with no value and ``fail_reason`` "copy of
  trial N ...", so Optuna's ``best_trials`` and samplers see one result per configuration; it counts against
  the budget once and is never queued again
- ``role``: ``"search"`` (a trial of the ``n_trials`` budget) or ``"replicate"`` (the confirmation stage:
  a configuration run again with another seed; not counted against ``n_trials``, never pruned)
- ``config_id``: a short hash of the parameters without ``seed`` (:func:`config_id`); the same on every run
  of one configuration, search runs included
- ``seed``: the seed the trial trained with (every trial); ``threads``: torch's CPU thread count in its slot
- ``confirm_round``: replicates only: the confirmation round that queued it (0: the spec's ``confirm``,
  1, 2, ...: each ``tuner confirm``)
- ``epoch_metrics``: the learning curves, ``{"epoch": [1, 2, ...], "seconds": [...], "ndcg@10": [...], ...}``:
  every reported epoch's validation metrics (6 significant digits) and the seconds since the previous report
  (that epoch's training and validation); for complete, pruned and failed trials alike
- ``gpu_peak_mib``: peak GPU memory the trial allocated (GPU trials only)
- ``promoted_from``: the ``topk`` pruner queued this trial to train in full, being among the k best at its
  epoch; the number of the first-stage (pruned) trial of the same configuration
Per-epoch validation objective values are Optuna intermediate values (step = epoch).
Per-user ranks of a complete trial (validation at the best epoch, test) live in the side table of
:mod:`tuner.per_user`, keyed by Optuna's trial id. Confirmation rounds are claimed in the side table of
:mod:`tuner.service.confirm`.
Budget: the job's ``n_trials`` trials are queued at submit as WAITING trials; every search trial counts once
(complete, pruned, failed, running or waiting) except a failed one that was queued again (its rerun counts).
Replicates are counted apart, the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# study user attributes
SPEC = "spec"
SPACE_TEXT = "space_text"
SPACE_NAME = "space_name"
MODEL = "model"
DATASET = "dataset"
OBJECTIVE = "objective"
N_TRIALS = "n_trials"
TOOL_VERSION = "tool_version"
CREATED_AT = "created_at"
STARTED_AT = "started_at"

# trial user attributes
VALID_METRICS = "valid_metrics"
TEST_METRICS = "test_metrics"
BEST_EPOCH = "best_epoch"
EPOCHS = "epochs"
SECONDS = "seconds"
DEVICE = "device"
HOST = "host"
WORKER = "worker"
FAIL_REASON = "fail_reason"
PRUNE_REASON = "prune_reason"
RETRY_OF = "retry_of"
COPY_OF = "copy_of"
EPOCH_METRICS = "epoch_metrics"
GPU_PEAK_MIB = "gpu_peak_mib"
PROMOTED_FROM = "promoted_from"
ROLE = "role"
CONFIG_ID = "config_id"
SEED = "seed"
THREADS = "threads"
CONFIRM_ROUND = "confirm_round"

# values of ROLE
SEARCH = "search"
REPLICATE = "replicate"


def config_id(params: Mapping[str, Any]) -> str:
    """A configuration's id: 10 hex digits of a hash of its parameters (as Optuna stores them) without ``seed``."""
    text = json.dumps({k: v for k, v in params.items() if k != SEED}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]
