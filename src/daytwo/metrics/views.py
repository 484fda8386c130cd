"""The overview page: is it healthy, and compared to what?"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from daytwo.deployments.schemas import DeploymentOverview, DeploymentPublic
from daytwo.deployments.service import get_deployment, overview
from daytwo.http.access import Scope as Access
from daytwo.http.access import granted, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.marks import ChangeMark, change_marks
from daytwo.http.scope import Scope, page_scope
from daytwo.http.templating import templates
from daytwo.http.timeline import Mark, timeline_of
from daytwo.metrics import rollup
from daytwo.metrics.catalog import GROUPS, METRICS, REGISTRY
from daytwo.metrics.charts import trend_spec
from daytwo.metrics.kinds import view_for
from daytwo.metrics.schemas import MetricPoint, MetricSummary
from daytwo.metrics.service import baseline_window, metric_points, summaries
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

router = APIRouter(include_in_schema=False, dependencies=[requires(Access.read)])

MAX_TREND_DAYS = 120


def registered(ledger: Ledger, dep: DeploymentOverview) -> DeploymentPublic | None:
    return get_deployment(ledger, dep.name) if dep.registered else None


def dimension_values(events: EventStore, deployment: str) -> dict[str, list[str]]:
    """Values offered by the pickers: journeys, channels and every segment key's values."""
    known = rollup.dimension_values(events, deployment)
    if known is not None:
        return known
    out: dict[str, list[str]] = {}
    for dim in ("journey", "channel"):
        rows = events.query(
            f"SELECT DISTINCT {dim} AS v FROM interactions "  # noqa: S608 - fixed names
            f"WHERE deployment = ? AND {dim} IS NOT NULL ORDER BY 1",
            [deployment],
        )
        out[dim] = [str(v) for v in rows["v"].to_pylist()]
    seg = events.query(
        "SELECT DISTINCT k, v FROM (SELECT unnest(map_keys(segments)) AS k, "
        "unnest(map_values(segments)) AS v FROM interactions WHERE deployment = ?) "
        "ORDER BY 1, 2",
        [deployment],
    ).to_pylist()
    for row in seg:
        out.setdefault(f"segment:{row['k']}", []).append(str(row["v"]))
    return out


def has_data(t: MetricSummary) -> bool:
    """Whether a metric has anything to show: a value now, before or at the baseline. A count
    of distinct things that is zero throughout (no agent ever named) is no data either."""
    values = [v for v in (t.value, t.previous, t.baseline) if v is not None]
    if REGISTRY[t.metric].kind == "distinct":
        return any(values)
    return bool(values)


def _by_day(points: list[MetricPoint], start: date, days: int) -> dict[str, list[float | None]]:
    series: dict[str, dict[date, float | None]] = {}
    for p in points:
        if p.bucket is not None:
            series.setdefault(p.metric, {})[p.bucket.date()] = p.value
    axis = [start + timedelta(days=i) for i in range(days)]
    return {m: [values.get(d) for d in axis] for m, values in series.items()}


@router.get("/overview", response_class=HTMLResponse)
def overview_page(request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    deployments = granted(request, overview(ledger, events))
    scope = page_scope(request, deployments)
    if scope is None:
        return templates.TemplateResponse(request, "overview.html", {"scope": None})
    dep_row = next(d for d in deployments if d.name == scope.deployment)
    dep = registered(ledger, dep_row)
    # Only what means something for this kind of deployment (see Metric.kinds).
    ids = [m.id for m in METRICS if m.applies_to(dep_row.kind)]
    all_tiles = summaries(events, ids, scope.slice(), dep, dep_row.first_started_at)
    # A metric the deployment has no data for at all is listed, never shown as 0.
    tiles = [t for t in all_tiles if has_data(t)]
    unmeasured = [t.name for t in all_tiles if t not in tiles]
    daily = metric_points(events, ids, replace(scope.slice(), bucket="day"))
    sparks = _by_day(daily, scope.start, scope.days)
    plan = timeline_of(ledger, scope.deployment)
    return templates.TemplateResponse(
        request,
        "overview.html",
        {
            "scope": scope,
            "deployments": deployments,
            "deployment": dep,
            "groups": [(g, [t for t in tiles if t.group == g]) for g in GROUPS],
            "sparks": sparks,
            "registry": REGISTRY,
            "dimensions": dimension_values(events, scope.deployment),
            "trends": _trends(
                events,
                scope,
                dep,
                dep_row,
                tiles,
                change_marks(request, scope.deployment, scope.filter_value("journey")),
                plan.marks if plan else None,
            ),
            "headline": [
                t for m in view_for(dep_row.kind).headline for t in tiles if t.metric == m
            ],
            "plan": plan.banner if plan else None,
            "unmeasured": unmeasured,
            "currency": dep.currency if dep else None,
        },
    )


def _trends(
    events: EventStore,
    scope: Scope,
    dep: DeploymentPublic | None,
    dep_row: DeploymentOverview,
    tiles: list[MetricSummary],
    changes: list[ChangeMark],
    marks: list[Mark] | None,
) -> list[dict[str, Any]]:
    first = dep_row.first_started_at.date() if dep_row.first_started_at else scope.start
    start = min(scope.end, max(first, scope.end - timedelta(days=MAX_TREND_DAYS - 1)))
    trend_scope = Scope(scope.deployment, start, scope.end, scope.filters)
    chosen = view_for(dep_row.kind).trends
    points = metric_points(events, list(chosen), replace(trend_scope.slice(), bucket="day"))
    window = baseline_window(dep, dep_row.first_started_at)
    summary = {t.metric: t for t in tiles}
    out = []
    for mid in (m for m in chosen if m in summary):
        metric = REGISTRY[mid]
        series = [p for p in points if p.metric == mid and p.value is not None]
        if not series:
            continue  # not measured for this deployment (e.g. latency of a human-only tool)
        spec = trend_spec(
            metric,
            series,
            baseline=summary[mid].baseline,
            baseline_window=(window[0].date(), window[1].date()) if window else None,
            target=summary[mid].target,
            go_live=dep.go_live if dep else None,
            currency=dep.currency if dep else None,
            changes=changes,
            marks=marks,
        )
        out.append({"metric": metric, "spec": orjson.dumps(spec).decode(), "summary": summary[mid]})
    return out


def scope_trends(
    request: Request,
    ledger: Ledger,
    events: EventStore,
    scope: Scope,
    dep_row: DeploymentOverview,
) -> list[dict[str, Any]]:
    """The trend charts of the deployment's kind within ``scope`` (a journey's page), each
    against its baseline and target, with the plan's phases and gates and the recorded changes
    to that scope marked."""
    dep = registered(ledger, dep_row)
    ids = list(view_for(dep_row.kind).trends)
    tiles = [
        t
        for t in summaries(events, ids, scope.slice(), dep, dep_row.first_started_at)
        if has_data(t)
    ]
    marks = change_marks(request, scope.deployment, scope.filter_value("journey"))
    plan = timeline_of(ledger, scope.deployment)
    return _trends(events, scope, dep, dep_row, tiles, marks, plan.marks if plan else None)


@router.get("/metrics", response_class=HTMLResponse)
def catalog_page(request: Request) -> HTMLResponse:
    """The metric catalog: every number's definition and formula."""
    return templates.TemplateResponse(
        request,
        "metrics.html",
        {"scope": None, "groups": [(g, [m for m in METRICS if m.group == g]) for g in GROUPS]},
    )
