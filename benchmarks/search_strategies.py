"""Search strategies replayed on the exhaustive Caser ml-100k grid: compute spent against the optimum found.

    .venv/bin/python benchmarks/search_strategies.py                 # every strategy, 20 seeds each
    .venv/bin/python benchmarks/search_strategies.py --only topk     # strategies whose name contains "topk"
    .venv/bin/python benchmarks/search_strategies.py --job caser-ml100k-grid --storage sqlite:///tuner.db
                                                                     # a real job beside the replay of its spec

Reads benchmarks/results/caser-ml100k-grid.csv (benchmarks/grid_reference.py: every configuration's
learning curve under RecBole's protocol, epochs capped at 50) and replays each strategy as the service
runs it: the job's trials queued as at submit (``enqueue_budget``, the grid in ``grid_order``), the
service's own samplers and pruners (``make_sampler`` per trial, ``make_pruner``), each trial's recorded
validation NDCG@10 reported epoch by epoch, a pruned trial stopping at the epoch its pruner says, the
last epoch never pruned, a configuration drawn again not trained again; two worker slots run
asynchronously, in the order the recorded seconds put their reports in. Early stopping is in the curves.

Prints per strategy, over the seeds: epochs spent as % of the exhaustive grid's, the simulated wall time
on 2 slots, the chosen configuration's validation NDCG@10 regret against the grid's best (median, 90th
percentile, worst), its rank in the exhaustive ranking (median, worst) and its test NDCG@10 (median) beside
the best's. Writes the frontier (regret against % of compute, one line per strategy family) to
benchmarks/results/search-strategies.html (and, with chromium, docs/search-strategies-frontier.png) and the
table to benchmarks/results/search-strategies.csv.
"""

from __future__ import annotations

import argparse
import heapq
import logging
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import yaml
from optuna.trial import TrialState

from tuner.service.jobs import enqueue_budget
from tuner.service.optimizers import grid_order, make_pruner, make_sampler
from tuner.spaces import parse_file

HERE = Path(__file__).resolve().parent
TABLE = HERE / "results" / "caser-ml100k-grid.csv"
REFERENCE_SPEC = HERE / "grid_reference.yaml"
SPACE = HERE.parent / "search_spaces" / "caser.hyper"
OUT = HERE / "results"
PNG = HERE.parent / "docs" / "search-strategies-frontier.png"
SLOTS = 2
SEEDS = 20


@dataclass(frozen=True)
class Curve:
    """One configuration of the grid as the reference trained it."""

    values: np.ndarray  # validation ndcg@10 at epochs 1..len
    seconds: np.ndarray  # each epoch's seconds (training + validation)
    best: float  # validation ndcg@10 at the best epoch: the trial's value
    test: float  # test ndcg@10 at the best epoch


@dataclass(frozen=True)
class Strategy:
    family: str  # one line of the frontier plot
    name: str
    sampler: dict[str, Any]  # as a spec's sampler: (the seed is the replay's)
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "none"})
    n_trials: int | None = None  # None: the whole grid


@dataclass(frozen=True)
class Outcome:
    epochs: int  # epochs trained, all trials
    wall: float  # seconds until both slots are done
    chosen: tuple | None  # the best complete trial's configuration


def load_curves(path: Path, names: Sequence[str]) -> dict[tuple, Curve]:
    table = pd.read_csv(path)
    curves = {}
    for key, rows in table.sort_values("epoch").groupby(list(names), sort=False):
        values = rows["valid_ndcg@10"].to_numpy(float)
        best_epoch = int(rows["best_epoch"].iloc[0])
        curves[tuple(float(v) for v in key)] = Curve(
            values, rows["seconds"].to_numpy(float), float(values[best_epoch - 1]), float(rows["test_ndcg@10"].iloc[0]))
    return curves


