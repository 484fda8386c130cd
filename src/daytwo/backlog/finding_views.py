"""A finding's own page, and linking changes to items from either side.

``/findings/{id}`` shows one problem as its owner needs it: what was found, where and since
when; the metric's daily trend with the onset and every recorded change marked; the
conversations behind it; what it explains (its symptoms) or what explains it (its root); the
backlog item it joined; and the suspect changes, ranked with their reasons, each linkable to the
item from here. The item's and the change's pages link the other way.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from daytwo.backlog import changes, service, suspects
from daytwo.backlog.api import ActorDep, PolicyDep, item_in_reach
from daytwo.backlog.calc import CLOSED_STATUSES
from daytwo.backlog.changes_api import change_in_reach
from daytwo.backlog.models import ItemFinding
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import ItemPublic
from daytwo.clock import aware
from daytwo.deployments.schemas import DeploymentPublic
from daytwo.deployments.service import currency_of, get_deployment
from daytwo.detect.schemas import FindingFilter, FindingPublic
from daytwo.detect.service import get_finding, list_findings
from daytwo.detect.views import evidence_url, value_formatter
from daytwo.errors import DaytwoError, InputError, NotFoundError
from daytwo.http.access import Scope, check_deployments, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.marks import ProblemLink, change_marks
from daytwo.http.params import MAX_ROW_ID, RowId
from daytwo.http.templating import templates
from daytwo.http.timeline import timeline_of
from daytwo.interactions.slice import Slice
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.charts import trend_spec
from daytwo.metrics.service import baseline_window, metric_points
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

router = APIRouter(include_in_schema=False)
READ = [requires(Scope.read)]
MANAGE = [requires(Scope.manage)]

# How much of the metric's history the chart shows before the onset, and the colour of the
# onset rule (the changes' marks have their own).
BEFORE_ONSET_DAYS = 42
ONSET_COLOUR = "#b3261e"


def item_of(ledger: Ledger, fingerprint: str) -> ItemPublic | None:
    """The backlog item a finding joined, if it joined one."""
    with ledger.session() as session:
        link = session.scalar(select(ItemFinding).where(ItemFinding.fingerprint == fingerprint))
        item_id = link.item_id if link is not None else None
    return service.get_item(ledger, item_id) if item_id is not None else None


def related(ledger: Ledger, f: FindingPublic) -> tuple[FindingPublic | None, list[FindingPublic]]:
    """What explains ``f`` (its root finding) and what it explains (its symptoms)."""
    same = list_findings(ledger, FindingFilter(deployment=f.scope.deployment, limit=1000))
    root_print = f.details.get("root")
    root = next((r for r in same if r.fingerprint == root_print), None) if root_print else None
    symptoms = [s for s in same if s.details.get("root") == f.fingerprint and s.id != f.id]
    return root, symptoms


def trend(request: Request, ledger: Ledger, events: EventStore, f: FindingPublic) -> str | None:
    """The finding's metric by day in its own cell (journey, segment), with the baseline, the
    target, the onset, the plan's phases and gates and the recorded changes marked; None when
    it has no catalog metric."""
    metric = REGISTRY.get(f.scope.metric or "")
    if metric is None:
        return None
    try:
        dep: DeploymentPublic | None = get_deployment(ledger, f.scope.deployment)
    except NotFoundError:
        dep = None  # data sent before the deployment was registered
    window = baseline_window(dep, None) if dep else None
    end = aware(f.last_seen)
    start = datetime.combine(f.first_seen.date() - timedelta(days=BEFORE_ONSET_DAYS), time(), UTC)
    if window is not None:
        start = min(start, window[0])  # the baseline band has its data beside it
    filters: list[tuple[str, tuple[str, ...]]] = []
    if f.scope.journey:
        filters.append(("journey", (f.scope.journey,)))
    for key, value in (f.scope.segment or {}).items():
        filters.append((key, (value,)))
    cut = Slice(f.scope.deployment, start, end, bucket="day", filters=tuple(filters))
    points = [p for p in metric_points(events, [metric.id], cut) if p.value is not None]
    if not points:
        return None
    spec = trend_spec(
        metric,
        points,
        baseline=f.baseline.value,
        baseline_window=(window[0].date(), window[1].date()) if window else None,
        target=dep.targets.get(metric.id) if dep else None,
        go_live=dep.go_live if dep else None,
        currency=dep.currency if dep else None,
        changes=change_marks(request, f.scope.deployment, f.scope.journey),
        marks=plan.marks if (plan := timeline_of(ledger, f.scope.deployment)) else None,
    )
    onset = f.first_seen.date().isoformat()
    spec.setdefault("layer", []).append(
        {
            "data": {"values": [{"day": onset, "label": "first seen"}]},
            "mark": {"type": "rule", "color": ONSET_COLOUR, "strokeDash": [4, 3]},
            "encoding": {
                "x": {"field": "day", "type": "temporal"},
                "tooltip": [
                    {"field": "label", "type": "nominal", "title": "finding"},
                    {"field": "day", "type": "temporal", "title": "day"},
                ],
            },
        }
    )
    return orjson.dumps(spec).decode()


@router.get("/findings/{finding_id:int}", response_class=HTMLResponse, dependencies=READ)
def finding_page(
    request: Request,
    finding_id: RowId,
    ledger: LedgerDep,
    events: EventsDep,
    error: str | None = None,
) -> HTMLResponse:
    """One finding: evidence, its trend with the onset and changes marked, conversations,
    root or symptoms, its item and the suspect changes."""
    f = get_finding(ledger, finding_id)
    check_deployments(request, Scope.read, [f.scope.deployment])
    root, symptoms = related(ledger, f)
    return templates.TemplateResponse(
        request,
        "finding.html",
        {
            "scope": None,
            "f": f,
            "root": root,
            "symptoms": symptoms,
            "item": item_of(ledger, f.fingerprint),
            "suspects": suspects.finding_suspects(ledger, finding_id),
            "spec": trend(request, ledger, events, f),
            "evidence_url": evidence_url(f),
            "fmt": value_formatter({f.scope.deployment: currency_of(ledger, f.scope.deployment)}),
            "metrics": REGISTRY,
            "error": error,
        },
    )


def _back(path: str, error: str | None = None) -> RedirectResponse:
    return RedirectResponse(
        path + (f"?{urlencode({'error': error})}" if error else ""), status_code=303
    )


def _link(
    request: Request,
    ledger: Ledger,
    policy: BacklogPolicy,
    actor: str,
    change_id: int,
    item_id: int,
) -> None:
    item_in_reach(request, ledger, item_id, Scope.manage)
    change_in_reach(request, ledger, change_id, Scope.manage)
    changes.link_items(ledger, change_id, [item_id], policy, actor=actor)


@router.post("/findings/{finding_id:int}/changes", dependencies=MANAGE)
def link_from_finding(
    request: Request,
    finding_id: RowId,
    ledger: LedgerDep,
    policy: PolicyDep,
    actor: ActorDep,
    change_id: Annotated[int, Form(ge=1, le=MAX_ROW_ID)],
) -> RedirectResponse:
    """Link a suspect change to the item the finding joined."""
    here = f"/findings/{finding_id}"
    try:
        f = get_finding(ledger, finding_id)
        check_deployments(request, Scope.manage, [f.scope.deployment])
        item = item_of(ledger, f.fingerprint)
        if item is None:
            raise InputError(
                f"Finding {finding_id} has not joined a backlog item yet, so there is nothing to "
                "link the change to: run the analysis (it takes findings into the backlog)."
            )
        _link(request, ledger, policy, actor, change_id, item.id)
    except DaytwoError as exc:
        return _back(here, exc.message)
    return _back(here)


@router.post("/backlog/{item_id:int}/changes", dependencies=MANAGE)
def link_from_item(
    request: Request,
    item_id: RowId,
    ledger: LedgerDep,
    policy: PolicyDep,
    actor: ActorDep,
    change_id: Annotated[int, Form(ge=1, le=MAX_ROW_ID)],
) -> RedirectResponse:
    """Link a change (a suspect, or any of the deployment's) to this item."""
    try:
        _link(request, ledger, policy, actor, change_id, item_id)
    except DaytwoError as exc:
        return _back(f"/backlog/{item_id}", exc.message)
    return _back(f"/backlog/{item_id}")


@router.post("/changes/{change_id:int}/items", dependencies=MANAGE)
def link_from_change(
    request: Request,
    change_id: RowId,
    ledger: LedgerDep,
    policy: PolicyDep,
    actor: ActorDep,
    item_id: Annotated[int, Form(ge=1, le=MAX_ROW_ID)],
) -> RedirectResponse:
    """Link an item of the change's deployment to this change."""
    try:
        _link(request, ledger, policy, actor, change_id, item_id)
    except DaytwoError as exc:
        return _back(f"/changes/{change_id}", exc.message)
    return _back(f"/changes/{change_id}")


def journey_problems(ledger: Ledger, deployment: str, journey: str) -> list[ProblemLink]:
    """The open items about a journey, most urgent first, then its open findings that are
    neither in one of those items nor symptoms of another (each links to its page)."""
    mine = [i for i in open_items(ledger, deployment) if i.journey == journey]
    items = [
        ProblemLink(
            kind="item",
            label=f"#{i.id} {i.title}",
            href=f"/backlog/{i.id}",
            level=i.priority,
            note=f"{i.status.replace('_', ' ')} · {i.owner or 'unowned'}",
        )
        for i in mine
    ]
    found = list_findings(
        ledger,
        FindingFilter(deployment=deployment, journey=journey, status=["open", "regressed"]),
    )
    prints = {f.fingerprint for f in found}
    with ledger.session() as session:
        in_items = set(
            session.scalars(
                select(ItemFinding.fingerprint).where(ItemFinding.item_id.in_([i.id for i in mine]))
            )
        )
    findings = [
        ProblemLink(
            kind="finding",
            label=f.title,
            href=f"/findings/{f.id}",
            level=f.severity,
            note=f"first seen {f.first_seen.strftime('%d %b')}",
        )
        for f in found
        if f.details.get("root") not in prints and f.fingerprint not in in_items
    ]
    return items + findings


def open_items(ledger: Ledger, deployment: str) -> list[ItemPublic]:
    """The items a change of ``deployment`` could fix (not closed), most urgent first."""
    rows = service.list_items(ledger, deployment=deployment)
    return sorted(
        (i for i in rows if i.status not in CLOSED_STATUSES), key=lambda i: (i.priority, -i.score)
    )


__all__ = ["journey_problems", "open_items", "router"]
