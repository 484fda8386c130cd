"""The knowledge-gaps pages: what users ask that the assistant cannot handle, and how much."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from daytwo.deployments.service import overview
from daytwo.detect.gaps.schemas import GapPublic
from daytwo.detect.gaps.service import get_gap, last_run, list_gaps
from daytwo.http.access import Scope, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.scope import parse_scope
from daytwo.http.templating import templates

router = APIRouter(include_in_schema=False, dependencies=[requires(Scope.read)])

CHART_GAPS = 8
KIND_NAMES = {
    "new_intent": "new intent",
    "missing_knowledge": "missing knowledge",
    "misrouting": "misrouting",
}


def volume_spec(gaps: list[GapPublic]) -> dict[str, Any]:
    """Weekly utterances of the largest gaps, one line each (Vega-Lite)."""
    values = [
        {"week": w.week.isoformat(), "n": w.n, "gap": g.label}
        for g in gaps[:CHART_GAPS]
        for w in g.weekly
    ]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": "container",
        "height": 200,
        "data": {"values": values},
        "mark": {"type": "line", "point": {"size": 18, "filled": True}, "strokeWidth": 1.6},
        "encoding": {
            "x": {"field": "week", "type": "temporal", "title": None},
            "y": {"field": "n", "type": "quantitative", "title": "utterances a week"},
            "color": {"field": "gap", "type": "nominal", "title": None, "sort": None},
            "tooltip": [
                {"field": "gap", "type": "nominal"},
                {"field": "week", "type": "temporal", "title": "week of"},
                {"field": "n", "type": "quantitative", "title": "utterances"},
            ],
        },
        "config": {"view": {"stroke": None}, "legend": {"orient": "bottom", "columns": 2}},
    }


@router.get("/gaps", response_class=HTMLResponse)
def gaps_page(request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    deployments = overview(ledger, events)
    scope = parse_scope(request.query_params, deployments)
    context: dict[str, object] = {"scope": scope, "deployments": deployments, "kinds": KIND_NAMES}
    if scope is not None:
        gaps = list_gaps(ledger, events, scope.deployment)
        context.update(
            gaps=gaps,
            run=last_run(ledger, scope.deployment),
            utterances=sum(g.volume for g in gaps),
            spec=orjson.dumps(volume_spec(gaps)).decode() if gaps else None,
        )
    return templates.TemplateResponse(request, "gaps.html", context)


@router.get("/gaps/{gap_id}", response_class=HTMLResponse)
def gap_page(gap_id: str, request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    gap = get_gap(ledger, events, gap_id)
    deployments = overview(ledger, events)
    params = request.query_params.multi_items()
    query = dict(params)
    query["deployment"] = gap.deployment
    scope = parse_scope(type(request.query_params)(query), deployments)
    return templates.TemplateResponse(
        request,
        "gap.html",
        {
            "scope": scope,
            "deployments": deployments,
            "gap": gap,
            "kinds": KIND_NAMES,
            "spec": orjson.dumps(volume_spec([gap])).decode(),
        },
    )
