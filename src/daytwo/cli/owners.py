"""`daytwo owners`: the owner directory, routing rules and default owners."""

from __future__ import annotations

import json

import typer

from daytwo.cli.console import out
from daytwo.cli.stores import actor as cli_actor
from daytwo.cli.stores import open_ledger, validated

app = typer.Typer(help="Owners, routing rules and default owners.", no_args_is_help=True)
AS = typer.Option(None, "--as", help="Who is acting (default: cli:<your user>).")


@app.command("list")
def list_owners(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Everyone who can own items."""
    from rich.table import Table

    from daytwo.backlog import owners

    with open_ledger() as ledger:
        rows = owners.list_owners(ledger)
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("handle", "name", "kind", "team", "contact", "active")
    for r in rows:
        table.add_row(r.handle, r.name, r.kind, r.team or "-", r.contact or "-", str(r.active))
    out.print(table)


@app.command("add")
def add(
    handle: str = typer.Argument(..., help="Short unique handle, e.g. cards-team."),
    name: str = typer.Option(..., help="Display name."),
    kind: str = typer.Option("person", help="person or team."),
    team: str = typer.Option(None, help="A person's team."),
    contact: str = typer.Option("", help="E-mail or chat channel."),
    actor: str = AS,
) -> None:
    """Add a person or team to the owner directory."""
    from daytwo.backlog import owners
    from daytwo.backlog.schemas import OwnerCreate

    spec = validated(
        OwnerCreate,
        {"handle": handle, "name": name, "kind": kind, "team": team, "contact": contact},
    )
    with open_ledger() as ledger:
        created = owners.create_owner(ledger, spec, actor=cli_actor(actor))
    out.print(f"added owner [bold]{created.handle}[/]")


@app.command("rule")
def rule(
    deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment name."),
    owner: str = typer.Option(..., help="Owner handle."),
    journey: str = typer.Option(None, help="Match this journey."),
    kind: str = typer.Option(None, help="Match this finding kind."),
    segment: str = typer.Option(None, help="Match this segment, key:value."),
    position: int = typer.Option(None, help="Place in the order (0 = first); default last."),
    actor: str = AS,
) -> None:
    """Add a routing rule (first match wins; rules that could never match are refused)."""
    from daytwo.backlog import owners
    from daytwo.backlog.schemas import RuleCreate

    spec = validated(
        RuleCreate,
        {
            "deployment": deployment,
            "owner": owner,
            "journey": journey,
            "finding_kind": kind,
            "segment": segment,
            "position": position,
        },
    )
    with open_ledger() as ledger:
        created = owners.add_rule(ledger, spec, actor=cli_actor(actor))
    out.print(f"rule {created.id} at position {created.position} routes to {created.owner}")


@app.command("rules")
def rules(
    deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A deployment's routing rules in the order they are tried, and its default owner."""
    from rich.table import Table

    from daytwo.backlog import owners

    with open_ledger() as ledger:
        rows = owners.list_rules(ledger, deployment)
        default = owners.default_owner(ledger, deployment)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "rules": [r.model_dump(mode="json") for r in rows],
                    "default_owner": default.handle if default else None,
                }
            )
        )
        return
    table = Table("pos", "id", "owner", "journey", "kind", "segment")
    for r in rows:
        seg = f"{r.segment_key}:{r.segment_value}" if r.segment_key else "-"
        table.add_row(
            str(r.position), str(r.id), r.owner, r.journey or "-", r.finding_kind or "-", seg
        )
    out.print(table)
    out.print(f"default owner: {default.handle if default else 'none'}")


@app.command("default")
def default(
    deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment name."),
    owner: str = typer.Argument(..., help="Owner handle."),
    actor: str = AS,
) -> None:
    """Set who owns a deployment's items that no rule matches."""
    from daytwo.backlog import owners

    with open_ledger() as ledger:
        owners.set_default_owner(ledger, deployment, owner, actor=cli_actor(actor))
    out.print(f"default owner of {deployment}: [bold]{owner}[/]")
