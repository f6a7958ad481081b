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
- ``best_epoch``, ``epochs`` (epochs run, counted from 1), ``seconds`` (training wall time)
- ``device`` (``"cpu"``, ``"cuda:0"``), ``host``, ``worker`` (``"host:pid:slot"``)
- ``fail_reason`` for a failed trial, ``prune_reason`` for a pruned one. A trial whose worker died is
  failed by another worker's reaper with ``fail_reason`` "worker lost: ..."; one stopped by SIGTERM/Ctrl-C
  has "interrupted: ...". Both are queued again (a new WAITING trial, same parameters) unless the job's
  ``max_retries`` crash reruns are used up.
- ``retry_of``: the number of the trial this one reruns after a crash or an interruption
- ``copy_of``: the sampler drew the parameters of this complete trial again; its result was reused
  rather than trained twice (training is deterministic for one job), as Optuna's FAQ suggests
- ``epoch_metrics``: the learning curves, ``{"epoch": [1, 2, ...], "seconds": [...], "ndcg@10": [...], ...}``:
  every reported epoch's validation metrics (6 significant digits) and the seconds since the previous report
  (that epoch's training and validation); for complete, pruned and failed trials alike
- ``gpu_peak_mib``: peak GPU memory the trial allocated (GPU trials only)
Per-epoch validation objective values are Optuna intermediate values (step = epoch).
Budget: the job's ``n_trials`` trials are queued at submit as WAITING trials; every trial counts once
(complete, pruned, failed, running or waiting) except a failed one that was queued again (its rerun counts).
"""

from __future__ import annotations

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
