"""Alerts from the backlog: one problem, one alert; later events update it; P1 escalates.

Events are derived from the backlog's state rather than remembered from one run, so a run
whose notification step failed is caught up by the next: every open P1/P2 item without an
alert raises one, whatever run created it (the alert's unique ``dedupe_key`` keeps it to one).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog import history
from daytwo.backlog.calc import CLOSED_STATUSES, OPEN_STATUSES
from daytwo.backlog.models import Item, ItemFinding, Owner
from daytwo.backlog.service import owner_handles
from daytwo.clock import aware
from daytwo.errors import InputError, NotFoundError
from daytwo.notify.calc import priority_rank
from daytwo.notify.enqueue import EventSpec, enqueue
from daytwo.notify.models import Alert
from daytwo.notify.schemas import AlertPublic
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger

ALERT_PRIORITIES = ("P1", "P2")  # what is worth a message on its own
ESCALATION_LEVELS = 2  # the owner's escalation channel, then the deployment's admin routes


def evidence_lines(session: Session, item: Item) -> list[str]:
    lines: list[str] = []
    links = session.scalars(
        select(ItemFinding).where(ItemFinding.item_id == item.id).order_by(ItemFinding.updated_at)
    ).all()
    for link in links[-3:]:
        snap: dict[str, Any] = dict(link.snapshot)
        parts = [str(snap.get("title") or link.kind)]
        if snap.get("volume_per_week"):
            parts.append(f"{float(snap['volume_per_week']):,.0f} conversations a week")
        if snap.get("trend") and snap.get("trend") != "stable":
            parts.append(f"trend {snap['trend']}")
        lines.append(" · ".join(parts))
    if item.score:
        lines.append(f"priority score {item.score:.2f}")
    return lines


def owner_handle(session: Session, item: Item) -> str | None:
    if item.owner_id is None:
        return None
    return session.scalar(select(Owner.handle).where(Owner.id == item.owner_id))


def _spec(
    session: Session, alert: Alert, item: Item, event: str, key: str, summary: str, *,
    update: bool,
) -> EventSpec:  # fmt: skip
    return EventSpec(
        alert=alert, event=event, idempotency_key=key, summary=summary,
        evidence=evidence_lines(session, item), update=update, journey=item.journey,
        finding_kind=item.finding_kind, item_status=item.status,
    )  # fmt: skip


def sync_alerts(
    ledger: Ledger,
    settings: Settings,
    deployment: str,
    *,
    run_id: int | None = None,
    regressed: Iterable[str] = (),
    now: datetime | None = None,
) -> int:
    """Raise, update and resolve the deployment's alerts from its backlog; returns how many
    events were queued. Idempotent: run twice, it queues nothing the second time."""
    now = now or datetime.now(UTC)
    regressed = set(regressed)
    queued = 0
    window = timedelta(minutes=settings.notify_escalate_minutes)
    with ledger.session() as session:
        items = session.scalars(select(Item).where(Item.deployment == deployment)).all()
        alerts = {
            a.item_id: a
            for a in session.scalars(
                select(Alert).where(
                    Alert.deployment == deployment,
                    Alert.kind == "problem",
                    Alert.item_id.is_not(None),
                )
            )
        }
        # An item opened from a live alarm is told by that alarm's alert (one problem, one
        # alert): it raises no problem alert of its own.
        told_live = set(
            session.scalars(
                select(Alert.item_id).where(
                    Alert.deployment == deployment,
                    Alert.kind.in_(("traffic", "feed")),
                    Alert.item_id.is_not(None),
                )
            )
        )
        regressed_items = set(
            session.scalars(
                select(ItemFinding.item_id).where(ItemFinding.fingerprint.in_(regressed))
            ).all()
        ) if regressed else set()  # fmt: skip
        handles = owner_handles(session, items)  # the items' owners in one read
        for item in items:
            alert = alerts.get(item.id)
            owner = handles.get(item.owner_id) if item.owner_id is not None else None
            if alert is None:
                if (
                    item.status not in OPEN_STATUSES
                    or item.priority not in ALERT_PRIORITIES
                    or item.id in told_live
                ):
                    continue
                alert = Alert(
                    dedupe_key=f"item:{item.id}", deployment=deployment, item_id=item.id,
                    kind="problem", priority=item.priority, title=item.title[:300], owner=owner,
                    status="open", events=1, escalation_level=0,
                    escalate_at=now + window if item.priority == "P1" else None,
                    created_at=now, updated_at=now,
                )  # fmt: skip
                session.add(alert)
                session.flush()
                summary = f"A new {item.priority} problem on {deployment}: {item.title}."
                key = f"alert-{alert.id}.new"
                spec = _spec(session, alert, item, "problem.new", key, summary, update=False)
                queued += enqueue(session, settings, spec, now=now)
                continue
            events: list[tuple[str, str, str]] = []
            if item.id in regressed_items and run_id is not None:
                events.append(("problem.regressed", f"alert-{alert.id}.regressed.{run_id}",
                               f"{item.title} came back after it was resolved."))  # fmt: skip
                alert.status = "open"
            if priority_rank(item.priority) < priority_rank(alert.priority):
                was = alert.priority
                events.append((
                    "problem.priority_raised", f"alert-{alert.id}.priority.{item.priority}",
                    f"{item.title} is now {item.priority} (was {was}).",
                ))  # fmt: skip
                alert.priority = item.priority
                if item.priority == "P1" and alert.status == "open" and alert.escalate_at is None:
                    alert.escalate_at = now + window
            if item.status in CLOSED_STATUSES and alert.status != "resolved":
                events.append(("problem.resolved", f"alert-{alert.id}.resolved.{alert.events}",
                               f"{item.title} is {item.status.replace('_', ' ')}."))  # fmt: skip
                alert.status = "resolved"
                alert.escalate_at = None
            for event, key, summary in events:
                alert.events += 1
                alert.updated_at = now
                alert.owner = owner
                spec = _spec(session, alert, item, event, key, summary, update=True)
                queued += enqueue(session, settings, spec, now=now)
    return queued


def sync_all(ledger: Ledger, settings: Settings, *, now: datetime | None = None) -> int:
    """:func:`sync_alerts` for every deployment with items: catches items opened outside an
    analysis (by hand, from the API) and any analysis whose notification step failed."""
    with ledger.session() as session:
        deployments = list(session.scalars(select(Item.deployment).distinct()))
    return sum(sync_alerts(ledger, settings, d, now=now) for d in deployments)


def escalate_due(ledger: Ledger, settings: Settings, *, now: datetime | None = None) -> int:
    """Escalate every open P1 alert left unacknowledged past its window: first to the owner's
    escalation channel, then to the deployment's routes for ``alert.escalated``."""
    now = now or datetime.now(UTC)
    escalated = 0
    with ledger.session() as session:
        due = session.scalars(
            select(Alert).where(
                Alert.status == "open", Alert.escalate_at.is_not(None), Alert.escalate_at <= now
            )
        ).all()
        for alert in due:
            alert.escalation_level += 1
            alert.escalate_at = (
                now + timedelta(minutes=settings.notify_escalate_minutes)
                if alert.escalation_level < ESCALATION_LEVELS
                else None
            )
            item = session.get(Item, alert.item_id) if alert.item_id else None
            minutes = (now - aware(alert.created_at)).total_seconds() / 60
            summary = (
                f"Not acknowledged after {minutes:.0f} minutes: {alert.title} "
                f"(escalation level {alert.escalation_level})."
            )
            spec = EventSpec(
                alert=alert, event="alert.escalated",
                idempotency_key=f"alert-{alert.id}.escalated.{alert.escalation_level}",
                summary=summary, update=True,
                evidence=evidence_lines(session, item) if item else [],
                journey=item.journey if item else None,
                finding_kind=item.finding_kind if item else None,
                item_status=item.status if item else None,
            )  # fmt: skip
            enqueue(session, settings, spec, now=now)
            escalated += 1
    return escalated


