"""`daytwo db`: ledger and events-store schema migrations."""

from __future__ import annotations

import typer

from daytwo.cli.console import out
from daytwo.cli.stores import settings

app = typer.Typer(help="Manage the database schemas.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    revision: str = typer.Argument("head", help="Target revision of the ledger (default: latest)."),
) -> None:
    """Migrate the ledger and the events store to the latest schema (safe to run repeatedly)."""
    from daytwo.store.events import open_event_store
    from daytwo.store.ledger import upgrade as upgrade_ledger

    upgrade_ledger(settings().resolved_ledger_url, revision)
    out.print(f"ledger at revision [bold]{revision}[/]")
    url = settings().resolved_events_url
    if url.startswith("duckdb:"):
        # The embedded store brings its tables up to date whenever it is opened (and may be
        # held by a running server now): nothing to do here.
        return
    with open_event_store(url) as events:  # a writer migrates
        out.print(f"events store ({events.dialect}) at the latest schema")
