"""``tuner run``: submit a job (or continue it), run local workers until it is finished."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tuner import records
from tuner.environment import mask_url, storage_url
from tuner.errors import JobError
from tuner.service.devices import cuda_device_count
from tuner.service.jobs import Job, Prepared, create_job, enqueue_budget, load_jobs, prepare, same_job
from tuner.service.objective import Objective, train_objective
from tuner.service.progress import Progress
from tuner.service.status import JobStatus, status
from tuner.service.storage import open_storage, storage_errors
from tuner.service.worker import HEARTBEAT_INTERVAL_S, POLL_INTERVAL_S, run_worker, setup_logging

log = logging.getLogger("tuner.worker")


@dataclass(frozen=True)
class RunOutcome:
    name: str  # the job's name
    continued: bool  # the job existed already and was continued
    exit_code: int  # the workers' (0 unless a slot failed)
    status: JobStatus  # the job when the workers stopped


def run_job(
    spec_path: str | Path,
    storage: str | None = None,
    *,
    workers: int | None = None,
    name: str | None = None,
    devices: str | None = None,
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = None,
    poll_interval: float = POLL_INTERVAL_S,
    objective: Objective = train_objective,
    gpu_count: Callable[[], int] = cuda_device_count,
    progress: Callable[[Progress], None] | None = None,
) -> RunOutcome:
    """Submit ``spec_path`` and run ``workers`` local slots until the job is finished.

    If a job of that name exists with the same spec, it is continued (its finished trials are kept);
    if only ``n_trials`` grew, the extra trials are queued. Any other difference is a :class:`JobError`
    naming it, since results under one name must come from one spec. ``progress``: as for ``run_worker``.
    """
    url = storage_url(storage)
    setup_logging(url)
    prepared = prepare(spec_path, name=name)
    job_name = prepared.spec.name
    optuna_storage = open_storage(url)
    try:
        with storage_errors(url):
            existing = {j.name: j for j in load_jobs(optuna_storage)}.get(job_name)
            if existing is None:
                create_job(optuna_storage, url, prepared)
                log.info("submitted job %s to %s (%d trials)", job_name, mask_url(url), prepared.spec.n_trials)
            else:
                _continue(optuna_storage, url, existing, prepared, spec_path)
    finally:
        optuna_storage.engine.dispose()
    code = run_worker(
        url, [job_name], devices=devices, workers=workers, until_done=True, heartbeat_interval=heartbeat_interval,
        grace_period=grace_period, poll_interval=poll_interval, objective=objective, gpu_count=gpu_count,
        progress=progress,
    )
    (final,) = status(url, [job_name])
    return RunOutcome(name=job_name, continued=existing is not None, exit_code=code, status=final)


def _continue(optuna_storage, url: str, job: Job, prepared: Prepared, spec_path: str | Path) -> None:
    diffs = same_job(job, prepared)
    others = [d for d in diffs if d != "confirm"]  # a confirmation stage may be added or changed on the way
    grow = others == ["n_trials"] and prepared.spec.n_trials > job.budget and prepared.grid is None
    if others and not grow:
        raise JobError(
            f"job {job.name!r} in {mask_url(url)} was submitted with a different {', '.join(others)} than {spec_path}; "
            f"run it under a new name (--name {job.name}-2) or restore the spec to continue it"
        )
    if not diffs:
        log.info("job %s exists in %s with the same spec: continuing it", job.name, mask_url(url))
        return
    import optuna

    study = optuna.load_study(study_name=job.name, storage=optuna_storage)
    if grow:
        extra = prepared.spec.n_trials - job.budget
        enqueue_budget(study, prepared.space, None, extra)
        study.set_user_attr(records.N_TRIALS, prepared.spec.n_trials)
        log.info("job %s exists: budget raised from %d to %d trials", job.name, job.budget, prepared.spec.n_trials)
    if "confirm" in diffs:  # read by the workers; a round already queued stays (tuner confirm adds more)
        log.info("job %s exists: its confirmation stage is now %s", job.name, prepared.spec.confirm)
    study.set_user_attr(records.SPEC, prepared.spec.to_dict())
