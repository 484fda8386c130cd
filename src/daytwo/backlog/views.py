"""Pages of the loop: who owns what and how urgent (backlog), did it work (changes), what
people said and what was done (feedback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from daytwo.backlog import changes, feedback, owners, service, suspects
from daytwo.backlog.api import ActorDep, PolicyDep, item_in_reach
from daytwo.backlog.calc import CLOSED_STATUSES, PRIORITIES, STATUSES, TRANSITIONS
from daytwo.backlog.changes_api import change_in_reach
from daytwo.backlog.charts import daily_spec, estimate_spec
from daytwo.backlog.feedback_api import feedback_in_reach, reach
from daytwo.backlog.finding_views import open_items
from daytwo.backlog.raised import raised_findings
from daytwo.backlog.schemas import ChangeCreate, FeedbackCreate, ItemPublic
from daytwo.deployments.service import list_deployments
from daytwo.errors import DaytwoError
from daytwo.http.access import Scope, check_deployments, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.params import RowId
from daytwo.http.templating import templates
from daytwo.http.timeline import timeline_of
from daytwo.metrics.catalog import METRICS, REGISTRY
from daytwo.metrics.charts import with_marks
from daytwo.units import chart_scale

router = APIRouter(include_in_schema=False)
READ = [requires(Scope.read)]
MANAGE = [requires(Scope.manage)]
FEEDBACK = [requires(Scope.feedback)]
STATUS_ORDER: dict[str, int] = {s: n for n, s in enumerate(STATUSES)}
SORTS: dict[str, Callable[[ItemPublic], Any]] = {
    "score": lambda i: -i.score,
    "priority": lambda i: (i.priority, -i.score),
    "due": lambda i: (i.fix_due, -i.score),
    "created": lambda i: i.created_at,
    "status": lambda i: (STATUS_ORDER[i.status], -i.score),
}


def _back(path: str, **params: str | None) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=303)


def _opt(value: str | None) -> str | None:
    return value if value else None


@router.get("/backlog", response_class=HTMLResponse, dependencies=READ)
def backlog_page(
    request: Request,
    ledger: LedgerDep,
    deployment: str | None = None,
    owner: str | None = None,
    priority: str | None = None,
    journey: str | None = None,
    status: str | None = None,
    overdue: str | None = None,
    merged: str | None = None,
    view: str = "table",
    sort: str = "score",
    error: str | None = None,
) -> HTMLResponse:
    """The backlog as a sortable table or a board by status, filtered by the URL; items merged
    into another item's problem only when asked for (``merged=1``)."""
    filters = {
        "deployment": _opt(deployment),
        "owner": _opt(owner),
        "priority": _opt(priority),
        "journey": _opt(journey),
        "status": _opt(status),
    }
    try:
        items = service.list_items(
            ledger,
            deployment=filters["deployment"],
            owner=filters["owner"],
            priority=filters["priority"],
            journey=filters["journey"],
            status=filters["status"],
            overdue=overdue == "1",
            include_merged=merged == "1",
        )
    except DaytwoError as exc:
        items, error = [], exc.message
    items = granted(request, items, "deployment")
    items.sort(key=SORTS.get(sort, SORTS["score"]))
    every_item = granted(
        request,
        service.list_items(ledger, deployment=filters["deployment"], include_merged=True),
        "deployment",
    )
    all_items = [i for i in every_item if i.merged_into is None]
    late = [
        r.model_copy(update={"items": granted(request, r.items, "deployment")})
        for r in service.overdue_by_owner(ledger, deployment=filters["deployment"])
    ]
    late = [r for r in late if r.items]
    return templates.TemplateResponse(
        request,
        "backlog.html",
        {
            "scope": None,
            "items": items,
            "board": service.board(items),
            "filters": filters,
            "overdue": overdue == "1",
            "merged": merged == "1",
            "merged_count": len(every_item) - len(all_items),
            "view": "board" if view == "board" else "table",
            "sort": sort if sort in SORTS else "score",
            "owners": owners.list_owners(ledger),
            "deployments": [d.name for d in granted(request, list_deployments(ledger))],
            "journeys": sorted({i.journey for i in all_items if i.journey}),
            "priorities": PRIORITIES,
            "statuses": STATUSES,
            "closed_statuses": CLOSED_STATUSES,
            "counts": service.status_counts(all_items),
            "raised": granted(
                request, raised_findings(ledger, filters["deployment"]), "deployment"
            ),
            "overdue_rows": late,
            "overdue_count": sum(len(r.items) for r in late),
            "error": error,
            "query": request.url.query,
        },
    )


