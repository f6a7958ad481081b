"""``tuner dashboard``: optuna-dashboard on the job database (tuner.service.dashboard)."""

from __future__ import annotations

import argparse

from tuner.cli.common import add_storage_option
from tuner.environment import mask_url


def register(subparsers: argparse._SubParsersAction) -> None:
    dashboard = subparsers.add_parser(
        "dashboard", help="optuna-dashboard on the job database",
        description="Serve optuna-dashboard on the job database until Ctrl-C: every job is an Optuna study, "
        "with its trials, per-epoch values and parameter importances. It has no authentication: keep --host "
        "on loopback and reach it through an SSH tunnel. Needs: pip install 'seqrec-tuner[dashboard]'.",
    )
    add_storage_option(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    dashboard.set_defaults(func=_dashboard)


def _dashboard(args: argparse.Namespace) -> int:
    from tuner.service.dashboard import dashboard_storage, serve_dashboard

    url = dashboard_storage(args.storage)
    print(f"optuna-dashboard on {mask_url(url)} at http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    serve_dashboard(url, host=args.host, port=args.port)
    return 0
