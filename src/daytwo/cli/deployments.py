"""`daytwo deployments`: list and register deployments."""

from __future__ import annotations

import json
from datetime import date

import typer
from rich.table import Table

from daytwo.cli.console import out
from daytwo.cli.governance import actor
from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment, overview
from daytwo.governance import audit
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import DeploymentKind, Ledger, upgrade

app = typer.Typer(help="List and register deployments.", invoke_without_command=True)


@app.callback()
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List deployments with their interaction and turn counts."""
    if ctx.invoked_subcommand is not None:
        return
    settings = Settings()
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    with open_event_store(settings.resolved_events_url, read_only=_exists(settings)) as events:
        rows = overview(ledger, events)
    ledger.dispose()
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("deployment", "kind", "go-live", "interactions", "turns", "latest")
    for r in rows:
        table.add_row(
            r.name + ("" if r.registered else " (unregistered)"),
            r.kind or "-",
            str(r.go_live or "-"),
            f"{r.interactions:,}",
            f"{r.turns:,}",
            r.last_started_at.strftime("%Y-%m-%d %H:%M") if r.last_started_at else "-",
        )
    out.print(table)


def _exists(settings: Settings) -> bool:
    url = settings.resolved_events_url
    from pathlib import Path

    return url.startswith("duckdb:///") and Path(url.removeprefix("duckdb:///")).exists()


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Deployment name (letters, digits, . _ -)."),
    kind: DeploymentKind = typer.Option(..., help="What kind of AI it is."),
    go_live: str = typer.Option(None, help="Go-live date, YYYY-MM-DD."),
    journeys: str = typer.Option("", help="Comma-separated journeys in rollout."),
    description: str = typer.Option("", help="One line about it."),
) -> None:
    """Register a deployment in the ledger."""
    settings = Settings()
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    spec = DeploymentCreate(
        name=name,
        kind=kind,
        description=description,
        go_live=date.fromisoformat(go_live) if go_live else None,
        journeys=[j.strip() for j in journeys.split(",") if j.strip()],
    )
    created = create_deployment(ledger, spec)
    with ledger.session() as session:
        audit.record(
            session,
            actor=actor(),
            action="deployment.create",
            target=created.name,
            deployment=created.name,
            after=spec.model_dump(mode="json"),
        )
    ledger.dispose()
    out.print(f"registered [bold]{created.name}[/] ({created.kind.value})")
