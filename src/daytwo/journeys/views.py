"""Journeys pages: which call types work, and where each one breaks."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from daytwo.deployments.service import overview
from daytwo.http.access import Scope, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.marks import change_marks, journey_problems
from daytwo.http.scope import page_scope
from daytwo.http.templating import templates
from daytwo.journeys.service import (
    OUTCOME_ORDER,
    funnel,
    intents_at_fallback,
    journey_table,
    positions,
)
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.kinds import view_for
from daytwo.metrics.service import baseline_window
from daytwo.metrics.views import dimension_values, registered, scope_trends

router = APIRouter(include_in_schema=False, dependencies=[requires(Scope.read)])


@router.get("/journeys", response_class=HTMLResponse)
def journeys_page(request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    deployments = granted(request, overview(ledger, events))
    scope = page_scope(request, deployments)
    context: dict[str, object] = {"scope": scope, "deployments": deployments}
    if scope is not None:
        row = next(d for d in deployments if d.name == scope.deployment)
        dep = registered(ledger, row)
        view = view_for(row.kind)
        context.update(
            rows=journey_table(
                events,
                scope.with_filter("journey", None).slice(),
                view.journey_columns,
                trend_metric=view.journey_trend,
                baseline=baseline_window(dep, row.first_started_at),
                targets=dep.targets if dep else {},
            ),
            metrics=[REGISTRY[m] for m in view.journey_columns],
            trend_metric=REGISTRY[view.journey_trend],
            targets=dep.targets if dep else {},
            currency=dep.currency if dep else None,
            dimensions=dimension_values(events, scope.deployment),
        )
    return templates.TemplateResponse(request, "journeys.html", context)


@router.get("/journeys/{journey:path}", response_class=HTMLResponse)
def journey_page(
    journey: str, request: Request, ledger: LedgerDep, events: EventsDep
) -> HTMLResponse:
    deployments = granted(request, overview(ledger, events))
    base = page_scope(request, deployments)
    scope = base.with_filter("journey", journey) if base else None
    context: dict[str, object] = {"scope": scope, "deployments": deployments, "journey": journey}
    if scope is not None:
        row = next(d for d in deployments if d.name == scope.deployment)
        s = scope.slice()
        context.update(
            funnel=funnel(events, s),
            outcomes=OUTCOME_ORDER,
            fallback_positions=positions(events, s, "first_fallback_seq"),
            agent_positions=positions(events, s, "first_agent_seq"),
            intents=intents_at_fallback(events, s),
            dimensions=dimension_values(events, scope.deployment),
            trends=scope_trends(request, ledger, events, scope, row),
            problems=journey_problems(request, scope.deployment, journey),
            changes=change_marks(request, scope.deployment, journey),
        )
    return templates.TemplateResponse(request, "journey.html", context)
