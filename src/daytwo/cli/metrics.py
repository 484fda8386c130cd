"""`daytwo metrics`: the catalog, and a metric's values for a deployment."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from daytwo.cli.console import out
from daytwo.cli.stores import open_events, open_ledger, server, settings
from daytwo.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from daytwo.metrics.schemas import MetricPoint

app = typer.Typer(help="The metric catalog and metric values.", no_args_is_help=True)

DEFAULT_DAYS = 28
_BETTER = {"up": "higher", "down": "lower"}


@app.command("list")
def list_metrics(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every registered metric: id, name, group, unit and which direction is better."""
    from rich.table import Table

    from daytwo.metrics.api import metric_info
    from daytwo.metrics.catalog import METRICS

    if as_json:
        out.print_json(json.dumps([metric_info(m).model_dump(mode="json") for m in METRICS]))
        return
    table = Table("id", "name", "group", "unit", "better")
    for m in METRICS:
        table.add_row(m.id, m.name, m.group, m.unit, _BETTER.get(m.good or "", "-"))
    out.print(table)


def _range(
    latest: datetime | None, deployment: str, first: date | None, last: date | None
) -> tuple[date, date]:
    if last is None:
        if latest is None:
            raise NotFoundError(f"Deployment {deployment!r} has no interactions.")
        last = latest.date()
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InputError("--start is after the latest data; give --end too.")
    return first, last


def _values(
    metric: str,
    deployment: str,
    first: date | None,
    last: date | None,
    bucket: str | None,
    dims: tuple[str, ...],
) -> tuple[date, date, list[MetricPoint], str | None]:
    """The days shown, the points and the deployment's currency: from the server when one
    runs, else from the stores."""
    from daytwo.metrics.schemas import MetricPoint

    remote = server()
    if remote is not None:
        rows: list[dict[str, Any]] = remote.get("/api/v1/deployments")
        found = next((r for r in rows if r["name"] == deployment), None)
        latest = found and found.get("last_started_at")
        first, last = _range(
            datetime.fromisoformat(latest) if latest else None, deployment, first, last
        )
        answer = remote.get(
            "/api/v1/metrics",
            deployment=deployment,
            metric=metric,
            bucket=bucket,
            group_by=list(dims),
            start=first.isoformat(),
            end=last.isoformat(),
        )
        registered = next((r for r in rows if r["name"] == deployment and r["registered"]), None)
        currency = (
            remote.get(f"/api/v1/deployments/{deployment}")["currency"] if registered else None
        )
        return first, last, [MetricPoint.model_validate(p) for p in answer], currency
    from daytwo.metrics.query import Bucket, Slice
    from daytwo.metrics.service import metric_points

    url = settings().resolved_events_url
    if url.startswith("duckdb:///") and not Path(url.removeprefix("duckdb:///")).exists():
        raise NotFoundError("There is no data yet: run `daytwo import` or `daytwo demo` first.")
    with open_events() as events:
        latest = events.query(
            "SELECT max(started_at) AS m FROM interactions WHERE deployment = ?", [deployment]
        )["m"][0].as_py()
        first, last = _range(cast(datetime | None, latest), deployment, first, last)
        s = Slice(
            deployment,
            _midnight(first),
            _midnight(last + timedelta(days=1)),
            bucket=cast(Bucket | None, bucket),
            group_by=dims,
        )
        points = metric_points(events, [metric], s)
    from daytwo.deployments.service import currency_of
    from daytwo.metrics.service import displayed

    with open_ledger() as ledger:
        currency = currency_of(ledger, deployment)
    return first, last, displayed(points, currency), currency


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--{name} must be a date like 2026-03-01, not {value!r}.") from None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@app.command("show")
def show(
    metric: str = typer.Argument(..., help="Metric id (see `daytwo metrics list`)."),
    deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment name."),
    by: list[str] = typer.Option(
        None, "--by", help="Group by journey, channel, outcome, agent_ref or a segment key."
    ),
    bucket: str = typer.Option(None, help="Time bucket: hour, day, week or month."),
    start: str = typer.Option(None, help="First day (default: 28 days before --end)."),
    end: str = typer.Option(
        None, help="Last day, inclusive (default: the day of the latest data)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Values of one metric, with sample sizes and 95% intervals."""
    from rich.table import Table

    from daytwo.metrics.catalog import get_metric
    from daytwo.metrics.query import BUCKETS, dimension_name
    from daytwo.units import fmt_value

    m = get_metric(metric)
    if bucket is not None and bucket not in BUCKETS:
        raise InputError(f"--bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}.")
    dims = tuple(dict.fromkeys(by or ()))
    first, last = _day(start, "start"), _day(end, "end")
    if first and last and first > last:
        raise InputError("--start is after --end.")
    first, last, points, currency = _values(m.id, deployment, first, last, bucket, dims)
    if as_json:
        out.print_json(json.dumps([p.model_dump(mode="json") for p in points]))
        return
    names = [dimension_name(d) for d in dims]
    table = Table(
        *(["bucket"] if bucket else []),
        *names,
        m.name,
        "n",
        "95% interval",
        title=f"{m.name} · {deployment} · {first} to {last}",
    )
    when = "%Y-%m-%d %H:%M" if bucket == "hour" else "%Y-%m-%d"
    for p in points:
        interval = (
            f"{fmt_value(p.lo, m.unit, currency)} – {fmt_value(p.hi, m.unit, currency)}"
            if p.lo is not None
            else ""
        )
        table.add_row(
            *([p.bucket.strftime(when)] if p.bucket else []),
            *["-" if p.group.get(d) is None else str(p.group[d]) for d in names],
            fmt_value(p.value, m.unit, currency),
            f"{p.n:,}" if p.n is not None else "",
            interval,
        )
    out.print(table)
