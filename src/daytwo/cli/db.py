"""`daytwo db`: ledger schema migrations."""

from __future__ import annotations

import typer

from daytwo.cli.console import out
from daytwo.cli.stores import settings

app = typer.Typer(help="Manage the ledger database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    revision: str = typer.Argument("head", help="Target revision (default: latest)."),
) -> None:
    """Migrate the ledger to the latest schema (safe to run repeatedly)."""
    from daytwo.store.ledger import upgrade as upgrade_ledger

    upgrade_ledger(settings().resolved_ledger_url, revision)
    out.print(f"ledger at revision [bold]{revision}[/]")
