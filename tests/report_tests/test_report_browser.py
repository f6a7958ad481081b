"""The report in a real headless Chromium: no JavaScript error, every figure drawn, nothing injected runs,
tables sort; a screenshot is kept in test-artifacts/report.png."""

from __future__ import annotations

import json
import re

import pytest

from tuner.report import _assets, read_jobs, write_report

pytestmark = pytest.mark.browser


def dumped_dom(browse, page) -> str:
    return browse(page, "--dump-dom").stdout


def root_attributes(dom: str) -> dict[str, str]:
    tag = re.search(r"<html([^>]*)>", dom).group(1)
    return {k: v for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag)}


def drawn_figures(dom: str) -> list[int]:
    """Figure divs that plotly turned into a ``.js-plotly-plot`` holding a ``.main-svg``."""
    drawn = []
    pieces = re.split(r'(<div class="[^"]*" id="fig-\d+")', dom)
    for opening, body in zip(pieces[1::2], pieces[2::2]):
        if "js-plotly-plot" in opening and 'class="main-svg"' in body:
            drawn.append(int(re.search(r"fig-(\d+)", opening).group(1)))
    return drawn


def test_report_renders_every_plot_without_errors(store, xss, browse, figures_of, tmp_path):
    from pathlib import Path

    jobs = read_jobs(store, ["caser-confirmed", "caser-ml100k", "gru4recf-ml100k", xss])
    page = write_report(jobs, tmp_path / "report.html")
    n_figures = len(figures_of(page.read_text(encoding="utf-8")))
    dom = dumped_dom(browse, page)
    attrs = root_attributes(dom)
    assert "data-js-errors" not in attrs, json.loads(attrs["data-js-errors"].replace("&quot;", '"'))
    assert "data-pwned" not in attrs  # the XSS job name, parameter value and failure reason ran nothing
    assert attrs.get("data-plots-expected") == str(n_figures)
    assert attrs.get("data-plots-rendered") == str(n_figures)
    assert drawn_figures(dom) == list(range(n_figures))

    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "report.png"
    shot.unlink(missing_ok=True)
    browse(page, f"--screenshot={shot}", "--window-size=1400,3000")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 100_000  # a drawn page, not a blank one


def test_error_trap_reports_javascript_errors(browse, tmp_path):
    """The check above can fail: a page whose script throws shows up in data-js-errors."""
    page = tmp_path / "broken.html"
    page.write_text(f"<html><head><script>{_assets.ERROR_TRAP}</script></head><body>"
                    "<script>undefinedFunction();</script></body></html>", encoding="utf-8")
    attrs = root_attributes(dumped_dom(browse, page))
    assert "undefinedFunction" in attrs.get("data-js-errors", "")


def test_tables_sort_by_number_and_text_with_blanks_last(browse, tmp_path):
    rows = [("3", "b", "0.5"), ("10", "a", ""), ("2", "c", "0.25")]
    body = "".join(f'<tr><td data-v="{n}">{n}</td><td>{t}</td><td data-v="{v}">{v}</td></tr>' for n, t, v in rows)
    clicks = """
    <script>
      var th = document.querySelectorAll("table.sortable thead th");
      function order() { return Array.prototype.map.call(document.querySelectorAll("tbody tr"),
                                                          function (r) { return r.children[0].textContent; }).join(","); }
      var out = [];
      th[0].click(); out.push(order()); th[0].click(); out.push(order());
      th[1].click(); out.push(order()); th[2].click(); out.push(order()); th[2].click(); out.push(order());
      document.documentElement.setAttribute("data-orders", out.join("|"));
    </script>"""
    page = tmp_path / "table.html"
    page.write_text(
        f"<html><head><script>{_assets.ERROR_TRAP}</script></head><body>"
        f'<table class="data sortable"><thead><tr><th>n</th><th>t</th><th>v</th></tr></thead><tbody>{body}</tbody></table>'
        f'<script type="application/json" id="report-figures">[]</script><script>{_assets.MAIN}</script>{clicks}</body></html>',
        encoding="utf-8")
    attrs = root_attributes(dumped_dom(browse, page))
    assert "data-js-errors" not in attrs
    assert attrs["data-orders"].split("|") == ["2,3,10", "10,3,2", "10,3,2", "2,3,10", "3,2,10"]
