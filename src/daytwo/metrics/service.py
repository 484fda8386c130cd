"""Metric values from the events store: points for charts, summaries for tiles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pyarrow as pa

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.metrics import calc, rollup
from daytwo.metrics.catalog import Metric, get_metric
from daytwo.metrics.query import Query, Slice, build_queries
from daytwo.metrics.schemas import MetricPoint, MetricSummary
from daytwo.store.events import EventStore
from daytwo.units import fmt_value

BASELINE_OFFSET = timedelta(days=7)
BASELINE_LENGTH = timedelta(days=14)


def estimate(metric: Metric, row: dict[str, Any]) -> calc.Estimate:
    """Turn the raw aggregates of one group into a value, sample size and interval."""
    p = metric.id
    if metric.kind == "ratio":
        return calc.ratio(row.get(f"{p}__num"), row.get(f"{p}__den"))
    if metric.kind == "score":
        return calc.score(row.get(f"{p}__num"), row.get(f"{p}__den"))
    if metric.kind == "mean":
        return calc.mean(row.get(f"{p}__val"), row.get(f"{p}__n"), row.get(f"{p}__sd"))
    if metric.kind in ("quantile", "median"):
        n = row.get(f"{p}__n")
        value = row.get(f"{p}__val")
        return calc.Estimate(float(value) if value is not None and n else None, int(n or 0))
    value = row.get(f"{p}__val")
    return calc.Estimate(float(value) if value is not None else None, None)


def _run(events: EventStore, q: Query) -> pa.Table:
    # A query over rollups only may be answered from the last refresh's answers.
    if q.source in ("interactions", "turns"):
        return events.query(q.sql, q.params)
    return events.query_derived(q.sql, q.params)


def ready_rollups(events: EventStore) -> frozenset[str]:
    """The rollups that are current (refreshed first where data changed) and can be read."""
    return frozenset(t.name for t in rollup.TABLES if events.derived_ready(t.name))


def metric_points(
    events: EventStore, metric_ids: Sequence[str], s: Slice, *, rollups: bool = True
) -> list[MetricPoint]:
    """Every metric for every group (and bucket) of the slice.

    A turn-level metric has a point only where the group has a value to measure (an answer
    with a latency); ``rollups=False`` reads the raw rows only (the rollups give the same
    numbers; tests compare the two).
    """
    metrics = [get_metric(m) for m in metric_ids]
    points: list[MetricPoint] = []
    ready = ready_rollups(events) if rollups else frozenset()
    for q in build_queries(metrics, s, ready):
        for row in _run(events, q).to_pylist():
            group = {k: row[k] for k in q.group_columns if k != "bucket"}
            for m in q.metrics:
                est = estimate(m, row)
                if m.source == "turns" and q.group_columns and not est.n:
                    continue
                points.append(
                    MetricPoint(
                        metric=m.id,
                        bucket=row.get("bucket"),
                        group=group,
                        value=est.value,
                        n=est.n,
                        lo=est.lo,
                        hi=est.hi,
                    )
                )
    order = {m: i for i, m in enumerate(metric_ids)}
    points.sort(
        key=lambda p: (
            order[p.metric],
            p.bucket or datetime.min.replace(tzinfo=UTC),
            # A group value may be null (no journey, no such segment): nulls sort last.
            [(k, v is None, str(v)) for k, v in sorted(p.group.items())],
        )
    )
    return points


def totals(
    events: EventStore, metric_ids: Sequence[str], s: Slice, *, rollups: bool = True
) -> dict[str, calc.Estimate]:
    """One estimate per metric over the whole slice (no bucket, no group-by)."""
    flat = replace(s, bucket=None, group_by=())
    out: dict[str, calc.Estimate] = {}
    metrics = [get_metric(m) for m in metric_ids]
    ready = ready_rollups(events) if rollups else frozenset()
    for q in build_queries(metrics, flat, ready):
        rows = _run(events, q).to_pylist()
        row = rows[0] if rows else {}
        for m in q.metrics:
            out[m.id] = estimate(m, row)
    return out


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


def baseline_window(
    deployment: DeploymentPublic | None, first_data: datetime | None
) -> tuple[datetime, datetime] | None:
    """The baseline window: configured, or the 14 full days after the first week."""
    if deployment and deployment.baseline_start:
        start = _midnight(deployment.baseline_start)
        end = (
            _midnight(deployment.baseline_end)
            if deployment.baseline_end
            else start + BASELINE_LENGTH
        )
        return start, end
    origin = deployment.go_live if deployment and deployment.go_live else None
    if origin is None and first_data is None:
        return None
    day0 = origin or first_data.date()  # type: ignore[union-attr]
    start = _midnight(day0) + BASELINE_OFFSET
    return start, start + BASELINE_LENGTH


def summaries(
    events: EventStore,
    metric_ids: Sequence[str],
    s: Slice,
    deployment: DeploymentPublic | None,
    first_data: datetime | None,
) -> list[MetricSummary]:
    """Each metric over the slice, with deltas vs the previous period and the baseline."""
    length = s.end - s.start
    current = totals(events, metric_ids, s)
    previous = totals(events, metric_ids, replace(s, start=s.start - length, end=s.start))
    window = baseline_window(deployment, first_data)
    base = totals(events, metric_ids, replace(s, start=window[0], end=window[1])) if window else {}
    imported = deployment.baseline_values if deployment else {}
    targets = deployment.targets if deployment else {}
    out: list[MetricSummary] = []
    for mid in metric_ids:
        m = get_metric(mid)
        est = current[mid]
        prev = previous[mid].value
        baseline = imported.get(mid, base[mid].value if mid in base else None)
        target = targets.get(mid)
        out.append(
            MetricSummary(
                metric=mid,
                name=m.name,
                unit=m.unit,
                good=m.good,
                group=m.group,
                value=est.value,
                n=est.n,
                lo=est.lo,
                hi=est.hi,
                previous=prev,
                delta_previous=calc.delta(est.value, prev),
                baseline=baseline,
                delta_baseline=calc.delta(est.value, baseline),
                target=target,
                status=calc.target_status(est, target, m.good),
            )
        )
    return out


def displayed(points: Sequence[MetricPoint], currency: str | None) -> list[MetricPoint]:
    """``points`` with their unit and their value as every page shows it (``display``)."""
    out = []
    for p in points:
        unit = get_metric(p.metric).unit
        out.append(
            p.model_copy(update={"unit": unit, "display": fmt_value(p.value, unit, currency)})
        )
    return out
