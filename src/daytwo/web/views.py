"""Web pages. Each page answers one question; this first one: how is each deployment doing,
and where is its most urgent problem?"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from daytwo.backlog.calc import CLOSED_STATUSES
from daytwo.backlog.schemas import ItemPublic
from daytwo.backlog.service import list_items
from daytwo.deployments.schemas import DeploymentOverview
from daytwo.deployments.service import get_deployment, overview
from daytwo.detect.service import count_findings, last_run
from daytwo.http.access import Scope, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.templating import STATIC_DIR, templates
from daytwo.metrics.kinds import view_for
from daytwo.metrics.query import Slice
from daytwo.metrics.schemas import MetricSummary
from daytwo.metrics.service import summaries
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

DOCS_OPENAPI_URL = "/api/docs/openapi-3.0.json"  # what the reference page reads

HEALTH_DAYS = 28
# The worst of these makes a deployment's health: a breach or an open P1 is "breached".
ORDER = ("breached", "at_risk", "on_target", "no_target", "no_data")

__all__ = ["STATIC_DIR", "router"]

router = APIRouter(include_in_schema=False)


@dataclass
class Health:
    """One deployment on the home page: its headline numbers, open problems, worst status."""

    deployment: DeploymentOverview
    currency: str | None = None
    start: str = ""
    end: str = ""
    headline: list[MetricSummary] = field(default_factory=list)
    open_items: Counter[str] = field(default_factory=Counter)
    overdue: int = 0
    urgent: ItemPublic | None = None
    open_findings: int = 0
    analysed_at: datetime | None = None
    status: str = "no_data"


def health(ledger: Ledger, events: EventStore, d: DeploymentOverview) -> Health:
    """The last :data:`HEALTH_DAYS` days of data against baseline and target, and the backlog."""
    out = Health(d)
    dep = get_deployment(ledger, d.name) if d.registered else None
    out.currency = dep.currency if dep else None
    if d.last_started_at is not None:
        end = d.last_started_at.date()
        start = end - timedelta(days=HEALTH_DAYS - 1)
        out.start, out.end = start.isoformat(), end.isoformat()
        s = Slice(
            d.name,
            datetime.combine(start, time(), tzinfo=UTC),
            datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
        )
        ids = list(view_for(d.kind).headline)
        out.headline = [
            t for t in summaries(events, ids, s, dep, d.first_started_at) if t.value is not None
        ]
    items = [i for i in list_items(ledger, deployment=d.name) if i.status not in CLOSED_STATUSES]
    out.open_items = Counter(i.priority for i in items)
    out.overdue = sum(1 for i in items if i.sla.breached)
    out.urgent = items[0] if items else None
    counts = count_findings(ledger, d.name)
    out.open_findings = counts.get("open", 0) + counts.get("regressed", 0)
    run = last_run(ledger, d.name)
    out.analysed_at = run.data_through if run else None
    statuses = [t.status for t in out.headline]
    if out.open_items.get("P1"):
        statuses.append("breached")
    elif out.open_items.get("P2"):
        statuses.append("at_risk")
    out.status = min(statuses, key=ORDER.index) if statuses else "no_data"
    return out


@router.get("/", response_class=HTMLResponse, dependencies=[requires(Scope.read)])
def home(request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    """Each deployment's health: headline numbers against baseline and target, its open
    problems by priority, the most urgent one, and a way into every page about it."""
    deployments = granted(request, overview(ledger, events))
    rows = [health(ledger, events, d) for d in deployments]
    rows.sort(
        key=lambda h: (
            ORDER.index(h.status),
            -(h.urgent.score if h.urgent else -1.0),
            h.deployment.name,
        )
    )
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "deployments": deployments,
            "rows": rows,
            "total_interactions": sum(d.interactions for d in deployments),
            "total_turns": sum(d.turns for d in deployments),
        },
    )


@router.get("/api/docs", response_class=HTMLResponse, dependencies=[requires(Scope.public)])
def api_docs(request: Request) -> HTMLResponse:
    """Interactive API reference (Swagger UI, vendored: works offline). It reads the 3.0 copy
    of the document (see :mod:`daytwo.http.openapi30`); clients read ``/api/openapi.json``."""
    return templates.TemplateResponse(
        request,
        "api_docs.html",
        {"openapi_url": DOCS_OPENAPI_URL, "document_url": request.app.openapi_url},
    )


@router.get(
    DOCS_OPENAPI_URL,
    include_in_schema=False,
    dependencies=[requires(Scope.public)],
)
def api_docs_document(request: Request) -> JSONResponse:
    """The OpenAPI document as 3.0, for the reference page's Swagger UI (built once per app)."""
    app = request.app
    document = getattr(app.state, "openapi30", None)
    if document is None:
        from daytwo.http.openapi30 import downgrade

        document = downgrade(app.openapi())
        document["info"]["description"] += (
            f"\n\nThis page reads an OpenAPI 3.0 copy of the document; clients and code "
            f"generators read the OpenAPI 3.1 original at [{app.openapi_url}]({app.openapi_url})."
        )
        app.state.openapi30 = document
    return JSONResponse(document)
