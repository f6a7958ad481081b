"""Jobs: checking a spec against everything it names, submitting it, and reading jobs back.

A job is an Optuna study of the same name. ``submit`` stores the spec, the search space's text and
the tool's version with it (:mod:`tuner.records`), then queues the whole budget as WAITING trials:
the grid's points for a grid job, empty trials for the others (their parameters are sampled when a
worker takes them). Workers take WAITING trials only, and Optuna's storage hands each to exactly one
(see :mod:`tuner.service.storage` for SQLite), so the budget holds across any number of workers and
hosts, exactly, and a grid point never runs twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import __version__, records
from tuner.config import DATA_DEFAULTS, canonical, suggest
from tuner.environment import mask_url, storage_url
from tuner.errors import ConfigError, JobError, at
from tuner.service.optimizers import check_optimizers, grid_order
from tuner.service.spec import JobSpec, key_lines, read_spec
from tuner.service.storage import open_storage, storage_errors
from tuner.spaces import SearchSpace, parse_file, parse_text


@dataclass(frozen=True)
class Job:
    """A submitted job as a worker or ``tuner status`` sees it, rebuilt from what the storage holds."""

    name: str  # also the Optuna study name
    study_id: int  # Optuna's id: a lower id is an older job
    spec: JobSpec
    space: SearchSpace  # parsed from the stored space text
    attrs: Mapping[str, Any]  # the study's user attributes (records.*)

    @property
    def budget(self) -> int:
        return int(self.spec.n_trials or 0)

    def settings(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The full training settings for one trial: the spec's fixed params, then the trial's values."""
        return trial_settings(self.spec, values)

    def deadline(self) -> dt.datetime | None:
        """No trial starts after this (UTC); None without ``timeout_hours`` or before the first trial."""
        started = self.attrs.get(records.STARTED_AT)
        if self.spec.timeout_hours is None or not started:
            return None
        return dt.datetime.fromisoformat(started) + dt.timedelta(hours=self.spec.timeout_hours)


@dataclass(frozen=True)
class Prepared:
    """A spec checked against its search space, its model's parameters and its dataset."""

    spec: JobSpec  # n_trials filled in (grid size for a grid job without one)
    space: SearchSpace
    space_text: str
    space_name: str
    grid: list[dict[str, Any]] | None  # grid jobs: the points to queue, in queue order (real values)


def prepare(spec_path: str | Path, *, name: str | None = None, load_data: bool = True) -> Prepared:
    """Check everything a job needs before anything is written; raise a :class:`TunerError` saying what is wrong."""
    from tuner.training.settings import known_params

    spec_path = Path(spec_path)
    spec = read_spec(spec_path, name=name)
    where = str(spec_path)
    lines = key_lines(spec_path.read_text(encoding="utf-8"), spec_path)

    space_path = (spec_path.parent / spec.search_space).resolve()
    space = parse_file(space_path)
    space_text = space_path.read_text(encoding="utf-8")
    try:
        known = known_params(spec.model)
    except ConfigError as e:
        raise JobError(at(spec_path, lines.get(("model",)), str(e))) from None
    names = set(known) | set(DATA_DEFAULTS)
    space.check_names(names, spec.model)
    for key in spec.params:
        if canonical(key) not in names or key == "dataset":
            hint = " (the dataset is the spec's own key 'dataset')" if key == "dataset" else suggest(key, names)
            raise JobError(at(spec_path, lines.get(("params", key)), f"params.{key}: not a parameter of {spec.model}{hint}"))
    if "dataset" in space.names:
        raise JobError(f"{where}: the dataset is the spec's own key 'dataset', not a parameter of the search space")
    both = sorted(set(space.names) & set(spec.params))
    if both:
        raise JobError(at(spec_path, lines.get(("params", both[0])), f"params.{both[0]}: also in the search space {space_path.name}; keep one"))

    dataset = _dataset_reference(spec.dataset, spec_path.parent)
    grid = None
    n_trials = spec.n_trials
    if spec.sampler["name"] == "grid":
        points = space.grid()
        if points is None:
            ranges = [p.name for p in space.params if p.kind != "choice"]
            raise JobError(f"{where}: sampler grid needs every parameter to be a choice; {', '.join(ranges)} in {space_path.name} is a range")
        n_trials = n_trials or len(points)
        if n_trials > len(points):
            raise JobError(f"{where}: n_trials {n_trials} is more than the grid's {len(points)} configurations")
        grid = [points[i] for i in grid_order(len(points), spec.sampler.get("seed"))[:n_trials]]
    spec = dataclasses.replace(spec, dataset=dataset, n_trials=n_trials)

    check_optimizers(spec.sampler, spec.pruner, spec.params.get("epochs"), where,
                     eval_step=spec.params.get("eval_step"), n_trials=n_trials)
    settings = _checked_settings(spec, space, where)
    if load_data:
        load_job_dataset(spec, settings)
    return Prepared(spec, space, space_text, space_path.name, grid)


def _dataset_reference(dataset: str, spec_dir: Path) -> str:
    """A folder next to the spec becomes an absolute path (workers elsewhere need it there too); a name stays."""
    candidate = spec_dir / dataset
    return str(candidate.resolve()) if candidate.is_dir() else dataset