@router.get("/backlog/{item_id:int}", response_class=HTMLResponse, dependencies=READ)
def item_page(
    request: Request, item_id: RowId, ledger: LedgerDep, error: str | None = None
) -> HTMLResponse:
    """One item: the score formula with its numbers, evidence, history, changes, feedback."""
    item_in_reach(request, ledger, item_id, Scope.read)
    item = service.get_item(ledger, item_id)
    linked_changes = [changes.get_change(ledger, c) for c in item.changes]
    linked_feedback = [feedback.get_feedback(ledger, f) for f in item.feedback]
    return templates.TemplateResponse(
        request,
        "item.html",
        {
            "scope": None,
            "item": item,
            "moves": sorted(TRANSITIONS[item.status]),
            "owners": [o for o in owners.list_owners(ledger) if o.active],
            "changes": linked_changes,
            "feedback": linked_feedback,
            "suspects": suspects.item_suspects(ledger, item_id),
            "error": error,
        },
    )


@router.post("/backlog/{item_id:int}/move", dependencies=MANAGE)
def move_form(
    request: Request,
    item_id: RowId,
    ledger: LedgerDep,
    policy: PolicyDep,
    actor: ActorDep,
    status: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> RedirectResponse:
    try:
        item_in_reach(request, ledger, item_id, Scope.manage)
        service.move_item(ledger, item_id, status, policy, actor=actor, reason=reason)
    except DaytwoError as exc:
        return _back(f"/backlog/{item_id}", error=exc.message)
    return _back(f"/backlog/{item_id}")


@router.post("/backlog/{item_id:int}/assign", dependencies=MANAGE)
def assign_form(
    request: Request,
    item_id: RowId,
    ledger: LedgerDep,
    actor: ActorDep,
    owner: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
) -> RedirectResponse:
    try:
        item_in_reach(request, ledger, item_id, Scope.manage)
        service.assign_item(ledger, item_id, owner, actor=actor, note=note)
    except DaytwoError as exc:
        return _back(f"/backlog/{item_id}", error=exc.message)
    return _back(f"/backlog/{item_id}")


@router.post("/backlog/{item_id:int}/comment", dependencies=FEEDBACK)
def comment_form(
    request: Request,
    item_id: RowId,
    ledger: LedgerDep,
    actor: ActorDep,
    text: Annotated[str, Form()],
) -> RedirectResponse:
    try:
        item_in_reach(request, ledger, item_id, Scope.feedback)
        if not text.strip():
            return _back(f"/backlog/{item_id}", error="A comment needs some text.")
        service.comment_item(ledger, item_id, text.strip(), actor=actor)
    except DaytwoError as exc:
        return _back(f"/backlog/{item_id}", error=exc.message)
    return _back(f"/backlog/{item_id}")


# -- changes ---------------------------------------------------------------------------------


@router.get("/changes", response_class=HTMLResponse, dependencies=READ)
def changes_page(
    request: Request,
    ledger: LedgerDep,
    deployment: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    """Every recorded change with its verdict; a form records a new one."""
    rows = granted(request, changes.list_changes(ledger, _opt(deployment)), "deployment")
    open_items = [
        i
        for i in granted(
            request, service.list_items(ledger, deployment=_opt(deployment)), "deployment"
        )
        if i.status != "verified"
    ]
    return templates.TemplateResponse(
        request,
        "changes.html",
        {
            "scope": None,
            "changes": rows,
            "deployment": deployment or "",
            "deployments": [d.name for d in granted(request, list_deployments(ledger))],
            "items": open_items,
            "error": error,
            "units": {m.id: m.unit for m in METRICS},
        },
    )


@router.post("/changes", dependencies=MANAGE)
def record_form(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    policy: PolicyDep,
    actor: ActorDep,
    deployment: Annotated[str, Form()],
    kind: Annotated[str, Form()],
    title: Annotated[str, Form()],
    shipped_at: Annotated[str, Form()],
    author: Annotated[str, Form()] = "",
    journeys: Annotated[str, Form()] = "",
    control_journeys: Annotated[str, Form()] = "",
    metric: Annotated[str, Form()] = "containment_rate",
    rationale: Annotated[str, Form()] = "",
    items: Annotated[str, Form()] = "",
) -> RedirectResponse:
    def split(text: str) -> list[str]:
        return [p.strip() for p in text.split(",") if p.strip()]

    try:
        check_deployments(request, Scope.manage, [deployment])
        stamp = shipped_at if ("+" in shipped_at or shipped_at.endswith("Z")) else shipped_at + "Z"
        spec = ChangeCreate.model_validate(
            {
                "deployment": deployment,
                "kind": kind,
                "title": title,
                "author": author or actor,
                "shipped_at": stamp,
                "journeys": split(journeys),
                "control_journeys": split(control_journeys),
                "metric": metric,
                "rationale": rationale,
                "items": [int(i) for i in split(items)],
            }
        )
        out = changes.record_change(ledger, events, spec, policy, actor=actor)
        changes.measure_impact(ledger, events, out.id, policy, actor=actor)
    except DaytwoError as exc:
        return _back("/changes", deployment=deployment, error=exc.message)
    except ValueError as exc:
        first = str(exc).splitlines()
        return _back("/changes", deployment=deployment, error=" ".join(first[:3]))
    return _back(f"/changes/{out.id}")


@router.get("/changes/{change_id:int}", response_class=HTMLResponse, dependencies=READ)
def change_page(
    request: Request, change_id: RowId, ledger: LedgerDep, error: str | None = None
) -> HTMLResponse:
    """One change: its scope, control, verdict and the evidence charted."""
    change_in_reach(request, ledger, change_id, Scope.read)
    change = changes.get_change(ledger, change_id)
    metric = REGISTRY.get(change.metric)
    fmt = chart_scale(metric.unit).format if metric is not None else ",.2f"
    daily = daily_spec(change, fmt)
    plan = timeline_of(ledger, change.deployment)
    if daily is not None and plan is not None:
        daily = with_marks(daily, plan.marks, "day")
    est = estimate_spec(change)
    return templates.TemplateResponse(
        request,
        "change.html",
        {
            "scope": None,
            "change": change,
            "metric": metric,
            "daily": orjson.dumps(daily).decode() if daily else None,
            "estimate": orjson.dumps(est).decode() if est else None,
            "items": [service.get_item(ledger, i) for i in change.items],
            "linkable": [
                i for i in open_items(ledger, change.deployment) if i.id not in change.items
            ],
            "error": error,
        },
    )


@router.post("/changes/{change_id:int}/impact", dependencies=MANAGE)
def measure_form(
    request: Request,
    change_id: RowId,
    ledger: LedgerDep,
    events: EventsDep,
    policy: PolicyDep,
    actor: ActorDep,
) -> RedirectResponse:
    change_in_reach(request, ledger, change_id, Scope.manage)
    changes.measure_impact(ledger, events, change_id, policy, actor=actor)
    return _back(f"/changes/{change_id}")


# -- feedback --------------------------------------------------------------------------------


@router.get("/feedback", response_class=HTMLResponse, dependencies=READ)
def inbox(
    request: Request,
    ledger: LedgerDep,
    deployment: str | None = None,
    status: str | None = None,
    theme: str | None = None,
    source: str | None = None,
    overdue: str | None = None,
    error: str | None = None,
    sent: str | None = None,
    synced: str | None = None,
) -> HTMLResponse:
    """The feedback inbox: by theme, what is waiting and what is late; the agent form."""
    try:
        rows = feedback.list_feedback(
            ledger, deployment=_opt(deployment), status=_opt(status), theme=_opt(theme),
            source=_opt(source), overdue=overdue == "1", limit=300,
        )  # fmt: skip
    except DaytwoError as exc:
        rows, error = [], exc.message
    rows = granted(request, rows, "deployment")
    items: list[ItemPublic] = granted(
        request, service.list_items(ledger, deployment=_opt(deployment)), "deployment"
    )
    return templates.TemplateResponse(
        request,
        "feedback.html",
        {
            "scope": None,
            "rows": rows,
            "themes": feedback.themes(ledger, _opt(deployment), only=reach(request)),
            "filters": {
                "deployment": deployment or "",
                "status": status or "",
                "theme": theme or "",
                "source": source or "",
            },
            "overdue": overdue == "1",
            "deployments": [d.name for d in granted(request, list_deployments(ledger))],
            "items": [i for i in items if i.status not in ("verified", "wont_fix")],
            "error": error,
            "sent": sent,
            "synced": synced,
        },
    )


@router.post("/feedback", dependencies=FEEDBACK)
def report_form(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    policy: PolicyDep,
    actor: ActorDep,
    deployment: Annotated[str, Form()],
    text: Annotated[str, Form()],
    author: Annotated[str, Form()] = "",
    interaction_id: Annotated[str, Form()] = "",
    theme: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """An agent's friction report from the form."""
    try:
        check_deployments(request, Scope.feedback, [deployment])
        spec = FeedbackCreate(
            deployment=deployment,
            source="agent",
            kind="friction",
            text=text,
            author=author or None,
            interaction_id=interaction_id.strip() or None,
            theme=theme or None,
        )
        row = feedback.add_feedback(ledger, events, spec, policy, actor=actor)
    except DaytwoError as exc:
        return _back("/feedback", deployment=deployment, error=exc.message)
    return _back("/feedback", deployment=deployment, sent=str(row.id))


@router.post("/feedback/sync", dependencies=MANAGE)
def sync_form(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    policy: PolicyDep,
    deployment: Annotated[str, Form()],
) -> RedirectResponse:
    """Bring in the customer feedback that arrived with interactions."""
    try:
        check_deployments(request, Scope.manage, [deployment])
        done = feedback.sync_customer_feedback(ledger, events, deployment, policy)
    except DaytwoError as exc:
        return _back("/feedback", deployment=deployment, error=exc.message)
    return _back("/feedback", deployment=deployment, synced=str(done.added))


@router.post("/feedback/{feedback_id:int}/acknowledge", dependencies=MANAGE)
def ack_form(
    request: Request, feedback_id: RowId, ledger: LedgerDep, actor: ActorDep
) -> RedirectResponse:
    try:
        feedback_in_reach(request, ledger, feedback_id, Scope.manage)
        feedback.acknowledge(ledger, feedback_id, actor=actor)
    except DaytwoError as exc:
        return _back("/feedback", error=exc.message)
    return _back("/feedback")


@router.post("/feedback/{feedback_id:int}/link", dependencies=MANAGE)
def link_form(
    request: Request,
    feedback_id: RowId,
    ledger: LedgerDep,
    actor: ActorDep,
    item_id: Annotated[int, Form()],
) -> RedirectResponse:
    try:
        feedback_in_reach(request, ledger, feedback_id, Scope.manage)
        feedback.link_to_item(ledger, feedback_id, item_id, actor=actor)
    except DaytwoError as exc:
        return _back("/feedback", error=exc.message)
    return _back("/feedback")


@router.post("/feedback/{feedback_id:int}/close", dependencies=MANAGE)
def close_form(
    request: Request,
    feedback_id: RowId,
    ledger: LedgerDep,
    actor: ActorDep,
    resolution: Annotated[str, Form()],
) -> RedirectResponse:
    try:
        feedback_in_reach(request, ledger, feedback_id, Scope.manage)
        feedback.close_feedback(ledger, feedback_id, resolution, actor=actor)
    except DaytwoError as exc:
        return _back("/feedback", error=exc.message)
    return _back("/feedback")


@router.get("/feedback/you-said-we-did", response_class=HTMLResponse, dependencies=READ)
def you_said_we_did(
    request: Request, ledger: LedgerDep, deployment: str | None = None
) -> HTMLResponse:
    """For the floor: what people told us, and what we did about it."""
    return templates.TemplateResponse(
        request,
        "you_said_we_did.html",
        {
            "scope": None,
            "rows": feedback.you_said_we_did(ledger, _opt(deployment), only=reach(request)),
            "deployment": deployment or "",
        },
    )