def acknowledge(
    ledger: Ledger, alert_id: int, *, actor: str, via: str, now: datetime | None = None
) -> AlertPublic:
    """Record who acknowledged the alert and when (also in its item's history); stops its
    escalation. Acknowledging twice keeps the first acknowledgement."""
    now = now or datetime.now(UTC)
    with ledger.session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise NotFoundError(f"No alert {alert_id}.")
        if alert.status == "open":
            alert.status = "acknowledged"
            alert.acknowledged_at = now
            alert.acknowledged_by = actor
            alert.escalate_at = None
            alert.updated_at = now
            if alert.item_id is not None:
                history.record(
                    session, "item", alert.item_id, actor, "alert acknowledged",
                    after=f"alert {alert.id}", note=f"via {via}",
                )  # fmt: skip
        elif alert.status == "resolved" and alert.acknowledged_at is None:
            raise InputError(f"Alert {alert_id} is already resolved.")
        session.flush()
        return AlertPublic.model_validate(alert)


def list_alerts(
    ledger: Ledger, *, deployment: str | None = None, status: str | None = None, limit: int = 200
) -> list[AlertPublic]:
    with ledger.session() as session:
        query = (
            select(Alert)
            # test and grouped messages are in the delivery log only
            .where(Alert.kind.not_in(("test", "grouped", "digest")))
            # a live alarm told through its problem's alert is that alert's update
            .where(Alert.status != "merged")
            .order_by(Alert.updated_at.desc(), Alert.id.desc())
            .limit(limit)
        )
        if deployment:
            query = query.where(Alert.deployment == deployment)
        if status:
            query = query.where(Alert.status == status)
        return [AlertPublic.model_validate(a) for a in session.scalars(query)]


def get_alert(ledger: Ledger, alert_id: int) -> AlertPublic:
    with ledger.session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise NotFoundError(f"No alert {alert_id}.")
        return AlertPublic.model_validate(alert)
