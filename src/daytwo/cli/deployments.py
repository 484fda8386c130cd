"""`daytwo deployments`: list and register deployments."""

from __future__ import annotations

import json

import typer

from daytwo.cli.console import out
from daytwo.cli.stores import actor, open_events, open_ledger, server
from daytwo.store.ledger.kinds import DeploymentKind

app = typer.Typer(help="List and register deployments.", invoke_without_command=True)


@app.callback()
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List deployments with their interaction and turn counts."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from daytwo.deployments.schemas import DeploymentOverview
    from daytwo.deployments.service import overview

    remote = server()
    if remote is not None:
        rows = [DeploymentOverview.model_validate(r) for r in remote.get("/api/v1/deployments")]
    else:
        with open_ledger() as ledger, open_events() as events:
            rows = overview(ledger, events)
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


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Deployment name (letters, digits, . _ -)."),
    kind: DeploymentKind = typer.Option(..., help="What kind of AI it is."),
    go_live: str = typer.Option(None, help="Go-live date, YYYY-MM-DD."),
    journeys: str = typer.Option("", help="Comma-separated journeys in rollout."),
    description: str = typer.Option("", help="One line about it."),
    currency: str = typer.Option(
        "USD", help="ISO 4217 code of the money in its cost model (EUR, GBP, USD...)."
    ),
) -> None:
    """Register a deployment in the ledger."""
    from datetime import date

    from daytwo.cli.stores import validated
    from daytwo.deployments.schemas import DeploymentCreate
    from daytwo.deployments.service import create_deployment
    from daytwo.errors import InputError
    from daytwo.governance import audit

    try:
        live = date.fromisoformat(go_live) if go_live else None
    except ValueError:
        raise InputError(f"--go-live must be a date like 2026-03-01, not {go_live!r}.") from None
    spec = validated(
        DeploymentCreate,
        {
            "name": name,
            "kind": kind,
            "description": description,
            "go_live": live,
            "journeys": [j.strip() for j in journeys.split(",") if j.strip()],
            "currency": currency,
        },
    )
    with open_ledger() as ledger:
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
    out.print(f"registered [bold]{created.name}[/] ({created.kind.value})")