def _checked_settings(spec: JobSpec, space: SearchSpace, where: str) -> dict[str, Any]:
    """Resolve the settings of the space's first configuration, so bad fixed values fail at submit."""
    given = spec.params.get("valid_metric")
    if given is not None and str(given).lower() != spec.objective:
        raise JobError(f"{where}: params.valid_metric {given!r} differs from objective {spec.objective!r}; drop it or make them equal")
    first = {p.name: (p.values[0] if p.kind == "choice" else p.low) for p in space.params}
    try:
        settings = trial_settings(spec, first)
    except ConfigError as e:
        raise JobError(f"{where}: params: {e}") from None
    if settings.get("holdout") == "test":  # CaserD2L's default is the tutorial's split, which has no validation
        raise JobError(f"{where}: params.holdout: a job selects on a validation split; set holdout: valid_and_test")
    return settings


def trial_settings(spec: JobSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Fixed params, then the trial's values; the objective is the trainer's ``valid_metric`` (so early
    stopping and the best epoch follow what the job maximises, and the trainer always reports it)."""
    from tuner.training.settings import resolve

    return resolve(spec.model, overrides={**spec.params, **values, "valid_metric": spec.metric}, overrides_source="params")


def load_job_dataset(spec: JobSpec, settings: Mapping[str, Any]) -> None:
    """Load the dataset exactly as training will (GRU4RecF also reads the .item fields it uses)."""
    from tuner.training.run import dataset_for

    dataset_for(spec.dataset, settings)


def submit(spec_path: str | Path, storage: str | None = None, *, name: str | None = None) -> str:
    """Check the spec, create the job and queue its trials; return the job name.

    Nothing is written unless every check passes. A name already in the storage is a :class:`JobError`.
    """
    url = storage_url(storage)
    prepared = prepare(spec_path, name=name)
    optuna_storage = open_storage(url)
    return create_job(optuna_storage, url, prepared)


def create_job(optuna_storage: optuna.storages.RDBStorage, url: str, prepared: Prepared) -> str:
    spec = prepared.spec
    with storage_errors(url):
        if _exists(optuna_storage, spec.name):
            raise JobError(
                f"job {spec.name!r} already exists in {mask_url(url)}: continue it with "
                f"`tuner worker --job {spec.name}` or `tuner run SPEC` (which continues it), or submit under another --name"
            )
        try:
            study = optuna.create_study(study_name=spec.name, storage=optuna_storage, direction="maximize")
        except optuna.exceptions.DuplicatedStudyError:
            raise JobError(f"job {spec.name!r} was just created by someone else in {mask_url(url)}") from None
        attrs = {
            records.SPACE_TEXT: prepared.space_text,
            records.SPACE_NAME: prepared.space_name,
            records.MODEL: spec.model,
            records.DATASET: spec.dataset,
            records.OBJECTIVE: spec.objective,
            records.N_TRIALS: spec.n_trials,
            records.TOOL_VERSION: __version__,
            records.CREATED_AT: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        enqueue_budget(study, prepared.space, prepared.grid, spec.n_trials)
        # Written last: workers serve only studies with a spec, so a half-written job is never run.
        study.set_user_attr(records.SPEC, spec.to_dict())
    return spec.name


def enqueue_budget(study: optuna.Study, space: SearchSpace, grid: list[dict[str, Any]] | None, n_trials: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        points = [space.encode(point) for point in grid] if grid is not None else [{}] * n_trials
        for params in points:
            study.enqueue_trial(params)


def _exists(optuna_storage: optuna.storages.RDBStorage, name: str) -> bool:
    try:
        optuna_storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True


def load_jobs(optuna_storage: optuna.storages.RDBStorage, names: Iterable[str] | None = None) -> list[Job]:
    """Every job in the storage (studies the tool submitted), or the named ones; oldest first.

    An unknown name is a :class:`JobError`; Optuna studies not made by ``tuner submit`` are skipped.
    """
    studies = {s.study_name: s for s in optuna_storage.get_all_studies() if records.SPEC in s.user_attrs}
    if names is None:
        chosen = sorted(studies.values(), key=lambda s: s._study_id)
    else:
        chosen = []
        for name in names:
            if name not in studies:
                known = ", ".join(sorted(studies)) or "none"
                raise JobError(f"no job named {name!r}{suggest(name, studies)} (jobs: {known})")
            chosen.append(studies[name])
        chosen = sorted({s._study_id: s for s in chosen}.values(), key=lambda s: s._study_id)
    return [job_from_study(s.study_name, s._study_id, s.user_attrs) for s in chosen]


def job_from_study(name: str, study_id: int, attrs: Mapping[str, Any]) -> Job:
    spec = JobSpec.from_dict(attrs[records.SPEC])
    space = parse_text(attrs[records.SPACE_TEXT], attrs.get(records.SPACE_NAME) or spec.search_space)
    return Job(name=name, study_id=study_id, spec=spec, space=space, attrs=dict(attrs))


def same_job(job: Job, prepared: Prepared) -> list[str]:
    """What differs between a stored job and a spec (empty when ``tuner run`` may simply continue it)."""
    stored, given = job.spec.to_dict(), prepared.spec.to_dict()
    diffs = [key for key in given if stored.get(key) != given[key]]
    if job.attrs.get(records.SPACE_TEXT) != prepared.space_text:
        diffs.append("search space text")
    return diffs


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of failed trials that were queued again (their rerun carries ``retry_of``)."""
    return {t.user_attrs[records.RETRY_OF] for t in trials if records.RETRY_OF in t.user_attrs}


def count_states(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    counts = {state.name: 0 for state in TrialState}
    for trial in trials:
        counts[trial.state.name] += 1
    return counts
