"""Conversation pages: the list behind any number, and a readable transcript."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from daytwo.conversations.service import search, transcript
from daytwo.deployments.service import overview
from daytwo.errors import InputError
from daytwo.http.access import Scope, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.scope import page_scope
from daytwo.http.templating import templates
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.views import dimension_values

router = APIRouter(include_in_schema=False, dependencies=[requires(Scope.read)])
PAGE_SIZE = 50


@router.get("/conversations", response_class=HTMLResponse)
def conversations_page(request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    deployments = granted(request, overview(ledger, events))
    scope = page_scope(request, deployments)
    context: dict[str, object] = {"scope": scope, "deployments": deployments}
    if scope is not None:
        metric = request.query_params.get("metric") or None
        text = (request.query_params.get("q") or "").strip() or None
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            raise InputError("page must be a whole number.") from None
        exact = request.query_params.get("exact") == "1"
        result = search(
            events,
            scope.slice(),
            metric=metric,
            text=text,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            exact_total=exact,
        )
        context.update(
            result=result,
            metric=REGISTRY.get(metric) if metric else None,
            q=text or "",
            page=page,
            pages=max(1, -(-result.total // PAGE_SIZE)),
            dimensions=dimension_values(events, scope.deployment),
        )
    return templates.TemplateResponse(request, "conversations.html", context)


@router.get("/conversations/{deployment}/{interaction_id:path}", response_class=HTMLResponse)
def transcript_page(
    deployment: str, interaction_id: str, request: Request, ledger: LedgerDep, events: EventsDep
) -> HTMLResponse:
    deployments = granted(request, overview(ledger, events))
    scope = page_scope(request, deployments)
    convo = transcript(events, deployment, interaction_id)
    return templates.TemplateResponse(
        request,
        "transcript.html",
        {"scope": scope, "deployments": deployments, "t": convo},
    )
