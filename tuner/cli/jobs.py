"""``tuner submit | worker | status | run``: jobs and the workers that run them (tuner.service)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from tuner.cli.common import add_storage_option, print_json
from tuner.cli.progress import WATCH_DEFAULT_S, every, progress_display
from tuner.environment import DEVICES, TRIALS_PER_DEVICE, mask_url, storage_url

def register(subparsers: argparse._SubParsersAction) -> None:
    submit = subparsers.add_parser(
        "submit", help="check a job spec and queue its trials",
        description="Check everything (spec, search space, parameter names, dataset, sampler, pruner), then "
        "create the job and queue its whole budget. Writes nothing if anything is wrong. Prints the job name.",
    )
    submit.add_argument("spec", metavar="SPEC", help="a job spec, e.g. studies/caser-ml100k.yaml")
    add_storage_option(submit)
    submit.add_argument("--name", help="job name (default: the spec's name)")
    submit.set_defaults(func=_submit)

    worker = subparsers.add_parser(
        "worker", help="run trials of the queued jobs (one process per device slot)",
        description="Serve every open job, oldest first (or the --job ones), until stopped with SIGTERM/Ctrl-C. "
        "Each slot takes one queued trial at a time; a slot's current trial is closed cleanly on stop.",
    )
    add_storage_option(worker)
    worker.add_argument("--job", dest="jobs", action="append", metavar="NAME", help="serve only this job (repeatable)")
    worker.add_argument("--devices", help=f"auto (every visible GPU, else the CPU) | cpu | cuda:0,cuda:1,... (default: ${DEVICES}, else auto)")
    worker.add_argument("--trials-per-device", type=int, metavar="K", help=f"slots per device (default: ${TRIALS_PER_DEVICE}, else 1)")
    worker.add_argument("--max-trials", type=int, metavar="N", help="stop after starting N trials")
    worker.add_argument("--fuse", type=int, metavar="K",
                        help="train up to K queued trials of a job as one fused model (1: off; default: the spec's fuse, else off)")
    worker.add_argument("--heartbeat-interval", type=int, default=None, metavar="S", help="seconds between heartbeats (default 10)")
    worker.add_argument("--grace-period", type=int, metavar="S",
                        help="seconds without a heartbeat before a trial counts as lost and is queued again (default 6 heartbeats)")
    worker.add_argument("--until-done", action="store_true", help="exit when the jobs are finished instead of waiting for new ones")
    worker.set_defaults(func=_worker)

    status = subparsers.add_parser("status", help="progress of every job, and the workers seen lately")
    status.add_argument("jobs", nargs="*", metavar="JOB", help="only these jobs")
    add_storage_option(status)
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    status.add_argument("--watch", type=float, nargs="?", const=WATCH_DEFAULT_S, metavar="SECONDS",
                        help=f"refresh every SECONDS (default {WATCH_DEFAULT_S:g}) until Ctrl-C")
    status.set_defaults(func=_status)

    run = subparsers.add_parser(
        "run", help="submit a job (or continue it) and run local workers until it is finished",
        description="The one-machine path: submit SPEC (an existing job of that name with the same spec is "
        "continued), run --workers slots until every trial is done, then print the ranking.",
    )
    run.add_argument("spec", metavar="SPEC")
    run.add_argument("--workers", type=int, metavar="N", help="local slots, spread over the devices (default: one per device)")
    add_storage_option(run)
    run.add_argument("--name", help="job name (default: the spec's name)")
    run.add_argument("--devices", help="as for tuner worker (default: auto)")
    run.add_argument("-o", "--output", metavar="FILE.html", help="also write the HTML report there")
    run.add_argument("--top", type=int, default=10, metavar="K", help="configurations in the printed ranking (default 10)")
    run.set_defaults(func=_run)

    confirm = subparsers.add_parser(
        "confirm", help="queue more seeds of a finished job's best configurations",
        description="Queue replicates (the same parameters, new seeds) of the job's K best configurations by mean "
        "validation objective, S each, as WAITING trials for any worker; not counted against n_trials.",
    )
    confirm.add_argument("job", metavar="JOB")
    confirm.add_argument("--top", type=int, metavar="K", help="configurations to replicate (default: the spec's confirm.top, else 3)")
    confirm.add_argument("--seeds", type=int, metavar="S", help="new seeds per configuration (default: the spec's confirm.seeds, else 2)")
    add_storage_option(confirm)
    confirm.set_defaults(func=_confirm)


def _submit(args: argparse.Namespace) -> int:
    import optuna

    from tuner.service import submit

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(submit(args.spec, args.storage, name=args.name))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from tuner.service.worker import sleeping_openmp_threads  # loads no torch

    sleeping_openmp_threads()  # before torch loads, in this process too (one slot runs here)
    from tuner.service import run_worker
    from tuner.service.worker import HEARTBEAT_INTERVAL_S

    with progress_display() as progress:
        return run_worker(
            args.storage, args.jobs, devices=args.devices, trials_per_device=args.trials_per_device,
            max_trials=args.max_trials, heartbeat_interval=args.heartbeat_interval or HEARTBEAT_INTERVAL_S,
            grace_period=args.grace_period, until_done=args.until_done, progress=progress, fuse=args.fuse,
        )


def _status(args: argparse.Namespace) -> int:
    if args.watch is not None:
        return every(args.watch, lambda: _status(argparse.Namespace(**{**vars(args), "watch": None})))
    from tuner.service import status, workers

    url = storage_url(args.storage)
    jobs = status(url, args.jobs or None)
    seen = workers(url)
    if args.json:
        print_json({"storage": mask_url(url), "jobs": [j.to_json() for j in jobs],
                    "workers": [{**w.__dict__, "started_at": w.started_at.isoformat()} for w in seen]})
        return 0
    print(f"storage: {mask_url(url)}")
    if not jobs:
        print("no jobs (submit one with: tuner submit studies/caser-ml100k.yaml)")
    else:
        rows = [[j.name, j.model, j.state, _done(j), j.complete,
                 j.pruned, j.failed, j.running, j.waiting,
                 *_best(j)] for j in jobs]
        _table(["JOB", "MODEL", "STATE", "DONE", "COMPLETE", "PRUNED", "FAILED", "RUNNING", "WAITING", "BEST", "BEST PARAMS"], rows)
    print()
    if not seen:
        print("no workers seen in the last 10 minutes")
    else:
        print("workers seen in the last 10 minutes:")
        _table(["WORKER", "DEVICE", "STATE", "JOB", "TRIAL", "TRIALS DONE", "LAST SEEN"],
               [[w.worker, w.device, w.state, w.job or "-", "-" if w.trial is None else w.trial, w.trials_done,
                 f"{w.seconds_since_seen:.0f} s ago"] for w in seen])
    return 0


def _run(args: argparse.Namespace) -> int:
    from tuner.service.worker import sleeping_openmp_threads  # loads no torch

    sleeping_openmp_threads()
    from tuner.service import ranking, run_job

    url = storage_url(args.storage)
    started = dt.datetime.now()
    with progress_display() as progress:
        outcome = run_job(args.spec, url, workers=args.workers, name=args.name, devices=args.devices, progress=progress)
    job = outcome.status
    elapsed = (dt.datetime.now() - started).total_seconds()
    print(f"job {job.name}: {job.state}; {job.complete} complete, {job.pruned} pruned, {job.failed} failed "
          f"of {job.budget} trials ({elapsed:.0f} s)")
    ranked = ranking(url, outcome.name, top=args.top)
    if ranked:
        test_key = job.objective
        _table(["RANK", "CONFIG", "RUNS", f"VALID {job.objective}", "95% CI", f"TEST {test_key}", "95% CI", "P VS #1",
                "TRIALS", "PARAMS"],
               [[r.rank, r.config_id, len(r.numbers), f"{r.value:.4f}", _ci(r.valid_ci95),
                 f"{r.test[test_key]:.4f}" if test_key in r.test else "-", _ci(r.test_ci95),
                 "-" if r.p_value is None else f"{r.p_value:.3f}" + (" tied" if r.tied else ""),
                 ",".join(str(n) for n in r.numbers), _params(r.params)]
                for r in ranked])
        if len(ranked[0].numbers) < 2:
            print("unconfirmed: the best configuration is a single run (one seed); tuner confirm JOB replicates the leaders")
    if args.output:
        _write_report(url, outcome.name, args.output)
    return outcome.exit_code


def _confirm(args: argparse.Namespace) -> int:
    from tuner.service import confirm_job

    done = confirm_job(args.job, args.storage, top=args.top, seeds=args.seeds)
    seeds = ", ".join(str(s) for s in sorted({seed for entry in done.plan for seed in entry["seeds"]})) or "-"
    firsts = ", ".join(f"#{entry['number']}" for entry in done.plan) or "none"
    print(f"job {done.job}: confirmation round {done.round}: {done.queued} replicate trial(s) queued for "
          f"{len(done.plan)} configuration(s) (first runs {firsts}), seeds {seeds}; "
          f"run them with: tuner worker --job {done.job} --until-done")
    return 0


def _write_report(url: str, name: str, output: str) -> None:
    # The report package is another module's; imported only here so the worker path never loads plotly.
    from tuner.report import read_jobs, write_report

    path = write_report(read_jobs(url, [name]), output)
    print(f"wrote {path}")


def _done(job: Any) -> str:
    """Search trials done of the budget, then the confirmation stage's replicates done of queued."""
    search = job.complete + job.pruned + job.failed - job.requeued - job.replicates_done
    return f"{search}/{job.budget}" + (f" +{job.replicates_done}/{job.replicates} confirm" if job.replicates else "")


def _best(job: Any) -> list[str]:
    """The BEST cells: the recommended configuration's mean and 95% CI when confirmed, else the best run."""
    rec = job.recommended
    if rec and rec["confirmed"]:
        return [f"{job.objective} {rec['valid_mean']:.4f} {_ci(rec['valid_ci95'])} ({rec['n_runs']} runs)",
                _params(rec["params"])]
    if job.best_value is None:
        return ["-", ""]
    return [f"{job.objective} {job.best_value:.4f} (#{job.best_trial})", _params(job.best_params)]


def _ci(interval: list[float] | None) -> str:
    return "single run" if interval is None else f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
