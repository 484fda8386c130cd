"""Suspect changes of findings and items, and linking a change from the item's side.

- ``GET /api/v1/findings/{id}/suspects`` and ``GET /api/v1/items/{id}/suspects``: the recorded
  changes whose time and scope fit the problem's onset, ranked, each with its reason (see
  :mod:`daytwo.backlog.suspects`);
- ``POST /api/v1/items/{id}/changes``: link a change to the item (as ``POST
  /api/v1/changes/{id}/items`` does from the change's side); a change of another deployment is
  a 400 and nothing is linked.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from daytwo.backlog import changes, service, suspects
from daytwo.backlog.api import MANAGE, READ, ActorDep, PolicyDep, item_in_reach
from daytwo.backlog.schemas import ItemDetail
from daytwo.detect.service import get_finding
from daytwo.http.access import Scope, check_deployments
from daytwo.http.deps import LedgerDep
from daytwo.http.params import MAX_ROW_ID, RowId

router = APIRouter(prefix="/api/v1", tags=["changes"])


class ChangeLinkIn(BaseModel):
    change_id: int = Field(ge=1, le=MAX_ROW_ID)


@router.get(
    "/findings/{finding_id:int}/suspects",
    response_model=list[suspects.Suspect],
    summary="The changes that may have caused a finding",
    dependencies=READ,
)
def finding_suspects(
    request: Request, finding_id: RowId, ledger: LedgerDep
) -> list[suspects.Suspect]:
    check_deployments(request, Scope.read, [get_finding(ledger, finding_id).scope.deployment])
    return suspects.finding_suspects(ledger, finding_id)


@router.get(
    "/items/{item_id:int}/suspects",
    response_model=list[suspects.Suspect],
    summary="The changes that may have caused an item's problem",
    dependencies=READ,
)
def item_suspects(request: Request, item_id: RowId, ledger: LedgerDep) -> list[suspects.Suspect]:
    item_in_reach(request, ledger, item_id, Scope.read)
    return suspects.item_suspects(ledger, item_id)


@router.post(
    "/items/{item_id:int}/changes",
    response_model=ItemDetail,
    summary="Link a change that fixes this item",
    dependencies=MANAGE,
)
def link_change(
    request: Request,
    item_id: RowId,
    spec: ChangeLinkIn,
    ledger: LedgerDep,
    policy: PolicyDep,
    actor: ActorDep,
) -> ItemDetail:
    item_in_reach(request, ledger, item_id, Scope.manage)
    changes.link_items(ledger, spec.change_id, [item_id], policy, actor=actor)
    return service.get_item(ledger, item_id)
