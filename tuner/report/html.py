"""Drawing: the report's plain data (:mod:`tuner.report.data`) to one self-contained HTML page.

The only module that imports plotly, and only inside ``render`` (a worker that imports the package
never loads it). plotly.js is embedded once; the figures travel as one JSON block that the page's
script draws, so the file opens offline. Every user-supplied string (job names, parameter names and
values, reasons, spec) is HTML-escaped, in the page and in figure text alike, and the embedded JSON
has ``<``, ``>`` and ``&`` written as ``\\u003c`` escapes so no string can close its ``<script>``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tuner import __version__
from tuner.report import _assets
from tuner.report.compute import job_compute
from tuner.report.confidence import ALPHA
from tuner.report.configurations import Configuration
from tuner.report.data import TOP_K, Comparison, Job, TrialRow, compare, memory_study, quiet_optuna

N_SLICES = 4  # slice plots for this many of the most important parameters
N_PARALLEL = 8  # parameters on the parallel-coordinates plot
N_PARALLEL_TRIALS = 300  # lines on it (Optuna draws one trace per trial)
N_SEED_PLOT = 12  # configurations on the per-seed plot (the best ones)
STATE_LABELS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}
STATE_COLORS = {"COMPLETE": "#2f6fde", "PRUNED": "#e69f00", "FAIL": "#c2412d", "RUNNING": "#7f8896", "WAITING": "#b8bec9"}


def esc(value: Any) -> str:
    """Text made safe to put in HTML and in plotly's pseudo-HTML labels."""
    return html.escape(str(value), quote=True)


