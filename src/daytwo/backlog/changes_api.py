"""`/api/v1/changes`: the change registry and measured impact."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field

from daytwo.backlog import changes
from daytwo.backlog.api import MANAGE, READ, ActorDep, PolicyDep
from daytwo.backlog.schemas import ChangeCreate, ChangePublic, RowRef
from daytwo.http.access import Scope, check_deployments, current_principal, granted
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.params import RowId
from daytwo.store.ledger import Ledger

router = APIRouter(prefix="/api/v1/changes", tags=["changes"])


class ItemsIn(BaseModel):
    items: list[RowRef] = Field(description="The items this change fixes.")


def change_in_reach(request: Request, ledger: Ledger, change_id: RowId, scope: Scope) -> None:
    check_deployments(request, scope, [changes.get_change(ledger, change_id).deployment])


@router.get("", response_model=list[ChangePublic], summary="Changes", dependencies=READ)
def list_changes(
    request: Request, ledger: LedgerDep, deployment: Annotated[str | None, Query()] = None
) -> list[ChangePublic]:
    """Recorded changes, latest shipped first, with their verdicts."""
    return granted(request, changes.list_changes(ledger, deployment), "deployment")


@router.post(
    "",
    response_model=ChangePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Record a shipped change",
    dependencies=MANAGE,
)
def record_change(
    request: Request,
    spec: ChangeCreate,
    ledger: LedgerDep,
    events: EventsDep,
    policy: PolicyDep,
    actor: ActorDep,
    measure: Annotated[bool, Query(description="Measure its impact right away.")] = False,
) -> ChangePublic:
    """A CI/CD pipeline calls this on deploy; unknown journeys, metrics or items are a 4xx and
    nothing is stored."""
    check_deployments(request, Scope.manage, [spec.deployment])
    out = changes.record_change(ledger, events, spec, policy, actor=actor)
    if measure:
        out = changes.measure_impact(ledger, events, out.id, policy, actor=actor)
    return out


@router.post(
    "/impact",
    response_model=list[ChangePublic],
    summary="Measure every unsettled change now",
    dependencies=MANAGE,
)
def measure_unsettled(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    policy: PolicyDep,
    actor: ActorDep,
    deployment: Annotated[str | None, Query(description="Only this deployment's.")] = None,
) -> list[ChangePublic]:
    """Re-measure every change still pending or inconclusive (new data may settle it), of
    one deployment or of every deployment the requester manages."""
    if deployment:
        check_deployments(request, Scope.manage, [deployment])
    principal = current_principal(request)
    return changes.measure_all(
        ledger,
        events,
        policy,
        deployment=deployment,
        actor=actor,
        within=None if principal is None else principal.deployments,
    )


@router.get(
    "/{change_id:int}", response_model=ChangePublic, summary="One change", dependencies=READ
)
def get_change(request: Request, change_id: RowId, ledger: LedgerDep) -> ChangePublic:
    change_in_reach(request, ledger, change_id, Scope.read)
    return changes.get_change(ledger, change_id)


@router.post(
    "/{change_id:int}/impact",
    response_model=ChangePublic,
    summary="Measure impact now",
    dependencies=MANAGE,
)
def measure(
    request: Request,
    change_id: RowId,
    ledger: LedgerDep,
    events: EventsDep,
    policy: PolicyDep,
    actor: ActorDep,
) -> ChangePublic:
    """Difference in differences against the control with a bootstrap interval; the verdict
    verifies or reopens the linked items."""
    change_in_reach(request, ledger, change_id, Scope.manage)
    return changes.measure_impact(ledger, events, change_id, policy, actor=actor)


@router.post(
    "/{change_id:int}/items",
    response_model=ChangePublic,
    summary="Link items it fixes",
    dependencies=MANAGE,
)
def link_items(
    request: Request,
    change_id: RowId,
    spec: ItemsIn,
    ledger: LedgerDep,
    policy: PolicyDep,
    actor: ActorDep,
) -> ChangePublic:
    change_in_reach(request, ledger, change_id, Scope.manage)
    return changes.link_items(ledger, change_id, spec.items, policy, actor=actor)
