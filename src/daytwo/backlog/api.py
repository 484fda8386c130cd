"""`/api/v1/items`, `/api/v1/owners`, `/api/v1/routing-rules`: the backlog and who owns it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import StringConstraints

from daytwo.backlog import owners, service
from daytwo.backlog.calc import Priority, Status
from daytwo.backlog.intake import FindingFacts, absorb_finding, link_finding
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.raised import raised_findings
from daytwo.backlog.schemas import (
    Absorbed,
    AssignIn,
    CommentIn,
    DefaultOwnerSet,
    FindingIn,
    ItemCreate,
    ItemDetail,
    ItemPublic,
    ItemUpdate,
    MoveIn,
    OverdueRow,
    OwnerCreate,
    OwnerPublic,
    OwnerUpdate,
    RaisedFinding,
    Routed,
    RuleCreate,
    RulePublic,
)
from daytwo.http.access import Scope, check_deployments, granted, requires
from daytwo.http.deps import LedgerDep, SettingsDep
from daytwo.http.params import RowId
from daytwo.store.ledger import Ledger

API = "api"


def actor_of(request: Request) -> str:
    """Who is acting: the signed-in user or key when there is one, else ``api``."""
    principal = getattr(request.state, "principal", None)
    if principal is not None and getattr(principal, "name", None):
        return str(principal.name)
    user = getattr(request.state, "user", None)
    if user is None:
        return API
    for attr in ("handle", "username", "email", "name"):
        value = getattr(user, attr, None)
        if value:
            return str(value)
    return str(user)


def backlog_policy(settings: SettingsDep) -> BacklogPolicy:
    return BacklogPolicy.from_settings(settings)


PolicyDep = Annotated[BacklogPolicy, Depends(backlog_policy)]
ActorDep = Annotated[str, Depends(actor_of)]
READ = [requires(Scope.read)]
MANAGE = [requires(Scope.manage)]
FEEDBACK = [requires(Scope.feedback)]


def item_in_reach(request: Request, ledger: Ledger, item_id: RowId, scope: Scope) -> None:
    """Refuse an item of a deployment the requester has no ``scope`` on (403)."""
    check_deployments(request, scope, [service.deployment_of(ledger, item_id)])


items_router = APIRouter(prefix="/api/v1/items", tags=["items"])
owners_router = APIRouter(prefix="/api/v1/owners", tags=["owners"])
rules_router = APIRouter(prefix="/api/v1/routing-rules", tags=["owners"])


def facts(spec: FindingIn) -> FindingFacts:
    return FindingFacts(**spec.model_dump())


@items_router.get("", response_model=list[ItemPublic], summary="The backlog", dependencies=READ)
def list_items(
    request: Request,
    ledger: LedgerDep,
    deployment: Annotated[str | None, Query()] = None,
    owner: Annotated[str | None, Query(description="Owner handle.")] = None,
    priority: Annotated[Priority | None, Query(description="P1..P4")] = None,
    journey: Annotated[str | None, Query()] = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    overdue: Annotated[bool, Query(description="Only items past an SLA.")] = False,
    merged: Annotated[
        bool,
        Query(
            description="Also the items merged into another item's problem (closed as "
            "wont_fix, with merged_into set); left out by default."
        ),
    ] = False,
) -> list[ItemPublic]:
    """Items, highest score first (of the deployments the requester may see)."""
    rows = service.list_items(
        ledger, deployment=deployment, owner=owner, priority=priority, journey=journey,
        status=status_, overdue=overdue, include_merged=merged,
    )  # fmt: skip
    return granted(request, rows, "deployment")


@items_router.post(
    "",
    response_model=ItemPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Open a manual item",
    dependencies=MANAGE,
)
def create_item(
    request: Request, spec: ItemCreate, ledger: LedgerDep, policy: PolicyDep, actor: ActorDep
) -> ItemPublic:
    check_deployments(request, Scope.manage, [spec.deployment])
    return service.create_item(ledger, spec, policy, actor=actor)


@items_router.get(
    "/overdue", response_model=list[OverdueRow], summary="Overdue per owner", dependencies=READ
)
def overdue(
    request: Request, ledger: LedgerDep, deployment: Annotated[str | None, Query()] = None
) -> list[OverdueRow]:
    """Open items past their triage or fix SLA, grouped by owner."""
    rows = service.overdue_by_owner(ledger, deployment=deployment)
    shown = [r.model_copy(update={"items": granted(request, r.items, "deployment")}) for r in rows]
    return [r for r in shown if r.items]


@items_router.get(
    "/raised",
    response_model=list[RaisedFinding],
    summary="Problems of the loop itself",
    dependencies=READ,
)
def raised(
    request: Request, ledger: LedgerDep, deployment: Annotated[str | None, Query()] = None
) -> list[RaisedFinding]:
    """Unowned items, regressing changes, missed SLAs and unanswered feedback, as findings."""
    return [
        RaisedFinding(
            id=f.id,
            fingerprint=f.fingerprint,
            kind=f.kind,
            deployment=f.deployment,
            title=f.title,
            severity=f.severity,
            journey=f.journey,
            details=f.details,
        )
        for f in granted(request, raised_findings(ledger, deployment), "deployment")
    ]


@items_router.post(
    "/from-finding",
    response_model=Absorbed,
    summary="Open or update the item of a finding",
    dependencies=MANAGE,
)
def from_finding(
    request: Request, spec: FindingIn, ledger: LedgerDep, policy: PolicyDep, actor: ActorDep
) -> Absorbed:
    """A finding opens an item on first sight; seen again (same fingerprint) it updates it."""
    check_deployments(request, Scope.manage, [spec.deployment])
    item, created = absorb_finding(ledger, facts(spec), policy, actor=actor)
    return Absorbed(item=item, created=created)


@items_router.get(
    "/{item_id:int}", response_model=ItemDetail, summary="One item", dependencies=READ
)
def get_item(request: Request, item_id: RowId, ledger: LedgerDep) -> ItemDetail:
    item_in_reach(request, ledger, item_id, Scope.read)
    return service.get_item(ledger, item_id)


@items_router.patch(
    "/{item_id:int}", response_model=ItemPublic, summary="Edit title or text", dependencies=MANAGE
)
def update_item(
    request: Request, item_id: RowId, spec: ItemUpdate, ledger: LedgerDep, actor: ActorDep
) -> ItemPublic:
    item_in_reach(request, ledger, item_id, Scope.manage)
    return service.update_item(ledger, item_id, spec, actor=actor)


@items_router.post(
    "/{item_id:int}/move", response_model=ItemPublic, summary="Change status", dependencies=MANAGE
)
def move_item(
    request: Request,
    item_id: RowId,
    spec: MoveIn,
    ledger: LedgerDep,
    policy: PolicyDep,
    actor: ActorDep,
) -> ItemPublic:
    """Move along the workflow; illegal moves are a 409 naming the allowed ones."""
    item_in_reach(request, ledger, item_id, Scope.manage)
    return service.move_item(ledger, item_id, spec.status, policy, actor=actor, reason=spec.reason)


@items_router.post(
    "/{item_id:int}/assign", response_model=ItemPublic, summary="Change owner", dependencies=MANAGE
)
def assign_item(
    request: Request, item_id: RowId, spec: AssignIn, ledger: LedgerDep, actor: ActorDep
) -> ItemPublic:
    item_in_reach(request, ledger, item_id, Scope.manage)
    return service.assign_item(ledger, item_id, spec.owner, actor=actor, note=spec.note)


@items_router.post(
    "/{item_id:int}/comments",
    response_model=ItemDetail,
    status_code=status.HTTP_201_CREATED,
    summary="Comment",
    dependencies=FEEDBACK,
)
def comment(
    request: Request, item_id: RowId, spec: CommentIn, ledger: LedgerDep, actor: ActorDep
) -> ItemDetail:
    item_in_reach(request, ledger, item_id, Scope.feedback)
    return service.comment_item(ledger, item_id, spec.text, actor=actor)


@items_router.post(
    "/{item_id:int}/findings",
    response_model=ItemPublic,
    summary="Join a finding to this item",
    dependencies=MANAGE,
)
def join_finding(
    request: Request,
    item_id: RowId,
    spec: FindingIn,
    ledger: LedgerDep,
    policy: PolicyDep,
    actor: ActorDep,
) -> ItemPublic:
    item_in_reach(request, ledger, item_id, Scope.manage)
    return link_finding(ledger, item_id, facts(spec), policy, actor=actor)


# -- owners ----------------------------------------------------------------------------------


@owners_router.get("", response_model=list[OwnerPublic], summary="Owners", dependencies=READ)
def list_owners(ledger: LedgerDep) -> list[OwnerPublic]:
    return owners.list_owners(ledger)


@owners_router.post(
    "",
    response_model=OwnerPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add an owner",
    dependencies=MANAGE,
)
def create_owner(spec: OwnerCreate, ledger: LedgerDep, actor: ActorDep) -> OwnerPublic:
    return owners.create_owner(ledger, spec, actor=actor)


@owners_router.put(
    "/default/{deployment}",
    response_model=OwnerPublic,
    summary="Set a deployment's default owner",
    dependencies=MANAGE,
)
def set_default(
    deployment: str, spec: DefaultOwnerSet, ledger: LedgerDep, actor: ActorDep
) -> OwnerPublic:
    return owners.set_default_owner(ledger, deployment, spec.owner, actor=actor)


@owners_router.get("/{handle}", response_model=OwnerPublic, summary="One owner", dependencies=READ)
def get_owner(handle: str, ledger: LedgerDep) -> OwnerPublic:
    return owners.get_owner(ledger, handle)


@owners_router.patch(
    "/{handle}", response_model=OwnerPublic, summary="Edit an owner", dependencies=MANAGE
)
def update_owner(handle: str, spec: OwnerUpdate, ledger: LedgerDep, actor: ActorDep) -> OwnerPublic:
    return owners.update_owner(ledger, handle, spec, actor=actor)


# -- routing rules ---------------------------------------------------------------------------


@rules_router.get(
    "", response_model=list[RulePublic], summary="Routing rules in order", dependencies=READ
)
def list_rules(
    ledger: LedgerDep, deployment: Annotated[str, Query(description="Deployment name.")]
) -> list[RulePublic]:
    return owners.list_rules(ledger, deployment)


@rules_router.post(
    "",
    response_model=RulePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add a routing rule",
    dependencies=MANAGE,
)
def add_rule(spec: RuleCreate, ledger: LedgerDep, actor: ActorDep) -> RulePublic:
    """First match wins; a rule that could never match is refused."""
    return owners.add_rule(ledger, spec, actor=actor)


@rules_router.get("/route", response_model=Routed, summary="Who would own it", dependencies=READ)
def route(
    ledger: LedgerDep,
    deployment: Annotated[str, Query()],
    journey: Annotated[str | None, Query()] = None,
    kind: Annotated[str | None, Query(description="Finding kind.")] = None,
    segment: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[^:]+:")]] | None,
        Query(description="key:value, e.g. site:leeds"),
    ] = None,
) -> Routed:
    segments = dict(s.split(":", 1) for s in segment or [])
    return owners.route(ledger, deployment, journey, kind, segments)


@rules_router.delete(
    "/{rule_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a routing rule",
    dependencies=MANAGE,
)
def delete_rule(rule_id: RowId, ledger: LedgerDep, actor: ActorDep) -> None:
    owners.delete_rule(ledger, rule_id, actor=actor)