def write_report(jobs: Sequence[Job], path: str | Path) -> Path:
    """Write the report of ``jobs`` to ``path`` (one HTML file that needs no network)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(jobs), encoding="utf-8")
    return path


def render(jobs: Sequence[Job]) -> str:
    """The whole HTML page for one or several jobs."""
    import plotly
    import plotly.offline

    page = _Page()
    names = ", ".join(job.name for job in jobs)
    title = f"Tuning report: {names}" if len(jobs) == 1 else f"Tuning report: {len(jobs)} jobs"
    body = [_header(jobs, title)]
    if len(jobs) > 1:
        body.append('<nav class="jobs">' + "".join(
            f'<a href="#job-{i}">{esc(job.name)}</a>' for i, job in enumerate(jobs)) + '<a href="#compare">comparison</a></nav>')
    body.append("<main>")
    if len(jobs) > 1:
        body.append(_comparison(page, compare(jobs)))
    for i, job in enumerate(jobs):
        body.append(_job_section(page, job, i))
    body.append("</main>")
    body.append(f"<footer>Made by seqrec-tuner {esc(__version__)} with optuna {esc(_version('optuna'))}, "
                f"plotly {esc(plotly.__version__)}, Python {esc(platform.python_version())} on "
                f"{esc(dt.datetime.now().strftime('%Y-%m-%d %H:%M'))}. Self-contained: opens offline.</footer>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{esc(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<script>{_assets.ERROR_TRAP}</script>\n<style>{_assets.STYLE}</style>\n"
        f"<script>{plotly.offline.get_plotlyjs()}</script>\n</head>\n<body>\n"
        + "\n".join(body)
        + f'\n<script type="application/json" id="report-figures">{page.figures_json()}</script>\n'
        f"<script>{_assets.MAIN}</script>\n</body>\n</html>\n"
    )


class _Page:
    """Collects the figures in page order; each becomes a ``<div id="fig-N">`` the script fills."""

    def __init__(self) -> None:
        self.figures: list[str] = []  # each figure's plotly JSON

    def figure(self, fig: Any, css_class: str = "plot") -> str:
        import plotly.io

        fig.update_layout(template="plotly_white", margin=dict(l=60, r=30, t=50, b=50), font=dict(size=12))
        self.figures.append(plotly.io.to_json(fig, validate=False))
        return f'<div class="{css_class}" id="fig-{len(self.figures) - 1}"></div>'

    def figures_json(self) -> str:
        return script_safe_json("[" + ",".join(self.figures) + "]")


def script_safe_json(text: str) -> str:
    """JSON text that may sit inside ``<script>``: ``<``, ``>`` and ``&`` only occur in strings, so the
    ``\\uXXXX`` escapes keep the value and no ``</script>`` or ``<!--`` can appear."""
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# ----- page parts ------------------------------------------------------------------------------

def _header(jobs: Sequence[Job], title: str) -> str:
    if len(jobs) == 1:
        job = jobs[0]
        counts = job.counts
        finished = sum(counts.values())
        sub = (f"{esc(job.model or '?')} on {esc(job.dataset or '?')} · selected on validation "
               f"{esc(job.objective)} ({esc(job.direction)}) · {counts.get('COMPLETE', 0)} of {finished} trials complete"
               + (f" (budget {esc(job.budget)})" if job.budget else ""))
    else:
        sub = " · ".join(f"{esc(j.name)}: {esc(j.model or '?')} on {esc(j.dataset or '?')}" for j in jobs)
    return f'<header class="top"><h1>{esc(title)}</h1><p>{sub}</p></header>'


def _job_section(page: _Page, job: Job, index: int) -> str:
    parts = [f'<section class="job" id="job-{index}"><h2>{esc(job.name)}</h2>', _answer(job)]
    parts.append("<h3>Ranked configurations</h3>")
    parts.append('<p class="sub">Each configuration (its parameters without the seed) once: the recommended one, '
                 f"then the other confirmed ones (2 or more runs) by mean validation {esc(job.objective)}, then single "
                 "runs. Means and 95% intervals over seeds; p-value of the test against the recommended one.</p>")
    parts.append(_configurations_table(job))
    studies = _Studies(job)
    parts.append("<h3>Per-seed values per configuration</h3>")
    parts.append(_figure_or_note(page, job, studies, _seeds_figure))
    parts.append("<h3>All trials</h3>")
    parts.append('<p class="sub">Complete trials ranked by validation ' + esc(job.objective)
                 + "; then pruned, running, waiting and failed ones. Click a header to sort.</p>")
    parts.append(_ranked_table(job))
    figures = [
        ("Optimization history", _history_figure),
        ("Parameter importances", _importance_figure),
        ("Parallel coordinates", _parallel_figure),
        ("Slices of the most important parameters", _slice_figure),
        ("Learning curves", _curves_figure),
        ("Timeline of trials per worker and device", _timeline_figure),
    ]
    for title, draw in figures:
        parts.append(f"<h3>{title}</h3>")
        parts.append(_figure_or_note(page, job, studies, draw))
    parts.append("<h3>Compute spent</h3>")
    parts.append(_compute_table(job))
    parts.append("<h3>Failed and pruned trials</h3>")
    parts.append(_reasons_table(job))
    parts.append("<h3>Job spec and environment</h3>")
    parts.append(_spec_and_environment(job))
    parts.append("</section>")
    return "\n".join(parts)


def _figure_or_note(page: _Page, job: Job, studies: _Studies, draw) -> str:
    try:
        fig, note = draw(job, studies)
    except Exception as e:  # a figure that cannot be drawn must not cost the whole report
        fig, note = None, f"could not draw this plot ({type(e).__name__}: {e})"
    return (f'<p class="note">{esc(note)}</p>' if note else "") + (page.figure(fig) if fig is not None else "")


def _answer(job: Job) -> str:
    """The recommended configuration, its expected test result and the group it cannot be told from."""
    best, ranking = job.recommended, job.ranking
    counts = job.counts
    pills = "".join(f'<span class="pill {esc(s)}">{counts[s]} {STATE_LABELS[s]}</span>'
                    for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING") if counts.get(s))
    budget = f" of a budget of {esc(job.budget)}" if job.budget else ""
    if best is None:
        return (f'<div class="answer"><div class="card"><h4>Recommended configuration</h4><p class="note">No complete '
                f'trial yet.</p>{pills}</div></div>')
    objective = esc(job.objective)
    runs = best.runs
    title = (f"Recommended configuration · {best.n_runs} runs" if best.confirmed
             else f"Best configuration · trial {runs[0].number} · unconfirmed: single run")
    shown = best.test or best.valid
    big = f"{shown.mean:.4f}" + (f" <span class=\"sub\">{_ci(shown)}</span>" if shown.ci95 else "")
    what = (f"expected test {objective}" if best.test else f"validation {objective} (no test value recorded)")
    what += f", mean of {best.n_runs} seeds" if best.confirmed else ", one run"
    params = _kv((esc(k), _fmt_html(v)) for k, v in best.params.items())
    rows = [r for r in job.trials if r.number in {run.number for run in runs}]
    metrics = sorted({m for r in rows for m in (*r.valid, *r.test)}, key=_metric_order)
    metric_rows = "".join(
        f"<tr><td>{esc(m)}</td><td>{_fmt_metric(_mean(r.valid.get(m) for r in rows))}</td>"
        f"<td><b>{_fmt_metric(_mean(r.test.get(m) for r in rows))}</b></td></tr>" for m in metrics)
    facts = [f"<tr><td>validation</td><td>{best.valid.mean:.4f} {_ci(best.valid)}</td></tr>",
             f"<tr><td>runs</td><td>{best.n_runs}: trials {esc(_numbers([r.number for r in runs]))}"
             f" (seeds {esc(_numbers([r.seed for r in runs]))})</td></tr>",
             f"<tr><td>configuration</td><td>{esc(best.config_id)}</td></tr>"]
    note = f'<p class="note">{esc(ranking.note)}</p>' if ranking.note else ""
    return (
        '<div class="answer">'
        f'<div class="card recommended"><h4>{title}</h4><div class="big">{big}</div><div class="sub">{what}</div>'
        f'<table class="kv">{"".join(facts)}</table>{params}</div>'
        f'<div class="card tied"><h4>Tied with it</h4>{_tied(job)}{note}</div>'
        f'<div class="card"><h4>Metrics, mean over its runs</h4><table class="kv"><tr><td></td><td>valid</td>'
        f"<td>test</td></tr>{metric_rows}</table></div>"
        f'<div class="card"><h4>Trials</h4>{pills}{budget}</div>'
        "</div>"
    )


def _tied(job: Job) -> str:
    """The configurations not distinguishable from the recommended one at 5%, with their p-values."""
    tested = [c for c in job.ranking.configurations if c.versus_leader is not None]
    if not tested:
        return '<p class="sub">No other configuration has 2 or more runs to test against.</p>'
    method = esc(job.ranking.method or "")
    if not job.ranking.tied:
        return (f'<p class="sub">None: each of the {len(tested)} other confirmed configurations is worse at '
                f"{ALPHA:.0%} (tested over {method}).</p>")
    rank = {c.config_id: i for i, c in enumerate(job.ranking.configurations, start=1)}
    items = "".join(f"<tr><td>#{rank[c.config_id]} {esc(c.config_id)}</td><td>{c.valid.mean:.4f} {_ci(c.valid)}</td>"
                    f"<td>p = {c.versus_leader.p_value:.3f}</td></tr>" for c in job.ranking.tied)
    return (f'<p class="sub">{len(job.ranking.tied)} of {len(tested)} other confirmed configurations cannot be told '
            f"apart from it at {ALPHA:.0%} (tested over {method}):</p><table class=\"kv\">{items}</table>")


def _configurations_table(job: Job) -> str:
    configs = job.ranking.configurations
    if not configs:
        return '<p class="sub">No complete trial yet.</p>'
    objective = esc(job.objective)
    head = (["rank", "configuration", "runs", f"valid {objective}", "valid 95% CI", f"test {objective}", "test 95% CI",
             "p vs #1", "tied"] + [esc(p) for p in job.param_names if p != "seed"] + ["trials"])
    text_columns = {"configuration", "tied", "trials"}
    rows = []
    for rank, c in enumerate(configs, start=1):
        versus = c.versus_leader
        tied = "recommended" if rank == 1 else ("tied" if c.tied else "worse" if versus else "")
        cells = [_num_cell(rank, str(rank)), f'<td class="t">{esc(c.config_id)}</td>', _num_cell(c.n_runs, str(c.n_runs)),
                 _num_cell(c.valid.mean, _fmt_metric(c.valid.mean)), f'<td class="t">{_ci(c.valid, bare=True)}</td>',
                 _num_cell(c.test.mean if c.test else None, _fmt_metric(c.test.mean) if c.test else ""),
                 f'<td class="t">{_ci(c.test, bare=True) if c.test else ""}</td>',
                 _num_cell(versus.p_value if versus else None, f"{versus.p_value:.3f}" if versus else ""),
                 f'<td class="t">{tied}</td>']
        for p in job.param_names:
            if p == "seed":
                continue
            v = c.params.get(p)
            cells.append(_num_cell(v, _fmt_html(v)) if isinstance(v, (int, float)) and not isinstance(v, bool)
                         else f'<td class="t">{_fmt_html(v)}</td>')
        cells.append(f'<td class="wrap">{esc(_numbers([r.number for r in c.runs]))}</td>')
        rows.append(f'<tr{" class=best" if rank == 1 else ""}>{"".join(cells)}</tr>')
    header = "".join(f'<th{" class=t" if h in text_columns or "CI" in h else ""}>{h}</th>' for h in head)
    return (f'<div class="scroll"><table class="data sortable configurations"><thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _ci(interval, bare: bool = False) -> str:
    """``[0.0512, 0.0588]`` (95% over seeds), or a word for a single run."""
    if interval.ci95 is None:
        return "single run" if bare else "(single run: no interval)"
    text = f"[{interval.low:.4f}, {interval.high:.4f}]"
    return text if bare else f"95% CI {text}"


def _mean(values) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(numbers) / len(numbers) if numbers else None


def _ranked_table(job: Job) -> str:
    others = sorted((r for r in job.trials if r.number not in {x.number for x in job.ranked}),
                    key=lambda r: (("PRUNED", "RUNNING", "WAITING", "FAIL", "COMPLETE").index(r.state)
                                   if r.state in ("PRUNED", "RUNNING", "WAITING", "FAIL", "COMPLETE") else 9, r.number))
    valid_names = sorted(job.valid_metric_names, key=_metric_order)
    test_names = sorted(job.test_metric_names, key=_metric_order)
    gpu = any(r.gpu_peak_mib is not None for r in job.trials)
    head = (["rank", "trial", "state", "configuration", "seed", "role", f"valid {job.objective}"]
            + [esc(p) for p in job.param_names]
            + [f"valid {esc(m)}" for m in valid_names if m != job.objective] + [f"test {esc(m)}" for m in test_names]
            + ["best epoch", "epochs", "seconds"] + (["GPU MiB"] if gpu else []) + ["device", "worker", "note"])
    text_columns = {"state", "configuration", "role", "device", "worker", "note"}
    rows = []
    for rank, r in enumerate(list(job.ranked) + others, start=1):
        ranked = r.state == "COMPLETE" and rank <= len(job.ranked)
        cells = [_num_cell(rank if ranked else None, str(rank) if ranked else ""), _num_cell(r.number, str(r.number)),
                 f'<td class="t"><span class="pill {esc(r.state)}">{_label(r.state)}</span></td>',
                 f'<td class="t">{esc(r.config_id or "")}</td>', _num_cell(r.seed, esc("" if r.seed is None else r.seed)),
                 f'<td class="t">{esc(r.role or "")}</td>', _num_cell(r.value, _fmt_metric(r.value))]
        for p in job.param_names:
            v = r.params.get(p)
            cells.append(_num_cell(v, _fmt_html(v)) if isinstance(v, (int, float)) and not isinstance(v, bool)
                         else f'<td class="t">{_fmt_html(v)}</td>')
        cells += [_num_cell(r.valid.get(m), _fmt_metric(r.valid.get(m))) for m in valid_names if m != job.objective]
        cells += [_num_cell(r.test.get(m), _fmt_metric(r.test.get(m))) for m in test_names]
        cells += [_num_cell(r.best_epoch, esc(r.best_epoch if r.best_epoch is not None else "")),
                  _num_cell(r.epochs, esc(r.epochs if r.epochs is not None else "")),
                  _num_cell(r.seconds, f"{r.seconds:.1f}" if r.seconds is not None else ""),
                  *([_num_cell(r.gpu_peak_mib, f"{r.gpu_peak_mib:.0f}" if r.gpu_peak_mib is not None else "")] if gpu else []),
                  f'<td class="t">{esc(r.device or "")}</td>', f'<td class="t">{esc(r.worker or "")}</td>',
                  f'<td class="wrap wide">{_trial_note(r)}</td>']
        rows.append(f'<tr{" class=best" if ranked and rank == 1 else ""}>{"".join(cells)}</tr>')
    header = "".join(f'<th{" class=t" if h in text_columns or h == "state" else ""}>{h}</th>' for h in head)
    return (f'<div class="scroll"><table class="data sortable ranked"><thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _trial_note(r: TrialRow) -> str:
    bits = []
    if r.reason:
        bits.append(esc(r.reason))
    if r.retry_of is not None:
        bits.append(f"retry of trial {esc(r.retry_of)}")
    return "; ".join(bits)


def _compute_table(job: Job) -> str:
    """Epochs and seconds in total and per configuration; where pruned trials stopped (the rungs)."""
    spent = job_compute(job.trials)
    if not spent.trials:
        return '<p class="sub">No trial has trained yet.</p>'
    rungs = ", ".join(f"{n} at epoch {e}" for e, n in spent.pruned_at.items())
    head = "".join(f"<th>{esc(p)}</th>" for p in job.param_names if p != "seed")
    rows = []
    for c in spent.configurations:
        states = ", ".join(f"{n} {_label(s)}" for s, n in c.states.items())
        stopped = ", ".join(str(e) for e in c.pruned_at)
        params = "".join(f"<td>{_fmt_html(c.params.get(p))}</td>" for p in job.param_names if p != "seed")
        rows.append(f"{_num_cell(c.epochs, str(c.epochs))}{_num_cell(c.seconds, _duration(c.seconds))}"
                    f'<td class="t">{esc(states)}</td><td class="t">{esc(stopped)}</td>'
                    f"{_num_cell(c.best_value, _fmt_metric(c.best_value))}{params}"
                    f'<td class="t">{esc(_numbers(c.trials))}</td>')
    return (f'<p class="sub">{spent.epochs} epochs, {esc(_duration(spent.seconds))} of training over {spent.trials} trials '
            f"and {len(spent.configurations)} configurations"
            + (f"; pruned trials stopped: {esc(rungs)}" if rungs else "; none pruned") + ".</p>"
            '<div class="scroll"><table class="data sortable compute"><thead><tr><th>epochs</th><th>seconds</th>'
            f'<th class="t">trials by state</th><th class="t">pruned at epoch</th><th>best valid {esc(job.objective)}</th>'
            f'{head}<th class="t">trial numbers</th></tr></thead><tbody>'
            + "".join(f"<tr>{r}</tr>" for r in rows) + "</tbody></table></div>")


def _reasons_table(job: Job) -> str:
    if not job.reasons:
        return '<p class="sub">No trial failed or was pruned.</p>'
    rows = "".join(
        f'<tr><td class="t"><span class="pill {esc(r.state)}">{_label(r.state)}</span></td>{_num_cell(r.count, str(r.count))}'
        f'<td class="wrap">{esc(r.kind)}</td><td class="wrap wide">{"<br>".join(esc(e) for e in r.examples)}</td>'
        f'<td class="wrap">{esc(_numbers(r.trials))}</td></tr>'
        for r in job.reasons)
    counts = ", ".join(f"{job.counts.get(s, 0)} {STATE_LABELS[s]}" for s in ("FAIL", "PRUNED"))
    return (f'<p class="sub">{esc(counts)} of {sum(job.counts.values())} trials.</p>'
            '<div class="scroll"><table class="data sortable reasons"><thead><tr><th class="t">state</th><th>trials</th>'
            f'<th class="t">kind</th><th class="t">reasons as recorded</th><th class="t">trial numbers</th></tr></thead>'
            f'<tbody>{rows}</tbody></table></div>')


def _spec_and_environment(job: Job) -> str:
    env = job.environment
    import optuna
    import plotly

    span = ""
    if env.first_start and env.last_end:
        span = f" ({_duration((env.last_end - env.first_start).total_seconds())})"
    rows = [
        ("job", esc(job.name)), ("model", esc(job.model or "?")), ("dataset", esc(job.dataset or "?")),
        ("objective", f"validation {esc(job.objective)}, {esc(job.direction)}"),
        ("submitted with", f"seqrec-tuner {esc(env.tool_version or '?')}"),
        ("created", esc(env.created_at or "?")), ("started", esc(env.started_at or "?")),
        ("first trial started", esc(_when(env.first_start))), ("last trial ended", esc(_when(env.last_end)) + span),
        ("devices", _counts(env.devices)), ("hosts", _counts(env.hosts)),
        ("workers", f"{len(env.workers)}: " + _counts(env.workers)),
        ("storage", esc(env.storage)), ("read at", esc(_when(env.read_at))),
        *((esc(k), esc(json.dumps(v, default=str)[:300])) for k, v in sorted(env.other.items())),
        ("report made with", f"seqrec-tuner {esc(__version__)}, optuna {esc(optuna.__version__)}, "
                             f"plotly {esc(plotly.__version__)}, Python {esc(platform.python_version())}"),
    ]
    spec = yaml.safe_dump(_plain(job.spec), sort_keys=False, allow_unicode=True) if job.spec else "(no spec recorded)\n"
    space = job.space_text or "(no search space recorded)\n"
    return (f'<div class="cols"><div class="card"><h4>Environment</h4>{_kv(rows)}</div>'
            f'<div><h4 class="sub">Spec</h4><pre>{esc(spec)}</pre>'
            f'<h4 class="sub">Search space {esc(job.space_name or "")}</h4><pre>{esc(space)}</pre></div></div>')


def _comparison(page: _Page, rows: Sequence[Comparison]) -> str:
    import plotly.graph_objects as go

    body = []
    for c in rows:
        s = c.spread
        params = ", ".join(f"{esc(k)}={_fmt_html(v)}" for k, v in c.best_params.items())
        body.append(
            f'<tr><td class="wrap">{esc(c.job)}</td><td class="wrap">{esc(c.model or "")}</td><td class="wrap">{esc(c.dataset or "")}</td>'
            f"{_num_cell(c.best_valid, _fmt_metric(c.best_valid))}{_num_cell(c.best_test, _fmt_metric(c.best_test))}"
            f"{_num_cell(c.best_runs, str(c.best_runs))}"
            f"{_num_cell(s.valid_mean if s else None, f'{s.valid_mean:.4f} ± {s.valid_std:.4f}' if s else '')}"
            f"{_num_cell(c.complete, str(c.complete))}<td class=\"wrap wide\">{params}</td></tr>")
    objectives = sorted({c.objective for c in rows})
    objective = esc(objectives[0]) if len(objectives) == 1 else "objective"
    table = ('<div class="scroll"><table class="data sortable compare"><thead><tr><th class="t">job</th><th class="t">model</th>'
             f'<th class="t">dataset</th><th>recommended: valid {objective}</th><th>its test {objective}</th><th>its runs</th>'
             f'<th>top-{TOP_K} configurations: valid mean ± sd</th>'
             f'<th>complete trials</th><th class="t">best configuration</th></tr></thead><tbody>{"".join(body)}</tbody></table></div>')
    fig = go.Figure()
    labels = _axis_labels([c.job for c in rows])
    for c, label in zip(rows, labels):
        fig.add_trace(go.Box(y=list(c.valid_values), name=label, legendgroup="valid", offsetgroup="valid",
                             boxpoints="all", jitter=0.4, pointpos=0, marker=dict(color="#2f6fde", size=4),
                             hovertemplate=f"{label}<br>valid %{{y:.4f}}<extra></extra>", showlegend=c is rows[0],
                             x=[label] * len(c.valid_values)))
        fig.add_trace(go.Box(y=list(c.test_values), name=label, legendgroup="test", offsetgroup="test",
                             boxpoints="all", jitter=0.4, pointpos=0, marker=dict(color="#1b8a5a", size=4),
                             hovertemplate=f"{label}<br>test %{{y:.4f}}<extra></extra>", showlegend=c is rows[0],
                             x=[label] * len(c.test_values)))
    fig.for_each_trace(lambda t: t.update(name="validation" if t.legendgroup == "valid" else "test"))
    fig.update_layout(boxmode="group", height=420, title=f"{objective} of every complete trial, per job",
                      yaxis_title=objective)
    return ('<section id="compare"><h2>Comparison</h2><p class="sub">The recommended configuration of each job '
            '(selected on validation; means over its runs) and the spread of all its complete trials.</p>'
            + table + page.figure(fig) + "</section>")


# ----- figures: each returns (figure or None, note or None) ----------------------------------------

class _Studies:
    """In-memory copies of a job's complete trials for optuna.visualization, made once per job.

    Parameter names and string values are escaped: Optuna writes both into axis labels and hover text.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self._made: dict[int | None, Any] = {}

    def complete(self, top: int | None = None):
        """The complete trials, or only the ``top`` best of them."""
        if top not in self._made:
            keep = {r.number for r in self.job.ranked[:top]} if top else {r.number for r in self.job.ranked}
            by_number = {t.number: t for t in self.job.frozen if t.number in keep}
            # An in-memory study numbers trials as they are added: fill the others' places with empty
            # failed trials (which the plots skip) so every trial keeps its own number.
            trials = [_escaped_trial(by_number[n]) if n in by_number else _placeholder(n)
                      for n in range(max(by_number, default=-1) + 1)]
            self._made[top] = memory_study(trials, self.job.direction)
        return self._made[top]


