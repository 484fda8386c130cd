"""`daytwo serve`: run the web UI and the API."""

from __future__ import annotations

import signal
from types import FrameType
from typing import TYPE_CHECKING

import typer

from daytwo.cli.console import out

if TYPE_CHECKING:
    from daytwo.settings import Settings

# Events stores that one process at a time may open: several workers cannot share them.
_EMBEDDED = ("duckdb://", "chdb://")


def serve(
    host: str = typer.Option(None, help="Address to bind (default: DAYTWO_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default: DAYTWO_PORT or 8000)."),
    workers: int = typer.Option(
        1,
        min=1,
        help="Worker processes. More than one needs a shared events store "
        "(DAYTWO_EVENTS_URL=clickhouse://…); scheduled work still runs once (a ledger lease).",
    ),
) -> None:
    """Serve the web UI and the API (migrates the ledger first).

    While it runs, every other `daytwo` command on the same data dir works through it.
    """
    from daytwo.cli.stores import settings as read_settings

    settings = read_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    run_server(settings, workers=workers)


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_server(settings: Settings, *, workers: int = 1) -> None:
    """Open and migrate the stores, then serve until stopped.

    The stores open here, before the server starts, so that a data dir that is read-only or
    missing, a store another process holds or a migration that cannot run ends in one line
    naming the cause and an exit code (see ``daytwo.errors``), not a server traceback. While
    it serves, the data dir names this server, so the other commands go through it.

    With ``workers`` > 1 (a shared events store only), uvicorn starts that many processes,
    each building the app from the environment; scheduled work runs once (a ledger lease).
    """
    import uvicorn

    from daytwo import __version__
    from daytwo.errors import ConfigError
    from daytwo.http import link
    from daytwo.server import create_app
    from daytwo.store.events import open_event_store
    from daytwo.store.faults import check_data_dir
    from daytwo.store.ledger import Ledger, upgrade

    settings.check_safe_to_serve()
    if workers > 1 and settings.resolved_events_url.startswith(_EMBEDDED):
        raise ConfigError(
            f"--workers {workers} needs an events store the processes can share: the embedded "
            f"one ({settings.resolved_events_url.split(':', 1)[0]}) opens in one process only. "
            "Set DAYTWO_EVENTS_URL=clickhouse://user:password@host:8123/daytwo."
        )
    running = link.read(settings.data_dir)
    if running is not None:
        raise ConfigError(
            f"daytwo is already serving {settings.data_dir} at {running.url} (process "
            f"{running.pid}); stop it first, or give this one another data dir."
        )
    if settings.ledger_url is None or settings.events_url is None:
        check_data_dir(settings.data_dir)
    upgrade(settings.resolved_ledger_url)
    if workers > 1:
        out.print(
            f"daytwo serving on [bold]http://{settings.host}:{settings.port}/[/]"
            f"  (data: {settings.data_dir}, {workers} workers)"
        )
        uvicorn.run(
            "daytwo.server.asgi:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level="warning",
        )
        return
    events = open_event_store(settings.resolved_events_url)
    ledger = Ledger(settings.resolved_ledger_url)
    url = link.loopback_url(settings.host, settings.port)
    record = link.publish(settings.data_dir, url, __version__)
    # uvicorn stops gracefully on SIGTERM and then raises it again for the previous handler;
    # ours turns it into an exit, so the record is withdrawn on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        app = create_app(
            settings, events=events, ledger=ledger, local_token_hash=record.token_hash, serving=True
        )
        out.print(
            f"daytwo serving on [bold]http://{settings.host}:{settings.port}/[/]"
            f"  (data: {settings.data_dir})"
        )
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        link.withdraw(settings.data_dir, record)
        events.close()
        ledger.dispose()
