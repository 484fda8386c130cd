"""`daytwo doctor`: is the installation healthy, and is anything degrading?"""

from __future__ import annotations

import orjson
import typer
from rich.table import Table

from daytwo.cli.console import out
from daytwo.cli.stores import server, settings
from daytwo.governance.policies import retention_by_deployment
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.events.health import StoreHealth
from daytwo.store.ledger import Ledger

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def store_health(settings: Settings, ledger: Ledger) -> StoreHealth:
    url = settings.resolved_events_url
    # A ClickHouse schema is only read, never migrated, here; the embedded store is opened as
    # any command opens it (created empty on a fresh data dir).
    with open_event_store(url, read_only=not url.startswith("duckdb:")) as events:
        return events.health(retention_by_deployment(ledger))


def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> int:
    """Check the events store: schema, size, parts, merges, query memory, retention.

    Oldest data is weighed against each deployment's retention. Exit status 0 when healthy,
    1 when something is degrading, 3 when it fails."""
    remote = server()
    if remote is not None:
        # A server holds the stores: it checks them (the same report as /api/v1/health,
        # whose status code says fail with 503, so the body is read either way).
        health = StoreHealth.from_dict(remote.client.get("/api/v1/health").json()["events"])
    else:
        ledger = Ledger(settings().resolved_ledger_url)
        try:
            health = store_health(settings(), ledger)
        finally:
            ledger.dispose()
    if as_json:
        typer.echo(orjson.dumps(health.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        title = f"events store: {health.engine} ({health.location})"
        table = Table(title=title, title_justify="left")
        for col in ("check", "status", "value", "what to do"):
            table.add_column(col)
        for c in health.checks:
            table.add_row(c.name, f"[{_STYLE[c.status]}]{c.status}[/]", c.value, c.detail)
        out.print(table)
    return {"ok": 0, "warn": 1, "fail": 3}[health.status]