def replay(strategy: Strategy, seed: int, curves: dict[tuple, Curve], space, epochs: int) -> Outcome:
    """One job of ``strategy`` with sampler seed ``seed``, run by ``SLOTS`` simulated worker slots."""
    sampler = {**strategy.sampler, "seed": seed}
    study = optuna.create_study(direction="maximize", study_name=f"{strategy.name}-{seed}", pruner=make_pruner(strategy.pruner, epochs))
    grid = None
    if sampler["name"] == "grid":
        points = [p for p in space.grid() if _key(p, space.names) in curves]
        grid = [points[i] for i in grid_order(len(points), seed)]
    enqueue_budget(study, space, grid, strategy.n_trials or len(grid))

    events: list[tuple[float, int, int]] = []  # (time, tie-break, slot)
    running: dict[int, tuple[optuna.Trial, Curve, int]] = {}  # slot -> (trial, curve, epochs done)
    keys: dict[int, tuple] = {}  # trial number -> configuration
    spent, now, order = 0, 0.0, 0

    def start(slot: int) -> bool:
        nonlocal order
        while True:
            waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            if not waiting:
                return False
            study.sampler = make_sampler(sampler, waiting[0].number)  # as the slot does, per trial
            trial = study.ask()
            key = keys[trial.number] = _trained(_key(space.suggest(trial), space.names), curves)
            twin = next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.params == trial.params), None)
            if twin is not None:  # drawn again: not trained again, recorded FAIL (the service's copy_of)
                study.tell(trial, state=TrialState.FAIL)
                continue
            curve = curves[key]
            running[slot] = (trial, curve, 0)
            order += 1
            heapq.heappush(events, (now + curve.seconds[0], order, slot))
            return True

    idle = [slot for slot in range(SLOTS) if not start(slot)]
    while events:
        now, _, slot = heapq.heappop(events)
        trial, curve, done = running[slot]
        done += 1
        spent += 1
        trial.report(float(curve.values[done - 1]), done)
        last = done == len(curve.values)
        if done != epochs and trial.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
        elif last:
            study.tell(trial, curve.best)
        else:
            running[slot] = (trial, curve, done)
            order += 1
            heapq.heappush(events, (now + curve.seconds[done], order, slot))
            continue
        del running[slot]
        idle.append(slot)
        idle = [s for s in idle if not start(s)]  # a finished trial may have queued more (topk)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return Outcome(spent, now, None)
    return Outcome(spent, now, keys[study.best_trial.number])


def strategies() -> list[Strategy]:
    tpe = {"name": "tpe", "n_startup_trials": 10, "constant_liar": True}
    rnd = {"name": "random"}
    grid = {"name": "grid"}
    found = []
    for n in (10, 20, 30):
        found.append(Strategy("random", f"random n={n}", rnd, n_trials=n))
        found.append(Strategy("tpe", f"tpe n={n}", tpe, n_trials=n))
    for label, sampler in (("random", rnd), ("tpe", tpe)):
        for n in (30, 60):
            for warmup in (1, 5):
                found.append(Strategy(f"{label}+median", f"{label}+median warmup={warmup} n={n}", sampler,
                                      {"name": "median", "n_startup_trials": 5, "n_warmup_steps": warmup}, n))
            for low, factor in ((1, 3), (1, 4), (2, 3)):
                found.append(Strategy(f"{label}+asha", f"{label}+asha r={low} eta={factor} n={n}", sampler,
                                      {"name": "successive_halving", "min_resource": low, "reduction_factor": factor}, n))
            for low, factor in ((1, 3), (2, 3)):
                found.append(Strategy(f"{label}+hyperband", f"{label}+hyperband r={low} eta={factor} n={n}", sampler,
                                      {"name": "hyperband", "min_resource": low, "reduction_factor": factor}, n))
    found.append(Strategy("grid+median", "grid+median warmup=5", grid, {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 5}))
    for low, factor in ((1, 3), (1, 4), (1, 6), (2, 4), (3, 4), (5, 3)):
        found.append(Strategy("grid+asha", f"grid+asha r={low} eta={factor}", grid,
                              {"name": "successive_halving", "min_resource": low, "reduction_factor": factor}))
    found.append(Strategy("grid+hyperband", "grid+hyperband r=1 eta=3", grid, {"name": "hyperband", "min_resource": 1, "reduction_factor": 3}))
    for epoch in (1, 3, 5):
        for k in (1, 2, 3, 5, 8):
            found.append(Strategy(f"grid+topk epoch={epoch}", f"grid+topk epoch={epoch} k={k}", grid,
                                  {"name": "topk", "k": k, "epoch": epoch}))
    return found


