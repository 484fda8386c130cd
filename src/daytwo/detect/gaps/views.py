"""The knowledge-gaps pages: what users ask that the assistant cannot handle, and how much."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from daytwo.deployments.service import overview
from daytwo.detect.gaps.listing import gap_listing, get_gap, last_run
from daytwo.detect.gaps.schemas import GapPublic
from daytwo.http.access import Scope, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.scope import page_scope
from daytwo.http.templating import templates
from daytwo.http.timeline import timeline_of
from daytwo.metrics.charts import with_marks
from daytwo.store.ledger import Ledger

router = APIRouter(include_in_schema=False, dependencies=[requires(Scope.read)])

CHART_GAPS = 8
PER_PAGE = 25
KIND_NAMES = {
    "new_intent": "new intent",
    "missing_knowledge": "missing answer",
    "misrouting": "retrain intent",
    "off_topic": "off-topic",
}
SORT_NAMES = {
    "priority": "volume × growth",
    "volume": "volume",
    "growth": "growth",
    "recent": "last 7 days",
    "newest": "newest",
}


def volume_spec(gaps: list[GapPublic]) -> dict[str, Any]:
    """Weekly utterances of the largest gaps, one line each (Vega-Lite)."""
    values = [
        {"week": w.week.isoformat(), "n": w.n, "gap": g.label}
        for g in gaps[:CHART_GAPS]
        for w in g.weekly
    ]
    # the weeks as UTC dates, as their ISO strings in the data are read
    weeks = [
        {"year": w.year, "month": w.month, "date": w.day, "utc": True}
        for w in sorted({w.week for g in gaps[:CHART_GAPS] for w in g.weekly})
    ]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": "container",
        "height": 200,
        "data": {"values": values},
        "mark": {"type": "line", "point": {"size": 18, "filled": True}, "strokeWidth": 1.6},
        "encoding": {
            # a tick on each week's point, not Vega's daily ticks over a few weeks
            "x": {
                "field": "week",
                "type": "temporal",
                "title": None,
                "axis": {"format": "%d %b", "values": weeks, "labelOverlap": "greedy"},
            },
            "y": {"field": "n", "type": "quantitative", "title": "utterances a week"},
            "color": {"field": "gap", "type": "nominal", "title": None, "sort": None},
            "tooltip": [
                {"field": "gap", "type": "nominal"},
                {"field": "week", "type": "temporal", "title": "7 days from"},
                {"field": "n", "type": "quantitative", "title": "utterances"},
            ],
        },
        "config": {"view": {"stroke": None}, "legend": {"orient": "bottom", "columns": 2}},
    }


def _marked(ledger: Ledger, deployment: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The chart with the plan's phases and gates, where the deployment has a plan."""
    plan = timeline_of(ledger, deployment)
    return with_marks(spec, plan.marks, "week") if plan is not None else spec


@router.get("/gaps", response_class=HTMLResponse)
def gaps_page(request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    deployments = overview(ledger, events)
    scope = page_scope(request, deployments)
    context: dict[str, object] = {
        "scope": scope,
        "deployments": deployments,
        "kinds": KIND_NAMES,
        "sorts": SORT_NAMES,
    }
    if scope is not None:
        q = request.query_params
        filters: dict[str, str | None] = {
            "kind": q.get("kind") or None,
            "journey": q.get("gap_journey") or None,
            "search": (q.get("q") or "").strip() or None,
        }
        sort = q.get("sort") or "priority"
        try:
            page = max(1, int(q.get("page") or 1))
        except ValueError:
            page = 1
        listing = gap_listing(
            ledger,
            events,
            scope.deployment,
            kind=filters["kind"],
            journey=filters["journey"],
            search=filters["search"],
            sort=sort,
            page=page,
            per_page=PER_PAGE,
        )
        pages = max(1, -(-listing.total // PER_PAGE))

        def page_url(n: int) -> str:
            keep = {k: v for k, v in q.items() if k != "page" and v}
            return "/gaps?" + urlencode({**keep, "deployment": scope.deployment, "page": n})

        context.update(
            listing=listing,
            gaps=listing.gaps,
            filters={**filters, "sort": sort},
            pages=pages,
            page_url=page_url,
            run=last_run(ledger, scope.deployment),
            spec=orjson.dumps(_marked(ledger, scope.deployment, volume_spec(listing.gaps))).decode()
            if listing.gaps
            else None,
        )
    return templates.TemplateResponse(request, "gaps.html", context)


@router.get("/gaps/{gap_id}", response_class=HTMLResponse)
def gap_page(gap_id: str, request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    gap = get_gap(ledger, events, gap_id)
    deployments = overview(ledger, events)
    params = request.query_params.multi_items()
    query = dict(params)
    query["deployment"] = gap.deployment
    scope = page_scope(request, deployments, type(request.query_params)(query))
    return templates.TemplateResponse(
        request,
        "gap.html",
        {
            "scope": scope,
            "deployments": deployments,
            "gap": gap,
            "kinds": KIND_NAMES,
            "spec": orjson.dumps(_marked(ledger, gap.deployment, volume_spec([gap]))).decode(),
        },
    )
