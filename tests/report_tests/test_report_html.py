"""The HTML page as text: self-contained, one plotly.js, every user string escaped, figures or notes."""

from __future__ import annotations

import html
import json
import re

import plotly.offline
import pytest

from tuner import records
from tuner.report import build_job, read_jobs, render

PLOTLY_JS_HEAD = plotly.offline.get_plotlyjs()[:200]


@pytest.fixture(scope="module")
def three_jobs(store, xss):
    return read_jobs(store, ["caser-ml100k", "gru4recf-ml100k", xss])


def test_one_job_page_is_self_contained_with_plotly_once(store, figures_of):
    page = render(read_jobs(store, ["caser-ml100k"]))
    assert page.count(PLOTLY_JS_HEAD) == 1
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)  # nothing fetched from anywhere
    figures = figures_of(page)
    divs = re.findall(r'<div class="plot" id="fig-(\d+)"></div>', page)
    assert [int(d) for d in divs] == list(range(len(figures)))
    assert len(figures) == 7  # per-seed values, history, importances, parallel, slices, curves, timeline
    assert "Best configuration · trial" in page and "Tied with it" in page and "Ranked configurations" in page


def test_an_unconfirmed_best_configuration_and_its_test_metrics_come_first(store):
    (job,) = read_jobs(store, ["caser-ml100k"])
    page = render([job])
    answer = page.index("Best configuration · trial")
    assert answer < page.index("Ranked configurations") < page.index("All trials") < page.index("Optimization history")
    assert f"trial {job.best.number} · unconfirmed: single run" in page[answer:answer + 80]
    assert f"{job.best.test['ndcg@10']:.4f}" in page[answer:page.index("Ranked configurations")]
    assert "unconfirmed: single run (no configuration was run with more than one seed)" in page


def test_optuna_plots_keep_the_trial_numbers(store, figures_of):
    (job,) = read_jobs(store, ["caser-ml100k"])
    history = figures_of(render([job]))[1]
    points = next(t for t in history["data"] if t.get("mode") == "markers")
    assert sorted(points["x"]) == sorted(r.number for r in job.ranked)


def test_ranked_table_has_a_row_per_trial_with_metrics_and_state(store):
    (job,) = read_jobs(store, ["caser-ml100k"])
    page = render([job])
    table = page[page.index('<table class="data sortable ranked">'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr") == 1 + len(job.trials)
    for column in ("valid ndcg@10", "test ndcg@10", "test recall@10", "best epoch", "epochs", "seconds", "state",
                   "configuration", "seed", "role"):
        assert f">{column}</th>" in table
    first_row = table.split("<tbody>")[1].split("</tr>")[0]
    assert f'data-v="{job.best.number}"' in first_row and 'class=best' in first_row


def test_every_user_string_is_escaped(three_jobs, xss, figures_of):
    page = render(three_jobs)
    assert xss not in page
    assert "<img src=x" not in page and "<script>document" not in page
    assert html.escape(xss) in page  # shown as text: header, nav, section, table cells, reasons
    # in figure text (labels, ticks, hover) the name and the categorical value reach plotly escaped
    text = json.dumps(figures_of(page))
    assert "<script" not in text and "<img" not in text
    assert html.escape(xss) in text


def test_comparison_of_several_jobs(three_jobs, figures_of):
    page = render(three_jobs)
    assert '<section id="compare">' in page and '<nav class="jobs">' in page
    compare_table = page[page.index('<table class="data sortable compare">'):]
    compare_table = compare_table[:compare_table.index("</table>")]
    assert compare_table.count("<tr>") == 1 + 3
    for job in three_jobs[:2]:
        assert f"{job.best.value:.4f}" in compare_table
    figures = figures_of(page)
    box = figures[0]
    assert {t["type"] for t in box["data"]} == {"box"} and len(box["data"]) == 6  # valid and test per job


def test_plots_that_cannot_be_drawn_become_notes(make_trial, figures_of):
    ua = {records.VALID_METRICS: {"ndcg@10": 0.05}, records.TEST_METRICS: {"ndcg@10": 0.04}}
    one = build_job("one", {records.OBJECTIVE: "ndcg@10"}, "maximize", [make_trial(0, user_attrs=ua)])
    page = render([one])
    assert "parameter importances need at least 2 complete trials" in page
    assert "parallel coordinates need at least 2 complete trials" in page
    assert "no trial reported per-epoch validation values yet" in page
    figures_of(page)  # still a valid page with its figures block
    empty = render([build_job("empty", {}, "maximize", [])])
    assert "No complete trial yet." in empty and "no trial has started yet" in empty


def test_render_does_not_change_optuna_logging():
    import optuna

    level = optuna.logging.get_verbosity()
    render([build_job("empty", {}, "maximize", [])])
    assert optuna.logging.get_verbosity() == level


def test_environment_shows_unknown_study_attributes_masked():
    attrs = {records.OBJECTIVE: "ndcg@10", records.STARTED_AT: "2025-01-06T09:00:05+00:00",
             "versions": {"torch": "2.13.0"}, "db": "postgresql://u:s3cret@db/x"}
    page = render([build_job("j", attrs, "maximize", [], storage="postgresql://u:***@db/x")])
    assert "2025-01-06T09:00:05+00:00" in page and "&quot;torch&quot;: &quot;2.13.0&quot;" in page
    assert "s3cret" not in page and "postgresql://u:***@db/x" in page


def test_a_confirmed_job_opens_with_the_recommended_configuration_and_its_tied_group(store, figures_of):
    (job,) = read_jobs(store, ["caser-confirmed"])
    best = job.recommended
    assert best.n_runs == 5 and job.ranking.method == "seeds only"
    page = render([job])
    answer = page[page.index("Recommended configuration · 5 runs"):page.index("Ranked configurations")]
    assert f"{best.test.mean:.4f}" in answer and f"[{best.test.low:.4f}, {best.test.high:.4f}]" in answer
    assert "expected test ndcg@10, mean of 5 seeds" in answer
    assert "tested over training seeds only" in answer  # no per-user ranks in a synthetic job
    for c in job.ranking.tied:
        assert f"p = {c.versus_leader.p_value:.3f}" in answer
    table = page[page.index('<table class="data sortable configurations">'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr") == 1 + len(job.ranking.configurations)  # each configuration once
    seeds = figures_of(page)[0]
    assert [t["type"] for t in seeds["data"]] == ["box", "box"]  # validation and test, a column per configuration
    assert len(seeds["data"][0]["y"]) == sum(c.n_runs for c in job.ranking.configurations[:12])
