"""The owner directory, routing rules and default owners: who owns what."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog import history
from daytwo.backlog.calc import RuleMatch, first_match
from daytwo.backlog.models import DefaultOwner, Owner, RoutingRule
from daytwo.backlog.schemas import (
    OwnerCreate,
    OwnerPublic,
    OwnerUpdate,
    Routed,
    RuleCreate,
    RulePublic,
)
from daytwo.errors import ConflictError, InputError, NotFoundError
from daytwo.store.ledger import Deployment, Ledger


def registered_deployment(session: Session, name: str) -> Deployment:
    row = session.scalar(select(Deployment).where(Deployment.name == name))
    if row is None:
        raise NotFoundError(f"No deployment named {name!r}: register it first.")
    return row


def owner_by_handle(session: Session, handle: str) -> Owner:
    row = session.scalar(select(Owner).where(Owner.handle == handle))
    if row is None:
        raise NotFoundError(f"No owner with handle {handle!r}.")
    return row


def create_owner(ledger: Ledger, spec: OwnerCreate, *, actor: str) -> OwnerPublic:
    with ledger.session() as session:
        if session.scalar(select(Owner.id).where(Owner.handle == spec.handle)) is not None:
            raise ConflictError(f"An owner with handle {spec.handle!r} already exists.")
        row = Owner(**spec.model_dump(), active=True)
        session.add(row)
        session.flush()
        history.record(session, "owner", row.id, actor, "created", after=row.handle)
        return OwnerPublic.model_validate(row)


def update_owner(ledger: Ledger, handle: str, spec: OwnerUpdate, *, actor: str) -> OwnerPublic:
    with ledger.session() as session:
        row = owner_by_handle(session, handle)
        for key, value in spec.model_dump(exclude_unset=True).items():
            before = getattr(row, key)
            if before != value:
                setattr(row, key, value)
                history.record(
                    session, "owner", row.id, actor, f"{key} changed", before=str(before),
                    after=str(value),
                )  # fmt: skip
        session.flush()
        return OwnerPublic.model_validate(row)


def list_owners(ledger: Ledger) -> list[OwnerPublic]:
    with ledger.session() as session:
        rows = session.scalars(select(Owner).order_by(Owner.handle)).all()
        return [OwnerPublic.model_validate(r) for r in rows]


def get_owner(ledger: Ledger, handle: str) -> OwnerPublic:
    with ledger.session() as session:
        return OwnerPublic.model_validate(owner_by_handle(session, handle))


def _rule_public(rule: RoutingRule, handle: str) -> RulePublic:
    return RulePublic(
        id=rule.id,
        deployment=rule.deployment,
        position=rule.position,
        owner=handle,
        journey=rule.journey,
        finding_kind=rule.finding_kind,
        segment_key=rule.segment_key,
        segment_value=rule.segment_value,
    )


def _rules(
    session: Session, deployment: str, *, active_only: bool = False
) -> list[tuple[RoutingRule, str]]:
    query = (
        select(RoutingRule, Owner.handle)
        .join(Owner, Owner.id == RoutingRule.owner_id)
        .where(RoutingRule.deployment == deployment)
    )
    if active_only:
        query = query.where(Owner.active.is_(True))
    rows = session.execute(query.order_by(RoutingRule.position, RoutingRule.id)).all()
    return [(r, h) for r, h in rows]


def _match(rule: RoutingRule) -> RuleMatch:
    return RuleMatch(rule.journey, rule.finding_kind, rule.segment_key, rule.segment_value)


def _shadows(earlier: RuleMatch, later: RuleMatch) -> bool:
    """``earlier`` matches everything ``later`` would: ``later`` can never win."""
    return all(
        getattr(earlier, f) is None or getattr(earlier, f) == getattr(later, f)
        for f in ("journey", "finding_kind", "segment_key", "segment_value")
    )


def add_rule(ledger: Ledger, spec: RuleCreate, *, actor: str) -> RulePublic:
    """Add a routing rule; refuse one that could never match."""
    key, value = (None, None)
    if spec.segment:
        key, _, value = spec.segment.partition(":")
        key, value = key.strip(), value.strip()
        if not key or not value:
            raise InputError(f"A segment condition looks like site:porto, not {spec.segment!r}.")
    with ledger.session() as session:
        dep = registered_deployment(session, spec.deployment)
        owner = owner_by_handle(session, spec.owner)
        if not owner.active:
            raise ConflictError(f"Owner {owner.handle!r} is inactive.")
        if spec.journey is not None and dep.journeys and spec.journey not in dep.journeys:
            raise InputError(
                f"The rule can never match: {spec.deployment!r} has no journey "
                f"{spec.journey!r} (journeys: {', '.join(dep.journeys)})."
            )
        existing = _rules(session, spec.deployment)
        position = len(existing) if spec.position is None else min(spec.position, len(existing))
        new = RuleMatch(spec.journey, spec.finding_kind, key, value)
        for rule, handle in existing[:position]:
            if _shadows(_match(rule), new):
                raise InputError(
                    f"The rule can never match: rule {rule.id} (owner {handle}, position "
                    f"{rule.position}) comes first and matches everything it would."
                )
        for rule, _ in existing[position:]:
            rule.position += 1
        row = RoutingRule(
            deployment=spec.deployment,
            position=position,
            owner_id=owner.id,
            journey=spec.journey,
            finding_kind=spec.finding_kind,
            segment_key=key,
            segment_value=value,
        )
        session.add(row)
        session.flush()
        history.record(
            session, "rule", row.id, actor, "created", after=f"{owner.handle} at {position}"
        )
        return _rule_public(row, owner.handle)


def list_rules(ledger: Ledger, deployment: str) -> list[RulePublic]:
    with ledger.session() as session:
        return [_rule_public(r, h) for r, h in _rules(session, deployment)]


def delete_rule(ledger: Ledger, rule_id: int, *, actor: str) -> None:
    with ledger.session() as session:
        row = session.get(RoutingRule, rule_id)
        if row is None:
            raise NotFoundError(f"No routing rule {rule_id}.")
        deployment, position = row.deployment, row.position
        session.delete(row)
        session.flush()
        for rule, _ in _rules(session, deployment):
            if rule.position > position:
                rule.position -= 1
        history.record(session, "rule", rule_id, actor, "deleted")


def set_default_owner(ledger: Ledger, deployment: str, handle: str, *, actor: str) -> OwnerPublic:
    with ledger.session() as session:
        registered_deployment(session, deployment)
        owner = owner_by_handle(session, handle)
        row = session.scalar(select(DefaultOwner).where(DefaultOwner.deployment == deployment))
        before = None
        if row is None:
            row = DefaultOwner(deployment=deployment, owner_id=owner.id)
            session.add(row)
        else:
            before_owner = session.get(Owner, row.owner_id)
            before = before_owner.handle if before_owner else None
            row.owner_id = owner.id
        session.flush()
        history.record(
            session, "owner", owner.id, actor, f"default owner of {deployment}", before=before,
            after=owner.handle,
        )  # fmt: skip
        return OwnerPublic.model_validate(owner)


def default_owner(ledger: Ledger, deployment: str) -> OwnerPublic | None:
    with ledger.session() as session:
        row = session.scalar(select(DefaultOwner).where(DefaultOwner.deployment == deployment))
        if row is None:
            return None
        return OwnerPublic.model_validate(session.get(Owner, row.owner_id))


def route_in(
    session: Session,
    deployment: str,
    journey: str | None,
    kind: str | None,
    segments: Mapping[str, str],
) -> tuple[Owner | None, Routed]:
    """The owner the rules give (first match wins), else the deployment's default owner."""
    active = _rules(session, deployment, active_only=True)
    hit = first_match([_match(r) for r, _ in active], journey, kind, segments)
    if hit is not None:
        rule, handle = active[hit]
        owner = session.get(Owner, rule.owner_id)
        return owner, Routed(owner=handle, rule_id=rule.id, reason=f"rule {rule.id} matched")
    default = session.scalar(select(DefaultOwner).where(DefaultOwner.deployment == deployment))
    if default is not None:
        owner = session.get(Owner, default.owner_id)
        if owner is not None and owner.active:
            return owner, Routed(
                owner=owner.handle, rule_id=None, reason="no rule matched: default owner"
            )
    return None, Routed(
        owner=None, rule_id=None, reason="no rule matched and the deployment has no default owner"
    )


def route(
    ledger: Ledger,
    deployment: str,
    journey: str | None = None,
    kind: str | None = None,
    segments: Mapping[str, str] | None = None,
) -> Routed:
    with ledger.session() as session:
        return route_in(session, deployment, journey, kind, segments or {})[1]
