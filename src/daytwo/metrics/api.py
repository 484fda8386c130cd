"""`/api/v1/metrics`: the catalog, and metric values for any slice (JSON or CSV)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from daytwo.deployments.service import currency_of
from daytwo.errors import InputError
from daytwo.http.access import Scope, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.params import SliceDep
from daytwo.metrics.catalog import METRICS, Metric, get_metric
from daytwo.metrics.query import dimension_name, dimension_sql
from daytwo.metrics.schemas import MetricInfo, MetricPoint
from daytwo.metrics.service import displayed, metric_points

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"], dependencies=[requires(Scope.read)])

CSV_FIXED = ("metric", "bucket")
CSV_VALUES = ("value", "n", "lo", "hi")


def metric_info(m: Metric) -> MetricInfo:
    """The public description of a registered metric."""
    return MetricInfo(
        id=m.id,
        name=m.name,
        definition=m.definition,
        formula=m.formula,
        unit=m.unit,
        good=m.good,
        group=m.group,
        kind=m.kind,
        source=m.source,
        needs=list(m.needs),
    )


@router.get("/catalog", response_model=list[MetricInfo], summary="The metric catalog")
def catalog() -> list[MetricInfo]:
    """Every registered metric with its definition, formula, unit and good direction."""
    return [metric_info(m) for m in METRICS]


def parse_filters(raw: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``dim:value`` pairs to slice filters; values of one dimension are alternatives."""
    by_dim: dict[str, list[str]] = {}
    for item in raw:
        dim, sep, value = item.partition(":")
        if not sep or not dim or not value:
            raise InputError(f"A filter looks like journey:billing or site:leeds, not {item!r}.")
        dimension_sql(dim)  # a dimension or a well-formed segment key
        by_dim.setdefault(dim, []).append(value)
    return tuple((dim, tuple(values)) for dim, values in by_dim.items())


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@router.get(
    "",
    response_model=list[MetricPoint],
    summary="Metric values",
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "Points as JSON, or with format=csv one CSV row per point: "
            "metric, bucket, one column per group-by dimension, value, n, lo, hi.",
        }
    },
)
def values(
    events: EventsDep,
    ledger: LedgerDep,
    scope: SliceDep,
    metric: Annotated[
        list[str], Query(description="Metric ids (repeat for several); see /catalog.")
    ],
    bucket: Annotated[
        Literal["hour", "day", "week", "month"] | None,
        Query(description="Time bucket: hour, day, week or month; none: totals."),
    ] = None,
    group_by: Annotated[
        list[str] | None,
        Query(description="journey, channel, outcome, agent_ref, or any segment key (repeat)."),
    ] = None,
    filter_: Annotated[
        list[str] | None,
        Query(
            alias="filter",
            description="dim:value, e.g. agent_ref:a17 or site:leeds (repeat; values of one "
            "dimension are alternatives).",
        ),
    ] = None,
    format_: Annotated[
        Literal["json", "csv"], Query(alias="format", description="json or csv.")
    ] = "json",
) -> list[MetricPoint] | Response:
    """Values with sample sizes and 95% intervals, per time bucket and group."""
    ids = _unique(metric)
    for m in ids:
        get_metric(m)  # unknown ids are a 404 naming the known ones
    dims = _unique(group_by or [])
    s = replace(
        scope,
        bucket=bucket,
        group_by=tuple(dims),
        filters=scope.filters + parse_filters(filter_ or []),
    )
    points = displayed(metric_points(events, ids, s), currency_of(ledger, scope.deployment))
    if format_ == "csv":
        return Response(
            points_csv(points, [dimension_name(d) for d in dims]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="metrics.csv"'},
        )
    return points


def points_csv(points: list[MetricPoint], dims: list[str]) -> str:
    """One row per point under a header row; empty cells where a value is not defined."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_FIXED, *dims, *CSV_VALUES])
    for p in points:
        writer.writerow(
            [
                p.metric,
                p.bucket.isoformat() if p.bucket else "",
                *["" if p.group.get(d) is None else p.group[d] for d in dims],
                *["" if v is None else v for v in (p.value, p.n, p.lo, p.hi)],
            ]
        )
    return out.getvalue()
