"""The report page's stylesheet and its two small scripts (no external libraries, nothing fetched)."""

# Runs first, before plotly.js: every JavaScript error lands in the page's own DOM
# (``data-js-errors`` on <html>), so a headless browser's dumped DOM shows it.
ERROR_TRAP = """
(function () {
  var errors = [];
  function record(message) {
    errors.push(String(message));
    document.documentElement.setAttribute("data-js-errors", JSON.stringify(errors));
  }
  window.reportError = record;
  window.addEventListener("error", function (e) { record(e.message || e); });
  window.addEventListener("unhandledrejection", function (e) { record("unhandled rejection: " + (e.reason && e.reason.message || e.reason)); });
})();
"""

# Draws every figure from the one embedded JSON block, then marks how many rendered;
# and makes tables with class "sortable" sortable by a click on a header.
MAIN = """
(function () {
  var figures = JSON.parse(document.getElementById("report-figures").textContent);
  var rendered = 0;
  var pending = [];
  figures.forEach(function (fig, i) {
    var div = document.getElementById("fig-" + i);
    if (!div) { window.reportError("no element for figure " + i); return; }
    var config = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
    pending.push(Plotly.newPlot(div, fig.data, fig.layout, config).then(function () {
      rendered += 1;
      document.documentElement.setAttribute("data-plots-rendered", String(rendered));
    }, function (err) { window.reportError("figure " + i + ": " + err); }));
  });
  document.documentElement.setAttribute("data-plots-expected", String(figures.length));
  Promise.all(pending).then(function () { document.documentElement.setAttribute("data-plots-done", "1"); });

  function cellValue(row, column) {
    var cell = row.children[column];
    if (!cell) return "";
    var raw = cell.getAttribute("data-v");
    return raw === null ? cell.textContent : raw;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, column) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        rows.sort(function (a, b) {
          var x = cellValue(a, column), y = cellValue(b, column);
          var nx = parseFloat(x), ny = parseFloat(y);
          var bothNumbers = x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny);
          var order;
          if (bothNumbers) order = nx - ny;
          else if (x === "" || y === "") order = (x === "") - (y === "");  // blanks last
          else order = x.localeCompare(y);
          if (x === "" || y === "") return order;
          return ascending ? order : -order;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"""

STYLE = """
:root { --ink: #1d2433; --muted: #5b6475; --line: #e3e7ee; --accent: #2f6fde; --good: #1b8a5a; --bad: #c2412d;
        --warn: #b7791f; --card: #f7f9fc; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
header.top { background: linear-gradient(90deg, #1f3b73, #2f6fde); color: #fff; padding: 22px 40px 18px; }
header.top h1 { margin: 0 0 4px; font-size: 26px; font-weight: 650; word-break: break-word; }
header.top p { margin: 0; opacity: .9; }
nav.jobs { padding: 8px 40px; background: #eef3fc; border-bottom: 1px solid var(--line); font-size: 14px; }
nav.jobs a { margin-right: 18px; color: var(--accent); text-decoration: none; }
main { padding: 10px 40px 40px; max-width: 1500px; }
section.job { border-top: 3px solid var(--line); margin-top: 26px; padding-top: 6px; }
main > section.job:first-child { border-top: none; margin-top: 0; }
h2 { font-size: 22px; margin: 18px 0 8px; word-break: break-word; }
h3 { font-size: 17px; margin: 28px 0 8px; color: #24324d; }
.sub { color: var(--muted); }
.answer { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px; margin: 12px 0 8px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px; }
.card h4 { margin: 0 0 8px; font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.big { font-size: 30px; font-weight: 650; color: var(--good); }
.kv { border-collapse: collapse; width: 100%; }
.kv td { padding: 2px 8px 2px 0; vertical-align: top; border-bottom: 1px dotted var(--line); word-break: break-word; }
.kv td:first-child { color: var(--muted); white-space: nowrap; }
.pill { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 12.5px; margin: 2px 4px 2px 0; background: #e8eefb; }
.pill.COMPLETE { background: #dcf3e7; color: #145c3d; } .pill.PRUNED { background: #fdf0d8; color: #7a4d08; }
.pill.FAIL { background: #fbe1dc; color: #8c2a1a; } .pill.RUNNING, .pill.WAITING { background: #e4e8ef; color: #3b4454; }
.note { color: var(--warn); background: #fff8e8; border-left: 3px solid var(--warn); padding: 6px 12px; margin: 6px 0; }
.scroll { max-height: 520px; overflow: auto; border: 1px solid var(--line); border-radius: 8px; }
table.data { border-collapse: collapse; font-size: 13px; width: 100%; }
table.data th, table.data td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
table.data th { position: sticky; top: 0; background: #f1f4f9; cursor: pointer; user-select: none; }
table.data th[aria-sort="ascending"]::after { content: " \\25B2"; } table.data th[aria-sort="descending"]::after { content: " \\25BC"; }
table.data td.t, table.data th.t { text-align: left; }
table.data td.wrap.wide { min-width: 240px; }
table.data td.t { max-width: 260px; overflow: hidden; text-overflow: ellipsis; }
table.data tr.best td { background: #ecf8f1; font-weight: 600; }
table.data td.wrap { white-space: normal; min-width: 90px; max-width: 520px; text-align: left; word-break: break-word; }
.plot { width: 100%; min-height: 200px; }
pre { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; overflow: auto; font-size: 13px; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 16px; }
footer { color: var(--muted); font-size: 13px; padding: 16px 40px 30px; border-top: 1px solid var(--line); }
"""
