"""`daytwo change`: record shipped changes (from a CI/CD pipeline) and measure their impact."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from daytwo.cli.console import out
from daytwo.cli.stores import actor as cli_actor
from daytwo.cli.stores import backlog_policy, open_events, open_ledger, server, validated
from daytwo.errors import InputError

if TYPE_CHECKING:
    from daytwo.backlog.schemas import ChangePublic

app = typer.Typer(help="Record changes and measure their impact.", no_args_is_help=True)
AS = typer.Option(None, "--as", help="Who is recording (default: cli:<your user>).")


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _segments(text: str, option: str) -> dict[str, list[str]]:
    """``team=leeds-3,leeds-4`` -> ``{"team": ["leeds-3", "leeds-4"]}``."""
    if not text.strip():
        return {}
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not _split(values):
        raise InputError(f"--{option} takes key=value[,value], e.g. team=leeds-3, not {text!r}.")
    return {key.strip(): _split(values)}


def _when(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--shipped-at must be an ISO-8601 time, not {value!r}.") from None
    if parsed.tzinfo is None:
        raise InputError("--shipped-at needs a time zone, e.g. 2026-03-01T09:00:00Z.")
    return parsed


def _print(change: ChangePublic) -> None:
    from daytwo.metrics.catalog import REGISTRY
    from daytwo.units import fmt_change, fmt_delta

    im = change.impact
    out.print(f"change [bold]{change.id}[/] {change.title} ({change.kind}, {change.deployment})")
    out.print(f"verdict: [bold]{change.verdict}[/]" + (f" — {im.reason}" if im else ""))
    if im and im.estimate is not None and im.lo is not None and im.hi is not None:
        found = REGISTRY.get(im.metric)
        unit = found.unit if found else "score"
        out.print(
            f"{im.metric}: {fmt_delta(im.estimate, unit)} (95% {fmt_delta(im.lo, unit)} to "
            f"{fmt_delta(im.hi, unit)}); changed "
            f"{fmt_change(im.treated_before, im.treated_after, unit)}, control "
            f"{fmt_change(im.control_before, im.control_after, unit)}",
            soft_wrap=True,
        )


@app.command("record")
def record(
    deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment name."),
    kind: str = typer.Option(..., help="prompt, model, knowledge, flow, config or training."),
    title: str = typer.Option(..., help="What changed, in one line."),
    author: str = typer.Option(None, help="Who made it (default: the recorder)."),
    shipped_at: str = typer.Option(None, help="When it went live (ISO time; default: now)."),
    journeys: str = typer.Option("", help="Comma-separated journeys it touched."),
    control: str = typer.Option("", help="Comma-separated control journeys (default: others)."),
    segments: str = typer.Option(
        "", help="The one segment it touched, key=value[,value]: team=leeds-3 for a training."
    ),
    control_segments: str = typer.Option(
        "", help="Values of that key to compare with, key=value[,value] (default: the others)."
    ),
    metric: str = typer.Option("containment_rate", help="Metric to judge it by."),
    window_days: int = typer.Option(None, help="Days compared on each side."),
    items: str = typer.Option("", help="Comma-separated ids of the items it fixes."),
    rationale: str = typer.Option("", help="Why."),
    measure: bool = typer.Option(False, "--measure", help="Measure its impact right away."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    actor: str = AS,
) -> None:
    """Record a shipped change; the items it fixes move to fix_shipped."""
    from daytwo.backlog import changes
    from daytwo.backlog.schemas import ChangeCreate, ChangePublic

    who = cli_actor(actor)
    try:
        item_ids = [int(i) for i in _split(items)]
    except ValueError:
        raise InputError("--items takes item ids, e.g. 12,15.") from None
    spec = validated(
        ChangeCreate,
        {
            "deployment": deployment,
            "kind": kind,
            "title": title,
            "author": author or who,
            "shipped_at": _when(shipped_at),
            "journeys": _split(journeys),
            "control_journeys": _split(control),
            "segments": _segments(segments, "segments"),
            "control_segments": _segments(control_segments, "control-segments"),
            "metric": metric,
            "window_days": window_days,
            "items": item_ids,
            "rationale": rationale,
        },
    )
    remote = server(actor)
    if remote is not None:
        created = ChangePublic.model_validate(
            remote.post("/api/v1/changes", spec.model_dump(mode="json"), measure=measure)
        )
    else:
        with open_ledger() as ledger, open_events() as events:
            policy = backlog_policy()
            created = changes.record_change(ledger, events, spec, policy, actor=who)
            if measure:
                created = changes.measure_impact(ledger, events, created.id, policy, actor=who)
    if as_json:
        out.print_json(created.model_dump_json())
        return
    _print(created)


@app.command("impact")
def impact(
    change_id: int = typer.Argument(None, help="Change id; without it, every unsettled change."),
    deployment: str = typer.Option(None, "--deployment", "-d", help="With no id: only this."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    actor: str = AS,
) -> None:
    """Measure a change against its control (difference in differences, bootstrap interval)."""
    from daytwo.backlog import changes
    from daytwo.backlog.schemas import ChangePublic

    remote = server(actor)
    if remote is not None:
        if change_id is not None:
            answer = [remote.post(f"/api/v1/changes/{change_id}/impact")]
        else:
            answer = remote.post("/api/v1/changes/impact", deployment=deployment)
        done = [ChangePublic.model_validate(c) for c in answer]
    else:
        with open_ledger() as ledger, open_events() as events:
            policy = backlog_policy()
            if change_id is not None:
                done = [
                    changes.measure_impact(
                        ledger, events, change_id, policy, actor=cli_actor(actor)
                    )
                ]
            else:
                done = changes.measure_all(ledger, events, policy, deployment=deployment)
    if as_json:
        out.print_json(json.dumps([c.model_dump(mode="json") for c in done]))
        return
    for c in done:
        _print(c)


@app.command("list")
def list_(
    deployment: str = typer.Option(None, "--deployment", "-d", help="Only this deployment."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recorded changes, latest first, with their verdicts."""
    from rich.table import Table

    from daytwo.backlog import changes

    with open_ledger() as ledger:
        rows = changes.list_changes(ledger, deployment)
    if as_json:
        out.print_json(json.dumps([c.model_dump(mode="json") for c in rows]))
        return
    table = Table("id", "shipped", "deployment", "kind", "scope", "verdict", "title")
    for c in rows:
        table.add_row(
            str(c.id),
            c.shipped_at.strftime("%Y-%m-%d %H:%M"),
            c.deployment,
            c.kind,
            ", ".join(f"{k}={','.join(v)}" for k, v in c.segments.items())
            or ", ".join(c.journeys)
            or "all",
            c.verdict,
            c.title,
        )
    out.print(table)
