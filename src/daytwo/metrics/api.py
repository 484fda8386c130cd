"""`/api/v1/metrics`: the catalog, and metric values for any slice (JSON or CSV)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from daytwo.errors import InputError
from daytwo.metrics.catalog import METRICS, get_metric
from daytwo.metrics.query import BUCKETS, Bucket
from daytwo.metrics.schemas import MetricInfo, MetricPoint
from daytwo.metrics.service import metric_points
from daytwo.server.deps import EventsDep
from daytwo.server.params import SliceDep

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])


def info(metric_id: str) -> MetricInfo:
    m = get_metric(metric_id)
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
    return [info(m.id) for m in METRICS]


@router.get(
    "",
    response_model=list[MetricPoint],
    summary="Metric values",
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}},
)
def values(
    events: EventsDep,
    scope: SliceDep,
    metric: Annotated[list[str], Query(description="Metric ids (repeat for several).")],
    bucket: Annotated[str | None, Query(description="hour, day, week or month.")] = None,
    group_by: Annotated[
        list[str] | None,
        Query(description="journey, channel, outcome, agent_ref, or any segment key."),
    ] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv.")] = "json",
) -> list[MetricPoint] | Response:
    """Values with sample sizes and 95% intervals, per time bucket and group."""
    if bucket is not None and bucket not in BUCKETS:
        raise InputError(f"Unknown bucket {bucket!r}: use one of {', '.join(BUCKETS)}.")
    for m in metric:
        get_metric(m)
    b: Bucket | None = bucket  # type: ignore[assignment]
    points = metric_points(events, metric, replace(scope, bucket=b, group_by=tuple(group_by or ())))
    if format == "csv":
        return Response(_csv(points, group_by or []), media_type="text/csv")
    return points


def _csv(points: list[MetricPoint], dims: list[str]) -> str:
    out = io.StringIO()
    names = [d.removeprefix("segment.") for d in dims]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "bucket", *names, "value", "n", "lo", "hi"])
    for p in points:
        writer.writerow(
            [
                p.metric,
                p.bucket.isoformat() if p.bucket else "",
                *[p.group.get(n, "") for n in names],
                "" if p.value is None else p.value,
                "" if p.n is None else p.n,
                "" if p.lo is None else p.lo,
                "" if p.hi is None else p.hi,
            ]
        )
    return out.getvalue()
