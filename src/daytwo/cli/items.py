"""`daytwo items`: the backlog from the terminal: list, show, assign, move."""

from __future__ import annotations

import json

import typer

from daytwo.cli.console import out
from daytwo.cli.stores import actor as cli_actor
from daytwo.cli.stores import backlog_policy, open_ledger

app = typer.Typer(help="The improvement backlog: list, show, assign, move.", no_args_is_help=True)
AS = typer.Option(None, "--as", help="Who is acting (default: cli:<your user>).")


@app.command("list")
def list_items(
    deployment: str = typer.Option(None, "--deployment", "-d", help="Only this deployment."),
    owner: str = typer.Option(None, help="Only this owner (handle)."),
    priority: str = typer.Option(None, help="Only P1, P2, P3 or P4."),
    journey: str = typer.Option(None, help="Only this journey."),
    status: str = typer.Option(None, help="Only this status."),
    overdue: bool = typer.Option(False, "--overdue", help="Only items past an SLA."),
    merged: bool = typer.Option(
        False,
        "--merged",
        help="Also the items merged into another item's problem (closed as wont_fix, shown "
        "as merged into #N); left out by default.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Items, highest score first (items merged into another item's problem with --merged)."""
    from rich.table import Table

    from daytwo.backlog import service

    with open_ledger() as ledger:
        rows = service.list_items(
            ledger, deployment=deployment, owner=owner, priority=priority, journey=journey,
            status=status, overdue=overdue, include_merged=merged,
        )  # fmt: skip
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("id", "P", "score", "status", "owner", "journey", "fix due", "title")
    for r in rows:
        table.add_row(
            str(r.id),
            r.priority,
            f"{r.score:,.0f}",
            (
                f"merged into #{r.merged_into}"
                if r.merged_into is not None
                else r.status + (" (overdue)" if r.sla.breached else "")
            ),
            r.owner or "-",
            r.journey or "-",
            r.fix_due.strftime("%Y-%m-%d"),
            r.title,
        )
    out.print(table)


@app.command("show")
def show(
    item_id: int = typer.Argument(..., help="Item id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One item with its score formula, findings, changes and history."""
    from daytwo.backlog import service

    with open_ledger() as ledger:
        item = service.get_item(ledger, item_id)
    if as_json:
        out.print_json(item.model_dump_json())
        return
    out.print(f"[bold]#{item.id} {item.title}[/] ({item.deployment})")
    out.print(f"{item.priority} · {item.status} · owner {item.owner or 'none'}")
    out.print(f"score: {item.breakdown.get('formula', '')}")
    out.print(f"triage due {item.triage_due:%Y-%m-%d %H:%M} ({item.sla.triage}), "
              f"fix due {item.fix_due:%Y-%m-%d} ({item.sla.fix})")  # fmt: skip
    for f in item.findings:
        out.print(f"finding {f.finding_id} [{f.kind}] {f.snapshot.get('title', '')}")
    if item.changes:
        out.print("changes: " + ", ".join(str(c) for c in item.changes))
    for e in item.history:
        change = f" {e.before or '-'} -> {e.after or '-'}" if (e.before or e.after) else ""
        note = f" ({e.note})" if e.note else ""
        out.print(f"  {e.at:%Y-%m-%d %H:%M} {e.actor}: {e.action}{change}{note}", soft_wrap=True)


@app.command("assign")
def assign(
    item_id: int = typer.Argument(..., help="Item id."),
    owner: str = typer.Argument(..., help="Owner handle."),
    note: str = typer.Option("", help="Why, for the history."),
    actor: str = AS,
) -> None:
    """Give an item to another owner."""
    from daytwo.backlog import service

    with open_ledger() as ledger:
        item = service.assign_item(ledger, item_id, owner, actor=cli_actor(actor), note=note)
    out.print(f"#{item.id} is owned by [bold]{item.owner}[/]")


@app.command("move")
def move(
    item_id: int = typer.Argument(..., help="Item id."),
    status: str = typer.Argument(..., help="triaged, in_progress, fix_shipped, wont_fix..."),
    reason: str = typer.Option("", help="Why (required for wont_fix)."),
    actor: str = AS,
) -> None:
    """Move an item along the workflow (illegal moves are refused)."""
    from daytwo.backlog import service

    with open_ledger() as ledger:
        item = service.move_item(
            ledger, item_id, status, backlog_policy(), actor=cli_actor(actor), reason=reason
        )
    out.print(f"#{item.id} is now [bold]{item.status}[/]")
