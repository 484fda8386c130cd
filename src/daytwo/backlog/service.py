"""Improvement items: create, list, move through the workflow, assign, comment, reprioritise.

Every write goes through one function here and appends its history in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daytwo import clock
from daytwo.backlog import history
from daytwo.backlog.calc import (
    CLOSED_STATUSES,
    PRIORITIES,
    STATUSES,
    Signal,
    check_transition,
    compute_priority,
    sla_dues,
    sla_status,
)
from daytwo.backlog.models import Change, ChangeItem, Feedback, Item, ItemFinding, Owner
from daytwo.backlog.owners import owner_by_handle, registered_deployment, route_in
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import (
    FindingLink,
    ItemCreate,
    ItemDetail,
    ItemPublic,
    ItemUpdate,
    OverdueRow,
    SlaPublic,
)
from daytwo.clock import aware
from daytwo.errors import ConflictError, InputError, NotFoundError
from daytwo.governance.policies import redact_text
from daytwo.store.ledger import Deployment, Ledger


def now_utc() -> datetime:
    return clock.now()


# Set in ``session.info`` by a caller whose transaction changes no deployment (the intake of a
# run's findings): each deployment's cost model, read once there instead of once per item.
COST_MODELS = "daytwo_cost_models"


def cost_model_of(session: Session, deployment: str) -> dict[str, float]:
    kept: dict[str, dict[str, float]] | None = session.info.get(COST_MODELS)
    if kept is not None and deployment in kept:
        return kept[deployment]
    row = session.scalar(select(Deployment).where(Deployment.name == deployment))
    model = {k: float(v) for k, v in (row.cost_model if row else {}).items()}
    if kept is not None:
        kept[deployment] = model
    return model


def to_public(
    session: Session,
    item: Item,
    now: datetime | None = None,
    *,
    handles: Mapping[int, str] | None = None,
) -> ItemPublic:
    """``item`` as the API answers it; ``handles`` (owner id -> handle, read once for many
    items: :func:`owner_handles`) spares a read of its owner."""
    handle: str | None = None
    if item.owner_id is not None:
        if handles is not None and item.owner_id in handles:
            handle = handles[item.owner_id]
        else:
            owner = session.get(Owner, item.owner_id)
            handle = owner.handle if owner else None
    sla = sla_status(
        status=item.status,
        triage_due=aware(item.triage_due),
        fix_due=aware(item.fix_due),
        triaged_at=aware(item.triaged_at) if item.triaged_at else None,
        fix_shipped_at=aware(item.fix_shipped_at) if item.fix_shipped_at else None,
        now=now or now_utc(),
    )
    return ItemPublic(
        id=item.id,
        deployment=item.deployment,
        title=item.title,
        description=item.description,
        source=item.source,
        status=item.status,
        owner=handle,
        journey=item.journey,
        finding_kind=item.finding_kind,
        segments=dict(item.segments),
        priority=item.priority,
        score=item.score,
        breakdown=dict(item.breakdown),
        triage_due=aware(item.triage_due),
        fix_due=aware(item.fix_due),
        triaged_at=aware(item.triaged_at) if item.triaged_at else None,
        fix_shipped_at=aware(item.fix_shipped_at) if item.fix_shipped_at else None,
        closed_at=aware(item.closed_at) if item.closed_at else None,
        resolution=item.resolution,
        merged_into=item.merged_into,
        sla=SlaPublic(triage=sla.triage, fix=sla.fix, breached=sla.breached),
        created_by=item.created_by,
        created_at=aware(item.created_at),
        updated_at=aware(item.updated_at),
    )


def owner_handles(session: Session, items: Sequence[Item]) -> dict[int, str]:
    """Owner id -> handle of the owners of ``items``, in one read."""
    ids = sorted({i.owner_id for i in items if i.owner_id is not None})
    if not ids:
        return {}
    return dict(session.execute(select(Owner.id, Owner.handle).where(Owner.id.in_(ids))).all())


def get_row(session: Session, item_id: int) -> Item:
    row = session.get(Item, item_id)
    if row is None:
        raise NotFoundError(f"No item {item_id}.")
    return row


def apply_priority(
    session: Session,
    item: Item,
    signal: Signal,
    policy: BacklogPolicy,
    *,
    actor: str,
    why: str,
) -> None:
    """Score ``item`` from ``signal``; a changed priority is recorded and moves the SLA dues."""
    result = compute_priority(signal, cost_model_of(session, item.deployment), policy.priority)
    before = item.priority if item.id is not None else None
    item.signal = {k: v for k, v in asdict(signal).items() if v is not None}
    item.score = result.score
    item.breakdown = result.as_dict()
    if before != result.priority:
        item.priority = result.priority
        created = aware(item.created_at) if item.created_at else now_utc()
        item.triage_due, item.fix_due = sla_dues(result.priority, created, policy.sla)
        if before is not None:
            history.record(
                session, "item", item.id, actor, "priority", before=before,
                after=result.priority, note=why,
            )  # fmt: skip


def create_item(
    ledger: Ledger, spec: ItemCreate, policy: BacklogPolicy, *, actor: str
) -> ItemPublic:
    """A manual item: routed to its owner (or the one named), scored from its estimate."""
    with ledger.session() as session:
        dep = registered_deployment(session, spec.deployment)
        if spec.journey is not None and dep.journeys and spec.journey not in dep.journeys:
            raise InputError(f"{spec.deployment!r} has no journey {spec.journey!r}.")
        if spec.owner is not None:
            owner: Owner | None = owner_by_handle(session, spec.owner)
            reason = "named on creation"
        else:
            owner, routed = route_in(session, spec.deployment, spec.journey, None, spec.segments)
            reason = routed.reason
        if owner is None:
            raise InputError(
                f"No owner for this item: name one, or give {spec.deployment!r} a routing rule "
                "or a default owner."
            )
        now = now_utc()
        item = Item(
            deployment=spec.deployment,
            title=redact_text(session, spec.deployment, spec.title),
            description=redact_text(session, spec.deployment, spec.description or ""),
            source="manual",
            status="new",
            owner_id=owner.id,
            journey=spec.journey,
            segments=dict(spec.segments),
            created_by=actor,
            created_at=now,
        )
        signal = Signal(**spec.signal.model_dump())
        apply_priority(session, item, signal, policy, actor=actor, why="created")
        session.add(item)
        session.flush()
        history.record(session, "item", item.id, actor, "created", after=item.priority)
        history.record(session, "item", item.id, actor, "owner", after=owner.handle, note=reason)
        return to_public(session, item, now)


def list_items(
    ledger: Ledger,
    *,
    deployment: str | None = None,
    owner: str | None = None,
    priority: str | None = None,
    journey: str | None = None,
    status: str | None = None,
    overdue: bool = False,
    include_closed: bool = True,
    include_merged: bool = False,
    now: datetime | None = None,
) -> list[ItemPublic]:
    """Items, highest score first, filtered by any of the arguments.

    Items merged into another item's problem (closed, their findings moved to it) are left
    out unless ``include_merged``: they are not problems of their own."""
    if priority is not None and priority not in PRIORITIES:
        raise InputError(f"Unknown priority {priority!r}: use one of {', '.join(PRIORITIES)}.")
    if status is not None and status not in STATUSES:
        raise InputError(f"Unknown status {status!r}: use one of {', '.join(STATUSES)}.")
    with ledger.session() as session:
        query = select(Item)
        if deployment:
            query = query.where(Item.deployment == deployment)
        if owner:
            query = query.where(Item.owner_id == owner_by_handle(session, owner).id)
        if priority:
            query = query.where(Item.priority == priority)
        if journey:
            query = query.where(Item.journey == journey)
        if status:
            query = query.where(Item.status == status)
        elif not include_closed:
            query = query.where(Item.status.not_in(CLOSED_STATUSES))
        if not include_merged:
            query = query.where(Item.merged_into.is_(None))
        rows = session.scalars(query.order_by(Item.score.desc(), Item.id)).all()
        handles = owner_handles(session, rows)
        items = [to_public(session, r, now, handles=handles) for r in rows]
    if overdue:
        items = [i for i in items if i.sla.breached and i.status not in CLOSED_STATUSES]
    return items


def deployment_of(ledger: Ledger, item_id: int) -> str:
    """The deployment an item belongs to (404 for an unknown item)."""
    with ledger.session() as session:
        return get_row(session, item_id).deployment


def get_item(ledger: Ledger, item_id: int) -> ItemDetail:
    with ledger.session() as session:
        item = get_row(session, item_id)
        links = session.scalars(
            select(ItemFinding).where(ItemFinding.item_id == item_id).order_by(ItemFinding.id)
        ).all()
        changes = session.scalars(
            select(ChangeItem.change_id).where(ChangeItem.item_id == item_id)
        ).all()
        feedback = session.scalars(
            select(Feedback.id).where(Feedback.item_id == item_id).order_by(Feedback.id)
        ).all()
        merged = session.scalars(
            select(Item.id).where(Item.merged_into == item_id).order_by(Item.id)
        ).all()
        return ItemDetail(
            **to_public(session, item).model_dump(),
            findings=[
                FindingLink(
                    finding_id=f.finding_id,
                    fingerprint=f.fingerprint,
                    kind=f.kind,
                    snapshot=dict(f.snapshot),
                    linked_at=aware(f.linked_at),
                    updated_at=aware(f.updated_at),
                )
                for f in links
            ],
            history=history.events_of(session, "item", item_id),
            merged=list(merged),
            changes=sorted(changes),
            feedback=list(feedback),
        )


def update_item(ledger: Ledger, item_id: int, spec: ItemUpdate, *, actor: str) -> ItemPublic:
    with ledger.session() as session:
        item = get_row(session, item_id)
        for key, given in spec.model_dump(exclude_unset=True).items():
            value = redact_text(session, item.deployment, given) if given is not None else None
            if value is not None and getattr(item, key) != value:
                history.record(
                    session, "item", item.id, actor, key, before=str(getattr(item, key)),
                    after=str(value),
                )  # fmt: skip
                setattr(item, key, value)
        session.flush()
        return to_public(session, item)


def transition(
    session: Session,
    item: Item,
    target: str,
    policy: BacklogPolicy,
    *,
    actor: str,
    reason: str = "",
    now: datetime | None = None,
) -> None:
    """Move ``item`` to ``target`` if the workflow allows it, stamping the clocks."""
    check_transition(item.status, target, reason=reason)
    at = now or now_utc()
    before = item.status
    if target in ("triaged", "in_progress") and item.triaged_at is None:
        item.triaged_at = at
    if target == "fix_shipped":
        item.fix_shipped_at = at
    if target in CLOSED_STATUSES:
        item.closed_at = at
        item.resolution = reason or item.resolution
    if target == "reopened":
        # The fix clock starts again; the triage clock already ran. Reopened, it is an item
        # of its own again.
        item.merged_into = None
        item.closed_at = None
        item.fix_shipped_at = None
        item.fix_due = sla_dues(item.priority, at, policy.sla)[1]
    item.status = target
    item.updated_at = at
    history.record(session, "item", item.id, actor, "status", before=before, after=target,
                   note=reason)  # fmt: skip


def move_item(
    ledger: Ledger,
    item_id: int,
    target: str,
    policy: BacklogPolicy,
    *,
    actor: str,
    reason: str = "",
) -> ItemPublic:
    """Move an item; ``verified`` needs a linked change whose measured impact improved."""
    with ledger.session() as session:
        item = get_row(session, item_id)
        check_transition(item.status, target, reason=reason)
        if target == "verified":
            improved = session.scalar(
                select(Change.id)
                .join(ChangeItem, ChangeItem.change_id == Change.id)
                .where(ChangeItem.item_id == item_id, Change.verdict == "improved")
            )
            if improved is None:
                raise ConflictError(
                    "An item is verified by evidence: link a change whose measured impact is "
                    "'improved' (daytwo change impact) first."
                )
        reason = redact_text(session, item.deployment, reason)
        transition(session, item, target, policy, actor=actor, reason=reason)
        session.flush()
        return to_public(session, item)


def assign_item(
    ledger: Ledger, item_id: int, handle: str, *, actor: str, note: str = ""
) -> ItemPublic:
    with ledger.session() as session:
        item = get_row(session, item_id)
        owner = owner_by_handle(session, handle)
        if not owner.active:
            raise ConflictError(f"Owner {handle!r} is inactive.")
        if item.owner_id == owner.id:
            raise ConflictError(f"Item {item_id} is already owned by {handle!r}.")
        before = session.get(Owner, item.owner_id) if item.owner_id is not None else None
        item.owner_id = owner.id
        history.record(
            session, "item", item.id, actor, "owner", before=before.handle if before else None,
            after=owner.handle, note=redact_text(session, item.deployment, note),
        )  # fmt: skip
        session.flush()
        return to_public(session, item)


def comment_item(ledger: Ledger, item_id: int, text: str, *, actor: str) -> ItemDetail:
    with ledger.session() as session:
        item = get_row(session, item_id)
        note = redact_text(session, item.deployment, text)
        history.record(session, "item", item.id, actor, "comment", note=note)
    return get_item(ledger, item_id)


def overdue_by_owner(
    ledger: Ledger, *, deployment: str | None = None, now: datetime | None = None
) -> list[OverdueRow]:
    """Open items past an SLA, grouped by owner (unowned first), most urgent first."""
    items = list_items(ledger, deployment=deployment, overdue=True, now=now)
    groups: dict[str | None, list[ItemPublic]] = {}
    for item in items:
        groups.setdefault(item.owner, []).append(item)
    order = sorted(groups, key=lambda o: (o is not None, o or ""))
    return [OverdueRow(owner=o, items=groups[o]) for o in order]


def status_counts(items: list[ItemPublic]) -> Mapping[str, int]:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for item in items:
        counts[item.status] += 1
    return counts


def board(items: list[ItemPublic]) -> dict[str, list[ItemPublic]]:
    """Items by status column, in workflow order."""
    columns: dict[str, list[ItemPublic]] = {s: [] for s in STATUSES}
    for item in items:
        columns[item.status].append(item)
    return columns


def json_ready(value: Any) -> Any:
    """Snapshots stored as JSON: datetimes as ISO strings, tuples as lists."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def urgency_order(ledger: Ledger, deployments: Sequence[str]) -> list[str]:
    """``deployments``, the one with the most urgent open problem first: by the score of its
    highest-scoring item still open (P1 before P2...), then by name. Pages open on the first."""
    if not deployments:
        return []
    with ledger.session() as session:
        rows = session.execute(
            select(Item.deployment, func.max(Item.score))
            .where(Item.deployment.in_(list(deployments)))
            .where(Item.status.not_in(CLOSED_STATUSES))
            .group_by(Item.deployment)
        ).all()
    top = {name: float(score or 0.0) for name, score in rows}
    return sorted(deployments, key=lambda d: (-top.get(d, -1.0), d))