def _placeholder(number: int):
    from optuna.trial import FrozenTrial, TrialState

    when = dt.datetime(2000, 1, 1)  # a finished trial needs times; no plot drawn here shows them
    return FrozenTrial(number=number, trial_id=number, state=TrialState.FAIL, value=None, values=None,
                       datetime_start=when, datetime_complete=when, params={}, distributions={}, user_attrs={},
                       system_attrs={}, intermediate_values={})


def _escaped_trial(t):
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import FrozenTrial

    def value(v):
        return esc(v) if isinstance(v, str) else v

    def distribution(d):
        return CategoricalDistribution([value(c) for c in d.choices]) if isinstance(d, CategoricalDistribution) else d

    return FrozenTrial(number=t.number, trial_id=t.number, state=t.state, value=None, values=t.values,
                       datetime_start=t.datetime_start, datetime_complete=t.datetime_complete,
                       params={esc(k): value(v) for k, v in t.params.items()},
                       distributions={esc(k): distribution(d) for k, d in t.distributions.items()},
                       user_attrs={}, system_attrs={}, intermediate_values={})


def _seeds_figure(job: Job, studies: _Studies):
    """Every run's validation and test objective, one column per configuration, so overlaps are seen."""
    configs = job.ranking.configurations[:N_SEED_PLOT]
    if not configs:
        return None, "no complete trial yet"
    import plotly.graph_objects as go

    labels = _axis_labels([f"#{i} {c.config_id} ({c.n_runs})" for i, c in enumerate(configs, start=1)])
    fig = go.Figure()
    for split, color in (("valid", "#2f6fde"), ("test", "#1b8a5a")):
        xs, ys, hover = [], [], []
        for c, label in zip(configs, labels):
            for r in c.runs:
                value = r.valid if split == "valid" else r.test
                if value is not None:
                    xs.append(label)
                    ys.append(value)
                    hover.append(f"trial {r.number}, seed {esc(r.seed)}")
        fig.add_trace(go.Box(x=xs, y=ys, name="validation" if split == "valid" else "test", offsetgroup=split,
                             boxpoints="all", jitter=0.3, pointpos=0, marker=dict(color=color, size=6),
                             line=dict(width=1), text=hover,
                             hovertemplate="%{x}<br>%{text}: %{y:.4f}<extra>" + split + "</extra>"))
    single = sum(1 for c in configs if not c.confirmed)
    note = (f"{single} of these {len(configs)} configurations have a single run (one point, no box)" if single else None)
    fig.update_layout(boxmode="group", height=460, yaxis_title=esc(job.objective),
                      title=f"{esc(job.objective)} of every run (seed) of the {len(configs)} best configurations "
                            "(runs in brackets)")
    return fig, note