def summarise(strategy: Strategy, outcomes: Sequence[Outcome], curves: dict[tuple, Curve], total_epochs: int) -> dict[str, Any]:
    best = max(curves.values(), key=lambda c: c.best)
    ranking = sorted(curves, key=lambda k: -curves[k].best)
    chosen = [o.chosen for o in outcomes]
    regrets = np.array([100 * (1 - curves[c].best / best.best) if c is not None else 100.0 for c in chosen])
    ranks = np.array([ranking.index(c) + 1 if c is not None else len(ranking) for c in chosen])
    tests = np.array([curves[c].test if c is not None else np.nan for c in chosen])
    return {
        "family": strategy.family, "strategy": strategy.name,
        "epochs_pct": 100 * float(np.median([o.epochs for o in outcomes])) / total_epochs,
        "wall_min": float(np.median([o.wall for o in outcomes])) / 60,
        "regret_median_pct": float(np.median(regrets)), "regret_p90_pct": float(np.percentile(regrets, 90)),
        "regret_worst_pct": float(regrets.max()),
        "rank_median": float(np.median(ranks)), "rank_worst": int(ranks.max()),
        "test_ndcg_median": float(np.nanmedian(tests)), "test_ndcg_best": best.test,
    }


def frontier(table: pd.DataFrame, configurations: int, path: Path, png: Path | None) -> None:
    """The plot as HTML (plotly.js from its CDN) and, with Debian's chromium present, a PNG screenshot."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for family, rows in table.sort_values("epochs_pct").groupby("family", sort=False):
        figure.add_trace(go.Scatter(x=rows["epochs_pct"], y=rows["regret_median_pct"], mode="lines+markers", name=family,
                                    text=rows["strategy"], hovertemplate="%{text}<br>%{x:.1f}% of the epochs, regret %{y:.2f}%"))
    figure.update_layout(
        title=f"Caser on ml-100k, {configurations}-configuration grid: median regret over the seeds against compute "
              "(dashed: the targets, 10% and 1%)",
        xaxis={"title": "epochs trained, % of the exhaustive grid", "type": "log"},
        yaxis={"title": "validation NDCG@10 regret of the chosen configuration, % (median)"},
        width=1000, height=600, template="plotly_white")
    figure.add_vline(x=10, line_dash="dash", line_color="grey")
    figure.add_hline(y=1, line_dash="dash", line_color="grey")
    figure.write_html(path, include_plotlyjs="cdn")
    chromium = shutil.which("chromium")
    if png is None or chromium is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "frontier.html"
        figure.write_html(page, include_plotlyjs=True, config={"displayModeBar": False})
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp}/profile",
                        "--window-size=1020,620", "--virtual-time-budget=5000", f"--screenshot={png}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)


def compare_job(storage: str, name: str, curves: dict[tuple, Curve], space, epochs: int, total: int) -> None:
    """A real job of the service beside the replay of its own spec: epochs, wall time, the chosen configuration."""
    from tuner import records

    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    trained = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
               and records.COPY_OF not in t.user_attrs]  # a copy trained nothing (older versions recorded the twin's epochs)
    spent = sum(int(t.user_attrs.get(records.EPOCHS) or 0) for t in trained)
    wall = (max(t.datetime_complete for t in trained) - min(t.datetime_start for t in trained)).total_seconds()
    spec = study.user_attrs[records.SPEC]
    strategy = Strategy("real", name, spec["sampler"], spec["pruner"], spec.get("n_trials"))
    replayed = replay(strategy, spec["sampler"].get("seed") or 0, curves, space, epochs)
    ranking = sorted(curves, key=lambda k: -curves[k].best)
    best = curves[ranking[0]].best
    for what, epochs_spent, seconds, chosen in (
        ("real job", spent, wall, _key(space.decode(study.best_trial.params), space.names)),
        ("its replay", replayed.epochs, replayed.wall, replayed.chosen),
    ):
        rank = ranking.index(chosen) + 1 if chosen in curves else None
        regret = f"{100 * (1 - curves[chosen].best / best):.2f}%" if chosen in curves else "n/a (not in the table)"
        print(f"{what:<10} {name}: {epochs_spent} epochs ({100 * epochs_spent / total:.1f}% of exhaustive), {seconds / 60:.1f} min, "
              f"chose {dict(zip(space.names, chosen))} (exhaustive rank {rank}, regret {regret})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--only", help="only strategies whose name contains this")
    parser.add_argument("--no-png", action="store_true", help=f"do not write {PNG.name} (needs chromium)")
    parser.add_argument("--job", help="compare this real job with the replay of its spec instead (needs --storage)")
    parser.add_argument("--storage", help="the real job's database URL")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("tuner").setLevel(logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

    epochs = int(yaml.safe_load(REFERENCE_SPEC.read_text())["params"]["epochs"])
    space = parse_file(SPACE)
    curves = load_curves(args.table, space.names)
    total = sum(len(c.values) for c in curves.values())
    if len(curves) < (space.grid_size or 0):
        print(f"note: {args.table} holds {len(curves)} of the {space.grid_size} configurations (the reference is not "
              "finished): samplers' other draws stand in for trained ones, and the grid is the trained part")
    best = max(curves.values(), key=lambda c: c.best)
    exhaustive = replay(Strategy("grid", "grid", {"name": "grid"}), 0, curves, space, epochs)
    print(f"exhaustive: {len(curves)} configurations, {total} epochs, {exhaustive.wall / 60:.1f} min on {SLOTS} slots; "
          f"best validation ndcg@10 {best.best:.4f} (test {best.test:.4f}); epochs capped at {epochs}")

    if args.job:
        compare_job(args.storage, args.job, curves, space, epochs, total)
        return

    rows = []
    started = time.monotonic()
    for strategy in strategies():
        if args.only and args.only not in strategy.name:
            continue
        outcomes = [replay(strategy, seed, curves, space, epochs) for seed in range(args.seeds)]
        row = summarise(strategy, outcomes, curves, total)
        rows.append(row)
        print(f"{row['strategy']:<34} {row['epochs_pct']:6.1f}% epochs {row['wall_min']:6.1f} min  regret median "
              f"{row['regret_median_pct']:5.2f}% p90 {row['regret_p90_pct']:5.2f}% worst {row['regret_worst_pct']:5.2f}%  "
              f"rank {row['rank_median']:4.1f} (worst {row['rank_worst']:2d})  test {row['test_ndcg_median']:.4f} vs {row['test_ndcg_best']:.4f}",
              flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(OUT / "search-strategies.csv", index=False, float_format="%.4g")
    frontier(table, len(curves), OUT / "search-strategies.html", None if args.no_png else PNG)
    print(f"{len(rows)} strategies x {args.seeds} seeds in {time.monotonic() - started:.0f} s; "
          f"wrote {OUT / 'search-strategies.csv'} and {OUT / 'search-strategies.html'}")


def _key(values: dict[str, Any], names: Sequence[str]) -> tuple:
    return tuple(float(values[name]) for name in names)


def _trained(key: tuple, curves: dict[tuple, Curve]) -> tuple:
    """A partial table (the reference still running) stands in a trained configuration for an untrained one."""
    if key in curves:
        return key
    keys = sorted(curves)
    return keys[hash(key) % len(keys)]


if __name__ == "__main__":
    main()
