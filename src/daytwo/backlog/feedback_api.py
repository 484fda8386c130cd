"""`/api/v1/feedback`: customer and agent feedback, and closing the loop."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status

from daytwo.backlog import feedback
from daytwo.backlog.api import FEEDBACK, MANAGE, READ, ActorDep, PolicyDep
from daytwo.backlog.schemas import (
    FeedbackAck,
    FeedbackClose,
    FeedbackCreate,
    FeedbackLinkIn,
    FeedbackPublic,
    FeedbackSource,
    FeedbackStatus,
    SyncResult,
    ThemeRow,
)
from daytwo.http.access import Scope, check_deployments, current_principal, granted
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.params import RowId
from daytwo.store.ledger import Ledger

router = APIRouter(prefix="/api/v1/feedback", tags=["feedback"])


def reach(request: Request) -> frozenset[str] | None:
    """The deployments the requester may see (None: every one)."""
    principal = current_principal(request)
    return frozenset() if principal is None else principal.deployments


def feedback_in_reach(request: Request, ledger: Ledger, feedback_id: RowId, scope: Scope) -> None:
    check_deployments(request, scope, [feedback.get_feedback(ledger, feedback_id).deployment])


@router.get("", response_model=list[FeedbackPublic], summary="Feedback inbox", dependencies=READ)
def list_feedback(
    request: Request,
    ledger: LedgerDep,
    deployment: Annotated[str | None, Query()] = None,
    status_: Annotated[FeedbackStatus | None, Query(alias="status")] = None,
    theme: Annotated[str | None, Query()] = None,
    source: Annotated[FeedbackSource | None, Query(description="customer or agent")] = None,
    overdue: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[FeedbackPublic]:
    rows = feedback.list_feedback(
        ledger, deployment=deployment, status=status_, theme=theme, source=source,
        overdue=overdue, limit=limit,
    )  # fmt: skip
    return granted(request, rows, "deployment")


@router.post(
    "",
    response_model=FeedbackPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Report feedback (agent friction, or a customer's)",
    dependencies=FEEDBACK,
)
def add_feedback(
    request: Request,
    spec: FeedbackCreate,
    ledger: LedgerDep,
    events: EventsDep,
    policy: PolicyDep,
    actor: ActorDep,
) -> FeedbackPublic:
    """Feedback naming an interaction that is not stored is a 404 and nothing is kept."""
    check_deployments(request, Scope.feedback, [spec.deployment])
    return feedback.add_feedback(ledger, events, spec, policy, actor=actor)


@router.get("/themes", response_model=list[ThemeRow], summary="By theme", dependencies=READ)
def themes(
    request: Request, ledger: LedgerDep, deployment: Annotated[str | None, Query()] = None
) -> list[ThemeRow]:
    return feedback.themes(ledger, deployment, only=reach(request))


@router.get("/you-said-we-did", summary="Closed-loop feedback", dependencies=READ)
def you_said_we_did(
    request: Request, ledger: LedgerDep, deployment: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    """What people said and what was done about it, newest first."""
    return [
        {"feedback": r["feedback"].model_dump(mode="json"), "item_title": r["item_title"]}
        for r in feedback.you_said_we_did(ledger, deployment, only=reach(request))
    ]


@router.post(
    "/sync",
    response_model=SyncResult,
    summary="Bring in customer feedback from interactions",
    dependencies=MANAGE,
)
def sync(
    ledger: LedgerDep,
    events: EventsDep,
    policy: PolicyDep,
    deployment: Annotated[str, Query()],
) -> SyncResult:
    return feedback.sync_customer_feedback(ledger, events, deployment, policy)


@router.get("/{feedback_id:int}", response_model=FeedbackPublic, summary="One", dependencies=READ)
def get_feedback(request: Request, feedback_id: RowId, ledger: LedgerDep) -> FeedbackPublic:
    feedback_in_reach(request, ledger, feedback_id, Scope.read)
    return feedback.get_feedback(ledger, feedback_id)


@router.post(
    "/{feedback_id:int}/acknowledge",
    response_model=FeedbackPublic,
    summary="Acknowledge",
    dependencies=MANAGE,
)
def acknowledge(
    request: Request,
    feedback_id: RowId,
    ledger: LedgerDep,
    actor: ActorDep,
    spec: FeedbackAck | None = None,
) -> FeedbackPublic:
    """Say it was heard (within the acknowledgement SLA); the optional note goes to history."""
    feedback_in_reach(request, ledger, feedback_id, Scope.manage)
    return feedback.acknowledge(ledger, feedback_id, actor=actor, note=spec.note if spec else "")


@router.post(
    "/{feedback_id:int}/link",
    response_model=FeedbackPublic,
    summary="Link to an item",
    dependencies=MANAGE,
)
def link(
    request: Request, feedback_id: RowId, spec: FeedbackLinkIn, ledger: LedgerDep, actor: ActorDep
) -> FeedbackPublic:
    feedback_in_reach(request, ledger, feedback_id, Scope.manage)
    return feedback.link_to_item(ledger, feedback_id, spec.item_id, actor=actor)


@router.post(
    "/{feedback_id:int}/close",
    response_model=FeedbackPublic,
    summary="Close with what was done",
    dependencies=MANAGE,
)
def close(
    request: Request, feedback_id: RowId, spec: FeedbackClose, ledger: LedgerDep, actor: ActorDep
) -> FeedbackPublic:
    feedback_in_reach(request, ledger, feedback_id, Scope.manage)
    return feedback.close_feedback(ledger, feedback_id, spec.resolution, actor=actor)
