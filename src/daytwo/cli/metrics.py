"""`daytwo metrics`: the catalog, and a metric's values for a deployment."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import typer
from rich.table import Table

from daytwo.cli.console import out
from daytwo.errors import InputError, NotFoundError
from daytwo.metrics.catalog import METRICS, get_metric
from daytwo.metrics.query import BUCKETS, Slice
from daytwo.metrics.service import metric_points
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.web.filters import fmt_value

app = typer.Typer(help="The metric catalog and metric values.", no_args_is_help=True)


@app.command("list")
def list_metrics(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every registered metric: id, name, group, unit and which direction is better."""
    if as_json:
        rows = [
            {
                "id": m.id,
                "name": m.name,
                "group": m.group,
                "unit": m.unit,
                "good": m.good,
                "definition": m.definition,
                "formula": m.formula,
            }
            for m in METRICS
        ]
        out.print_json(json.dumps(rows))
        return
    table = Table("id", "name", "group", "unit", "better")
    for m in METRICS:
        table.add_row(
            m.id, m.name, m.group, m.unit, {"up": "higher", "down": "lower"}.get(m.good or "", "-")
        )
    out.print(table)


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--{name} must be a date like 2026-03-01.") from None


@app.command("show")
def show(
    metric: str = typer.Argument(..., help="Metric id (see `daytwo metrics list`)."),
    deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment name."),
    by: list[str] = typer.Option(None, "--by", help="Group by journey, channel or a segment."),
    bucket: str = typer.Option(None, help="Time bucket: hour, day, week or month."),
    start: str = typer.Option(None, help="First day (default: 28 days before --end)."),
    end: str = typer.Option(None, help="Last day, inclusive (default: latest data)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Values of one metric, with sample sizes and 95% intervals."""
    m = get_metric(metric)
    if bucket is not None and bucket not in BUCKETS:
        raise InputError(f"--bucket must be one of {', '.join(BUCKETS)}.")
    settings = Settings()
    with open_event_store(settings.resolved_events_url, read_only=True) as events:
        latest = events.query(
            "SELECT max(started_at) AS m FROM interactions WHERE deployment = ?", [deployment]
        )["m"][0].as_py()
        if latest is None:
            raise NotFoundError(f"Deployment {deployment!r} has no interactions.")
        last = _day(end, "end") or latest.date()
        first = _day(start, "start") or last - timedelta(days=27)
        if first > last:
            raise InputError("--start is after --end.")
        s = Slice(
            deployment,
            datetime.combine(first, time(), tzinfo=UTC),
            datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
        )
        points = metric_points(
            events,
            [m.id],
            replace(
                s,
                bucket=bucket,  # type: ignore[arg-type]
                group_by=tuple(by or ()),
            ),
        )
    if as_json:
        out.print_json(json.dumps([p.model_dump(mode="json") for p in points]))
        return
    dims = [d.removeprefix("segment.") for d in by or []]
    table = Table(
        *(["bucket"] if bucket else []),
        *dims,
        m.name,
        "n",
        "95% interval",
        title=f"{m.name} · {deployment} · {first} to {last}",
    )
    for p in points:
        interval = (
            f"{fmt_value(p.lo, m.unit)} – {fmt_value(p.hi, m.unit)}" if p.lo is not None else ""
        )
        table.add_row(
            *([p.bucket.strftime("%Y-%m-%d %H:%M")] if bucket and p.bucket else []),
            *[str(p.group.get(d, "")) for d in dims],
            fmt_value(p.value, m.unit),
            f"{p.n:,}" if p.n is not None else "",
            interval,
        )
    out.print(table)
