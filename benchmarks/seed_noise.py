"""How far the training seed moves a finished job's best configurations, against the gaps its ranking is built on.

    .venv/bin/python benchmarks/seed_noise.py --storage sqlite:///tuner.db --job caser-ml100k [--top 5] [--seeds 5]
        [--epochs N] [--processes 2]

Takes the job's ``--top`` best configurations (tuner.report's ranking: by mean validation objective, single
runs by their value) and gives each ``--seeds`` runs: the ones the job already has (its search run, any
replicates, with their per-user ranks when stored) and, for the seeds still missing, runs trained here with
``tuner.training.train`` on the job's settings, one torch thread each, ``--processes`` at a time. With
``--epochs`` every run is trained here with that epoch cap (the job's runs had another).

Prints, as Markdown: per configuration its single-seed value, mean and 95% CI over seeds of validation and
test objective, the seed standard deviation, the p-value against the leader and whether it is tied
(tuner.report.configurations, the statistics the report uses); then the seed spread against the gaps between
the configurations' means, and how often a single-seed ranking (one seed drawn per configuration, every
combination) crowns the winner of the mean ranking.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402

from tuner import per_user, records  # noqa: E402
from tuner.report import read_jobs  # noqa: E402
from tuner.report.configurations import rank_configurations  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", required=True)
    parser.add_argument("--job", required=True)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, help="train every run here with this epoch cap")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--cache", metavar="FILE.jsonl", help="keep each trained run here and reuse it when run again")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    (report_job,) = read_jobs(args.storage, [args.job])
    objective = report_job.objective
    configs = report_job.ranking.configurations[:args.top]
    frozen = {t.number: t for t in report_job.frozen}
    runs, ranks = [], {}  # (trial to rank, its per-user ranks)
    todo = []  # (config index, params, seed)
    stored = per_user_ranks(args.storage, [frozen[r.number]._trial_id for c in configs for r in c.runs])
    for i, c in enumerate(configs):
        kept = [] if args.epochs else list(c.runs[:args.seeds])
        for r in kept:
            runs.append(frozen[r.number])
            if r.trial_id in stored:
                ranks[r.trial_id] = stored[r.trial_id]
        used = {r.seed for r in kept}
        new = list(itertools.islice((s for s in itertools.count(1) if s not in used), max(0, args.seeds - len(kept))))
        todo += [(i, frozen[c.runs[0].number].params, seed) for seed in new]

    started = time.perf_counter()
    cache = _read_cache(args.cache)
    keys = [json.dumps([args.job, records.config_id(params), seed, args.epochs]) for _, params, seed in todo]
    missing = [(key, task) for key, task in zip(keys, todo) if key not in cache]
    if missing:
        print(f"training {len(missing)} runs ({args.processes} processes, 1 thread each)...", file=sys.stderr)
        with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn"),
                                 initializer=_quiet_children) as pool:
            tasks = [(args.storage, args.job, params, seed, args.epochs) for _, (_, params, seed) in missing]
            for (key, _), result in zip(missing, pool.map(_train, tasks)):
                cache[key] = result
                _append_cache(args.cache, key, result)
                print(f"  {len(cache)} runs done, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    for (i, params, seed), key in zip(todo, keys):
        valid, test, run_ranks, _ = cache[key]
        trial = _trial(frozen[configs[i].runs[0].number], seed, valid, test, objective, len(frozen) + len(runs))
        runs.append(trial)
        if run_ranks is not None:
            ranks[trial._trial_id] = run_ranks
    trained_s = time.perf_counter() - started

    ranking = rank_configurations(runs, objective, report_job.direction, per_user=ranks)
    single = {c.config_id: c.runs[0].valid for c in configs}  # the job's own first run (its search result)
    print(table(ranking, single, objective))
    print()
    print(summary(ranking, single, objective))
    print(f"\n{len(missing)} runs trained here in {trained_s:.0f} s ({len(todo) - len(missing)} from --cache); {len(runs) - len(todo)} taken from the job "
          f"({args.job}, {len(report_job.ranked)} complete trials).")
    return 0


def table(ranking, single, objective) -> str:
    rows = [f"| config | runs | single-seed valid | valid {objective} mean [95% CI] | seed sd | test {objective} mean [95% CI] "
            "| p vs #1 | tied |", "|---|---|---|---|---|---|---|---|"]
    for c in ranking.configurations:
        sd = statistics.stdev(r.valid for r in c.runs) if c.n_runs > 1 else float("nan")
        versus = c.versus_leader
        rows.append(
            f"| {c.config_id} | {c.n_runs} | {single.get(c.config_id, float('nan')):.4f} | {c.valid.mean:.4f} {_ci(c.valid)} | "
            f"{sd:.4f} | {c.test.mean:.4f} {_ci(c.test)} | {'' if versus is None else f'{versus.p_value:.3f}'} | "
            f"{'recommended' if c is ranking.recommended else 'yes' if c.tied else 'no'} |")
    return "\n".join(rows)


def summary(ranking, single, objective) -> str:
    configs = ranking.configurations
    means = sorted((c.valid.mean for c in configs), reverse=True)
    gaps = [a - b for a, b in zip(means, means[1:])]
    sds = [statistics.stdev(r.valid for r in c.runs) for c in configs if c.n_runs > 1]
    leader = ranking.recommended.config_id
    per_config = [[r.valid for r in c.runs] for c in configs]
    combos = list(itertools.product(*per_config))
    wins = sum(max(range(len(configs)), key=lambda i: combo[i]) == 0 for combo in combos)
    job_winner = max(single, key=single.get)
    lines = [
        f"- seed standard deviation of validation {objective}: median {statistics.median(sds):.4f} "
        f"(range {min(sds):.4f} to {max(sds):.4f}) over {len(sds)} configurations",
        f"- the configurations' mean validation values span {means[0] - means[-1]:.4f}; gaps between neighbours "
        f"{', '.join(f'{g:.4f}' for g in gaps)} (median {statistics.median(gaps):.4f})",
        f"- a single-seed ranking (one run per configuration, all {len(combos)} combinations of their seeds) "
        f"crowns the mean ranking's winner {leader} in {wins / len(combos):.0%} of cases; the job's own search "
        f"runs crowned {'it' if job_winner == leader else job_winner}",
        f"- tied with the recommended configuration at 5% ({ranking.method}): {len(ranking.tied)} of "
        f"{sum(1 for c in configs if c.versus_leader is not None)}",
    ]
    return "\n".join(lines)


def _read_cache(path: str | None) -> dict:
    import numpy as np

    out = {}
    if path and Path(path).exists():
        for line in Path(path).read_text().splitlines():
            entry = json.loads(line)
            ranks = {k: np.asarray(v) for k, v in entry["ranks"].items()} if entry["ranks"] else None
            out[entry["key"]] = (entry["valid"], entry["test"], ranks, entry["seconds"])
    return out


def _append_cache(path: str | None, key: str, result) -> None:
    if path:
        valid, test, ranks, seconds = result
        entry = {"key": key, "valid": valid, "test": test, "seconds": seconds,
                 "ranks": {k: v.tolist() for k, v in ranks.items()} if ranks else None}
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def per_user_ranks(url: str, trial_ids):
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        return per_user.load_ranks(engine, trial_ids)
    finally:
        engine.dispose()


def _trial(first, seed, valid, test, objective, number):
    """A replicate of ``first`` as the service would record it (for the report's ranking)."""
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE, value=valid, params=first.params, distributions=first.distributions,
        user_attrs={records.ROLE: records.REPLICATE, records.SEED: seed, records.CONFIG_ID: records.config_id(first.params),
                    records.VALID_METRICS: {objective: valid}, records.TEST_METRICS: {objective: test}})
    trial.number = number
    trial._trial_id = -1 - number  # apart from every stored trial id
    return trial


def _quiet_children() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


_JOBS: dict = {}


def _train(task):
    """One run in a child process: the job's settings for ``params`` with ``seed``, 1 torch thread."""
    url, name, params, seed, epochs = task
    from tuner.service.jobs import load_jobs
    from tuner.service.storage import open_storage
    from tuner.training import train

    if name not in _JOBS:
        storage = open_storage(url, must_exist=True)
        (_JOBS[name],) = load_jobs(storage, [name])
        storage.engine.dispose()
    job = _JOBS[name]
    settings = job.settings(job.space.decode(params))
    settings["seed"] = seed
    if epochs:
        settings["epochs"] = epochs
    result = train(job.spec.model, settings, dataset=job.spec.dataset, device="cpu", threads=1)
    metric = job.spec.objective
    return result.valid[metric], result.test.get(metric), result.ranks or None, result.seconds


def _ci(interval) -> str:
    return "(single run)" if interval is None or interval.ci95 is None else f"[{interval.low:.4f}, {interval.high:.4f}]"


if __name__ == "__main__":
    raise SystemExit(main())