def _history_figure(job: Job, studies: _Studies):
    if not job.history:
        return None, "no complete trial yet"
    import optuna.visualization as ov

    with quiet_optuna():
        fig = ov.plot_optimization_history(studies.complete(), target_name=f"valid {esc(job.objective)}")
    fig.update_layout(title=f"Validation {esc(job.objective)} per trial and best so far", height=420)
    return fig, None


def _importance_figure(job: Job, studies: _Studies):
    if not job.importances:
        return None, job.importance_note
    import plotly.graph_objects as go

    names = list(job.importances)[::-1]  # least important at the bottom of a horizontal bar chart
    values = [job.importances[n] for n in names]
    fig = go.Figure(go.Bar(x=values, y=[esc(n) for n in names], orientation="h", marker_color="#2f6fde",
                           text=[f"{v:.2f}" for v in values], textposition="outside",
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_layout(title="Parameter importances (PED-ANOVA, share of the objective's variation)",
                      height=max(260, 60 + 34 * len(names)), xaxis_title="importance")
    return fig, job.importance_note


def _top_params(job: Job, n: int) -> list[str]:
    varying = [p for p in job.param_names
               if len({repr(r.params.get(p)) for r in job.ranked}) > 1]
    ordered = [p for p in job.importances if p in varying] + [p for p in varying if p not in job.importances]
    return ordered[:n]


def _parallel_figure(job: Job, studies: _Studies):
    params = _top_params(job, N_PARALLEL)
    if len(job.ranked) < 2 or not params:
        return None, "parallel coordinates need at least 2 complete trials with a varying parameter"
    import optuna.visualization as ov

    top = N_PARALLEL_TRIALS if len(job.ranked) > N_PARALLEL_TRIALS else None
    with quiet_optuna():  # Optuna draws a line per trial: the best few hundred keep it readable and light
        fig = ov.plot_parallel_coordinate(studies.complete(top), params=[esc(p) for p in params],
                                          target_name=f"valid {esc(job.objective)}")
    shown = f"the best {top} of {len(job.ranked)} complete trials" if top else "complete trials"
    fig.update_layout(title=f"{shown.capitalize()} across the {len(params)} most important parameters", height=460)
    return fig, None


def _slice_figure(job: Job, studies: _Studies):
    params = _top_params(job, N_SLICES)
    if not job.ranked or not params:
        return None, "slice plots need a complete trial and a varying parameter"
    import optuna.visualization as ov

    with quiet_optuna():
        fig = ov.plot_slice(studies.complete(), params=[esc(p) for p in params], target_name=f"valid {esc(job.objective)}")
    fig.update_layout(title=f"Validation {esc(job.objective)} against each of the {len(params)} most important parameters",
                      height=420)
    return fig, None


def _curves_figure(job: Job, studies: _Studies):
    if job.curves_note:
        return None, job.curves_note
    import numpy as np
    import plotly.graph_objects as go

    fig = go.Figure()
    best = job.best
    for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"):
        rows = [r for r in job.trials if r.state == state and r.curve]
        if not rows:
            continue
        length = sum(len(r.curve) + 1 for r in rows)
        xs = np.full(length, np.nan, dtype=np.float32)  # curves one after another, a NaN gap between them
        ys = np.full(length, np.nan, dtype=np.float32)
        numbers = np.full(length, np.nan, dtype=np.float32)
        at = 0
        for r in rows:
            n = len(r.curve)
            xs[at:at + n], ys[at:at + n] = zip(*r.curve)
            numbers[at:at + n] = r.number
            at += n + 1
        fig.add_trace(go.Scatter(x=xs, y=ys, customdata=numbers, mode="lines", name=f"{STATE_LABELS[state]} ({len(rows)})",
                                 line=dict(color=STATE_COLORS[state], width=1), opacity=0.45,
                                 hovertemplate="trial %{customdata}<br>epoch %{x}: %{y:.4f}<extra></extra>"))
    if best is not None and best.curve:
        fig.add_trace(go.Scatter(x=[e for e, _ in best.curve], y=[v for _, v in best.curve], mode="lines+markers",
                                 name=f"best (trial {best.number})", line=dict(color="#1b8a5a", width=3)))
    fig.update_layout(title=f"Validation {esc(job.objective)} per epoch (pruned trials stop early)", height=440,
                      xaxis_title="epoch", yaxis_title=f"valid {esc(job.objective)}")
    return fig, None


def _timeline_figure(job: Job, studies: _Studies):
    if not job.timeline:
        return None, "no trial has started yet"
    import plotly.graph_objects as go

    fig = go.Figure()
    lanes = sorted({s.lane for s in job.timeline})
    lane_label = dict(zip(lanes, _axis_labels(lanes)))
    for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"):
        spans = [s for s in job.timeline if s.state == state]
        if not spans:
            continue
        fig.add_trace(go.Bar(
            base=[s.start.isoformat() for s in spans],
            x=[max((s.end - s.start).total_seconds() * 1000, 1) for s in spans],  # milliseconds on a date axis
            y=[lane_label[s.lane] for s in spans], orientation="h", name=STATE_LABELS[state],
            marker=dict(color=STATE_COLORS[state], line=dict(width=0)),
            customdata=[[s.number, _duration((s.end - s.start).total_seconds())] for s in spans],
            hovertemplate="trial %{customdata[0]}<br>%{y}<br>%{customdata[1]}<extra>" + STATE_LABELS[state] + "</extra>",
        ))
    fig.update_layout(title="Trials per worker slot (device); running trials end at the read time", barmode="overlay",
                      height=max(260, 110 + 40 * len(lanes)), xaxis=dict(type="date"),
                      yaxis=dict(categoryorder="array", categoryarray=[lane_label[x] for x in lanes[::-1]]))
    return fig, None


# ----- formatting --------------------------------------------------------------------------------

_METRIC_ORDER = ("ndcg", "recall", "mrr", "hit", "precision")


def _metric_order(name: str) -> tuple:
    base, _, k = name.partition("@")
    return (_METRIC_ORDER.index(base) if base in _METRIC_ORDER else 99, base, int(k) if k.isdigit() else 0)


def _axis_labels(names: Sequence[str], width: int = 32) -> list[str]:
    """Escaped axis labels, long names shortened (before escaping, so no entity is cut) and kept distinct."""
    short = [name if len(name) <= width else name[: width - 1] + "…" for name in names]
    if len(set(short)) < len(short):
        short = [f"{i + 1}. {s}" for i, s in enumerate(short)]
    return [esc(s) for s in short]


def _label(state: str) -> str:
    return STATE_LABELS.get(state, esc(state.lower()))


def _fmt_metric(v: Any) -> str:
    return "" if v is None or not isinstance(v, (int, float)) or not math.isfinite(v) else f"{v:.4f}"


def _fmt_html(v: Any) -> str:
    if isinstance(v, float):
        return esc(f"{v:.4g}")
    return esc("" if v is None else v)


def _num_cell(sort_value: Any, shown: str) -> str:
    """A cell whose ``data-v`` is the number the table sorts by (the shown text may be rounded)."""
    ok = isinstance(sort_value, (int, float)) and not isinstance(sort_value, bool) and math.isfinite(sort_value)
    return f'<td data-v="{esc(repr(sort_value)) if ok else ""}">{shown}</td>'


def _kv(rows) -> str:
    return '<table class="kv">' + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _counts(counts: dict[str, int]) -> str:
    if not counts:
        return "?"
    return ", ".join(f"{esc(k)} ({n})" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _numbers(numbers: Sequence[int], limit: int = 30) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" … and {len(numbers) - limit} more" if len(numbers) > limit else "")


def _when(t: dt.datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else "?"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _plain(value: Any) -> Any:
    """The spec as plain YAML types (a JSON round trip already made it so; this guards odd values)."""
    return json.loads(json.dumps(value, default=str))


def _version(module: str) -> str:
    import importlib

    return getattr(importlib.import_module(module), "__version__", "?")
