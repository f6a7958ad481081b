"""The tuning service: job specs, submit and status, worker slots with heartbeats and a reaper.

A job is an Optuna study of the same name in any SQLAlchemy database (SQLite for one machine,
PostgreSQL or MySQL for many). ``submit`` checks a spec and queues its whole budget; workers on any
host take queued trials, train, and write results back; ``status`` reads progress. See docs/service.md.

The worker modules never import plotly (the report does).
"""

from tuner.environment import mask_url
from tuner.service.confirm import Confirmation, confirm_job
from tuner.service.devices import Slot, plan_slots
from tuner.service.jobs import Job, Prepared, load_jobs, prepare, submit
from tuner.service.objective import Objective, TrialContext, train_objective
from tuner.service.presence import WorkerStatus
from tuner.service.run import RunOutcome, run_job
from tuner.service.spec import JobSpec, parse_spec, read_spec
from tuner.service.status import JobStatus, RankedConfiguration, RankedTrial, job_status, ranking, status, workers
from tuner.service.storage import open_storage
from tuner.service.worker import run_worker

__all__ = [
    "Confirmation",
    "Job",
    "JobSpec",
    "JobStatus",
    "Objective",
    "Prepared",
    "RankedConfiguration",
    "RankedTrial",
    "RunOutcome",
    "Slot",
    "TrialContext",
    "WorkerStatus",
    "confirm_job",
    "job_status",
    "load_jobs",
    "mask_url",
    "open_storage",
    "parse_spec",
    "plan_slots",
    "prepare",
    "ranking",
    "read_spec",
    "run_job",
    "run_worker",
    "status",
    "submit",
    "train_objective",
    "workers",
]
