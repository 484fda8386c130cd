"""`daytwo serve`: run the web UI and API."""

from __future__ import annotations

import typer
import uvicorn

from daytwo.cli.console import out
from daytwo.server import create_app
from daytwo.settings import Settings


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
    settings.check_safe_to_serve()
    app = create_app(settings)
    out.print(
        f"daytwo serving on [bold]http://{settings.host}:{settings.port}/[/]"
        f"  (data: {settings.data_dir})"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
