"""`daytwo serve`: run the web UI and API."""

from __future__ import annotations

import typer
import uvicorn

from daytwo.cli.console import out
from daytwo.server import create_app
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.faults import check_data_dir
from daytwo.store.ledger import Ledger, upgrade


def serve(
    host: str = typer.Option(None, help="Address to bind (default: DAYTWO_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default: DAYTWO_PORT or 8000)."),
) -> None:
    """Serve the web UI and the API (migrates the ledger first)."""
    settings = Settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    run_server(settings)


def run_server(settings: Settings) -> None:
    """Open and migrate the stores, then serve until stopped.

    The stores open here, before the server starts, so that a data dir that is read-only or
    missing, a store another process holds or a migration that cannot run ends in one line
    naming the cause and an exit code (see ``daytwo.errors``), not a server traceback.
    """
    settings.check_safe_to_serve()
    if settings.ledger_url is None or settings.events_url is None:
        check_data_dir(settings.data_dir)
    upgrade(settings.resolved_ledger_url)
    events = open_event_store(settings.resolved_events_url)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        app = create_app(settings, events=events, ledger=ledger)
        out.print(
            f"daytwo serving on [bold]http://{settings.host}:{settings.port}/[/]"
            f"  (data: {settings.data_dir})"
        )
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        events.close()
        ledger.dispose()
