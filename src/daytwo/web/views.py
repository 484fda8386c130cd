"""Web pages. Each page answers one question; this first one: what is deployed, with what data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from daytwo.deployments.service import overview
from daytwo.http.access import Scope, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.templating import STATIC_DIR, templates

__all__ = ["STATIC_DIR", "router"]

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse, dependencies=[requires(Scope.read)])
def home(request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    deployments = granted(request, overview(ledger, events))
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "deployments": deployments,
            "total_interactions": sum(d.interactions for d in deployments),
            "total_turns": sum(d.turns for d in deployments),
        },
    )


@router.get("/api/docs", response_class=HTMLResponse, dependencies=[requires(Scope.public)])
def api_docs(request: Request) -> HTMLResponse:
    """Interactive API reference (Swagger UI, vendored: works offline)."""
    return templates.TemplateResponse(
        request, "api_docs.html", {"openapi_url": request.app.openapi_url}
    )
