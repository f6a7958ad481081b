"""``tuner dashboard``: optuna-dashboard on the job database, opened with a URL that works from anywhere.

Every job is an Optuna study, so optuna-dashboard reads it as it is (trials, parameters, per-epoch
values, attributes, importances). What it needs that a plain ``pip install optuna-dashboard`` lacks
comes with the ``dashboard`` extra (plotly for its plots, psycopg for PostgreSQL); the default
``sqlite:///tuner.db`` is relative to where ``tuner`` runs, so it is made absolute here. The URL is
handed over in-process, never on a command line where ``ps`` would show its password.
"""

from __future__ import annotations

from pathlib import Path

from tuner.environment import mask_url, redact, storage_url
from tuner.errors import ConfigError
from tuner.service.storage import open_storage, storage_errors

INSTALL_HINT = "pip install 'seqrec-tuner[dashboard]'"


def dashboard_storage(storage: str | None = None, cwd: Path | None = None) -> str:
    """The job database's URL for optuna-dashboard (``--storage``, ``$TUNER_STORAGE``, ...): a relative
    SQLite path resolved against ``cwd`` (default: the current folder). The database must exist."""
    from sqlalchemy.engine import make_url

    url = storage_url(storage)
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:" and not Path(database).is_absolute():
        url = parsed.set(database=str((cwd or Path.cwd()) / database)).render_as_string(hide_password=False)
    checked = open_storage(url, must_exist=True)  # a clear error now, not an empty dashboard
    try:
        with storage_errors(url):
            checked.get_all_studies()
    finally:
        checked.engine.dispose()
    return url


def serve_dashboard(url: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run optuna-dashboard on ``url`` until interrupted (Ctrl-C)."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port}: expected a port number from 1 to 65535")
    try:
        import optuna_dashboard
        import plotly  # noqa: F401  (without it every plot of the dashboard answers HTTP 500)
    except ImportError as e:
        raise ConfigError(f"optuna-dashboard needs {e.name}, which is not installed: {INSTALL_HINT}") from None
    try:
        optuna_dashboard.run_server(url, host=host, port=port)
    except OSError as e:
        raise ConfigError(f"optuna-dashboard cannot listen on {host}:{port} ({e.strerror}); pick another --port") from None
    except Exception as e:  # the dashboard's own start-up, on a database checked above: rare, password masked
        raise ConfigError(redact(f"optuna-dashboard on {mask_url(url)} failed: {type(e).__name__}: {e}", url)) from None
