"""`daytwo rollout`: rollout by journey (and agent group): show, set, recommend."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from daytwo.cli.console import err, out
from daytwo.cli.stores import actor as cli_actor
from daytwo.cli.stores import open_events, open_ledger, server, validated
from daytwo.errors import InputError
from daytwo.plan import rollout
from daytwo.plan.schemas import (
    Recommendation,
    RolloutChanged,
    RolloutRecommendations,
    RolloutSet,
    RolloutUnitPublic,
)
from daytwo.units import fmt_value

app = typer.Typer(help="Rollout by journey: states, readiness, what next.", no_args_is_help=True)
DEPLOYMENT = typer.Option(..., "--deployment", "-d", help="Deployment name.")
JSON = typer.Option(False, "--json", help="Print JSON.")
API = "/api/v1/rollout"


def _group(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    key, sep, val = value.partition("=")
    if not sep or not key or not val:
        raise InputError(f"--group looks like site=porto, not {value!r}.")
    return {key: val}


@app.command("show")
def show(deployment: str = DEPLOYMENT, as_json: bool = JSON) -> None:
    """Every journey (and agent group) with its state and readiness scorecard."""
    remote = server()
    if remote is not None:
        units = [RolloutUnitPublic.model_validate(u) for u in remote.get(f"{API}/{deployment}")]
    else:
        with open_ledger() as ledger, open_events() as events:
            units = rollout.show(ledger, events, deployment)
    if as_json:
        out.print_json(json.dumps([u.model_dump(mode="json") for u in units]))
        return
    table = Table("journey / group", "state", "ready", "per week", "value/week", "not met")
    for u in units:
        card = u.scorecard
        name = (u.journey or "every journey") + (
            " · " + "=".join(next(iter(u.group.items()))) if u.group else ""
        )
        missing = (
            [f"{c.label}: {c.summary}" for c in card.components if c.verdict != "met"]
            if card
            else []
        )
        table.add_row(
            name,
            u.state.value,
            f"{sum(c.verdict == 'met' for c in card.components)}/{len(card.components)}"
            if card
            else "—",
            f"{card.volume_per_week:,.0f}" if card and card.volume_per_week is not None else "—",
            fmt_value(card.expected_value_per_week, "currency")
            if card and card.expected_value_per_week is not None
            else "—",
            "\n".join(missing) or "—",
        )
    out.print(table)


@app.command("set")
def set_state(
    state: str = typer.Argument(
        ..., help="not_started, pilot, live, expanding, paused, rolled_back."
    ),
    deployment: str = DEPLOYMENT,
    journey: str = typer.Option(None, "--journey", "-j", help="The journey (call type)."),
    group: str = typer.Option(None, "--group", help="Agent group, e.g. site=porto."),
    reason: str = typer.Option("", "--reason", help="Why (required to pause or roll back)."),
    actor: str = typer.Option(None, "--as", help="Who is acting (default: cli:<your user>)."),
) -> None:
    """Move a journey (or agent group) to its next state; warns when it is not ready."""
    spec = validated(
        RolloutSet, {"journey": journey, "group": _group(group), "state": state, "reason": reason}
    )
    remote = server(actor)
    if remote is not None:
        changed = RolloutChanged.model_validate(
            remote.post(f"{API}/{deployment}", spec.model_dump(mode="json"))
        )
    else:
        with open_ledger() as ledger, open_events() as events:
            changed = rollout.set_state(ledger, events, deployment, spec, actor=cli_actor(actor))
    for w in changed.warnings:
        err.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    out.print(f"{journey or group} is now {changed.unit.state.value}")


def _print_rec(r: Recommendation, n: int | None) -> None:
    name = r.journey or "=".join(next(iter((r.group or {"?": "?"}).items())))
    head = f"{n}. " if n is not None else "· "
    out.print(f"{head}[bold]{name}[/] {r.state.value} → {r.next_state.value}", soft_wrap=True)
    for why in r.reasons:
        out.print(f"     {why}", soft_wrap=True)


@app.command("recommend")
def recommend(
    deployment: str = DEPLOYMENT,
    count: int = typer.Option(3, "--count", min=1, max=10, help="How many to recommend."),
    as_json: bool = JSON,
) -> None:
    """The next journeys to roll out, by expected value × readiness, with the reasons."""
    remote = server()
    if remote is not None:
        recs = RolloutRecommendations.model_validate(
            remote.get(f"{API}/{deployment}/recommendations", count=count)
        )
    else:
        with open_ledger() as ledger, open_events() as events:
            recs = rollout.recommend(ledger, events, deployment, count=count)
    if as_json:
        out.print_json(recs.model_dump_json())
        return
    out.print(f"[dim]{recs.basis}[/]", soft_wrap=True)
    if not recs.recommended:
        out.print("No journey is ready for its next step.")
    for n, r in enumerate(recs.recommended, start=1):
        _print_rec(r, n)
    if recs.advised_against:
        out.print("\n[bold]advised against for now[/]")
        for r in recs.advised_against:
            _print_rec(r, None)
