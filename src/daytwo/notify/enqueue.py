"""Writing to the outbox: route an event to its recipients and write one row for each (in the
caller's transaction, so an alert's change and its messages are stored together), and the
messages that carry others (a group beyond a rate limit, a digest)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.models import Owner
from daytwo.errors import InputError
from daytwo.notify.calc import (
    AlertFacts,
    RouteMatch,
    ack_link,
    parse_quiet_hours,
    priority_rank,
    route_matches,
)
from daytwo.notify.models import Alert, Channel, Delivery, Preference, Route
from daytwo.notify.schemas import (
    AlertPayload,
    DocumentPayload,
    GroupedEvent,
    PayloadItem,
)
from daytwo.notify.service import channel_by_name
from daytwo.settings import Settings


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event of an alert, ready to route."""

    alert: Alert
    event: str
    idempotency_key: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    update: bool = False
    journey: str | None = None
    finding_kind: str | None = None
    item_status: str | None = None
    url: str | None = None  # the page to open when the alert is about no item


def payload_of(settings: Settings, spec: EventSpec, now: datetime) -> AlertPayload:
    alert = spec.alert
    base = settings.notify_public_url.rstrip("/")
    return AlertPayload(
        event=spec.event,
        idempotency_key=spec.idempotency_key,
        occurred_at=now,
        deployment=alert.deployment,
        alert_id=alert.id,
        update=spec.update,
        escalation_level=alert.escalation_level,
        summary=spec.summary,
        evidence=spec.evidence,
        item=PayloadItem(
            id=alert.item_id,
            title=alert.title,
            priority=alert.priority,
            owner=alert.owner,
            journey=spec.journey,
            finding_kind=spec.finding_kind,
            status=spec.item_status,
            url=f"{base}/backlog/{alert.item_id}" if alert.item_id else spec.url,
        ),
        acknowledge_url=(
            ack_link(base, settings.session_key(), alert.id)
            if alert.kind not in ("test", "grouped", "digest")
            else None
        ),
    )


def owner_contact(session: Session, handle: str | None) -> str | None:
    if handle is None:
        return None
    contact = session.scalar(select(Owner.contact).where(Owner.handle == handle))
    return contact.strip() if contact and "@" in contact and " " not in contact.strip() else None


Recipient = tuple[Channel, str | None, Preference | None, Route | None]


def _recipients(session: Session, spec: EventSpec) -> list[Recipient]:
    """Where an event goes: (channel, recipient override, the preference or the route that
    chose it)."""
    alert = spec.alert
    chosen: list[Recipient] = []
    pref = (
        session.scalar(select(Preference).where(Preference.owner == alert.owner))
        if alert.owner
        else None
    )
    escalation = spec.event == "alert.escalated"
    if escalation and alert.escalation_level == 1 and pref and pref.escalation_channel_id:
        channel = session.get(Channel, pref.escalation_channel_id)
        if channel is not None:
            chosen.append((channel, None, pref, None))
    elif not escalation and alert.owner:
        if pref is not None and pref.channel_id is not None:
            channel = session.get(Channel, pref.channel_id)
            if channel is not None:
                chosen.append((channel, None, pref, None))
        elif (contact := owner_contact(session, alert.owner)) is not None:
            # The owner directory's e-mail contact, through the first e-mail channel.
            mail = session.scalar(
                select(Channel).where(Channel.kind == "email", Channel.active.is_(True))
                .order_by(Channel.id).limit(1)
            )  # fmt: skip
            if mail is not None:
                chosen.append((mail, contact, pref, None))
    if not chosen or not escalation or alert.escalation_level > 1 or pref is None:
        facts = AlertFacts(
            alert.deployment, alert.owner, spec.event, alert.priority, spec.journey,
            spec.finding_kind,
        )  # fmt: skip
        routes = session.execute(
            select(Route, Channel).join(Channel, Channel.id == Route.channel_id).order_by(Route.id)
        ).all()
        for route, channel in routes:
            match = RouteMatch(
                route.deployment, route.owner, tuple(route.event_kinds), route.max_priority,
                route.journey, route.finding_kind,
            )  # fmt: skip
            if route_matches(match, facts):
                chosen.append((channel, None, None, route))
    seen: set[int] = set()
    unique: list[Recipient] = []
    for channel, recipient, why, chooser in chosen:
        if channel.active and channel.id not in seen:
            seen.add(channel.id)
            unique.append((channel, recipient, why, chooser))
    return unique


def enqueue(session: Session, settings: Settings, spec: EventSpec, *, now: datetime) -> int:
    """Route one event and write a pending delivery per channel (in the caller's transaction);
    returns how many were written. An owner's quiet hours hold all but P1 until they end."""
    payload = payload_of(settings, spec, now).model_dump(mode="json", by_alias=True)
    written = 0
    for channel, recipient, pref, route in _recipients(session, spec):
        exists = session.scalar(
            select(Delivery.id).where(
                Delivery.idempotency_key == spec.idempotency_key, Delivery.channel_id == channel.id
            )
        )
        if exists is not None:
            continue
        due = now
        status = "pending"
        urgent = spec.alert.priority == "P1" or spec.event == "alert.escalated"
        if pref is not None and pref.quiet_hours and spec.alert.priority != "P1":
            due = parse_quiet_hours(pref.quiet_hours, pref.timezone).ends_after(now)
        if pref is not None and pref.digest != "off" and not urgent:
            status = "digest"  # carried by the owner's next digest (daytwo.notify.digest)
        session.add(
            Delivery(
                alert_id=spec.alert.id, channel_id=channel.id,
                idempotency_key=spec.idempotency_key, event=spec.event, recipient=recipient,
                route_id=route.id if route is not None else None, payload=payload,
                status=status, attempts=0, next_attempt_at=due, created_at=now,
            )
        )  # fmt: skip
        written += 1
    session.flush()
    return written


def enqueue_document(
    session: Session, channel: str, doc: DocumentPayload, *, recipients: str | None, now: datetime
) -> int:
    """Write one pending delivery of ``doc`` to the e-mail channel named ``channel`` (in the
    caller's transaction, with whatever records the document); its id. Sent, retried and
    logged as every alert is; the same idempotency key is never written twice."""
    row = channel_by_name(session, channel)
    if row.kind != "email":
        raise InputError(f"channel {channel!r} is a {row.kind} channel: reports go by e-mail")
    exists = session.scalar(
        select(Delivery.id).where(
            Delivery.idempotency_key == doc.idempotency_key, Delivery.channel_id == row.id
        )
    )
    if exists is not None:
        return exists
    delivery = Delivery(
        alert_id=None, channel_id=row.id, idempotency_key=doc.idempotency_key,
        event="report.issued", recipient=recipients or None,
        payload=doc.model_dump(mode="json", by_alias=True), status="pending", attempts=0,
        next_attempt_at=now, created_at=now,
    )  # fmt: skip
    session.add(delivery)
    session.flush()
    return delivery.id


def carry(
    session: Session, settings: Settings, *, channel_id: int, recipient: str | None,
    rows: list[Delivery], now: datetime, event: str, title: str, summary: str,
    evidence: list[str] | None = None, owner: str | None = None, deployment: str | None = None,
) -> int:  # fmt: skip
    """One message (``grouped`` or ``digest``) that carries ``rows``, which are marked grouped
    into it; ``evidence`` comes before a line per carried event. Returns its outbox id."""
    payloads = [AlertPayload.model_validate(r.payload) for r in rows]
    urgent = min((p.item.priority for p in payloads), key=priority_rank, default="P4")
    deployments = sorted({p.deployment for p in payloads})
    if deployment is None:
        deployment = deployments[0] if len(deployments) == 1 else "(several)"
    alert = Alert(
        dedupe_key=f"{event}:{uuid.uuid4().hex}", deployment=deployment, item_id=None,
        kind=event, priority=urgent, title=title[:300], owner=owner, status="resolved",
        events=1, escalation_level=0, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(alert)
    session.flush()
    spec = EventSpec(
        alert=alert, event=event, idempotency_key=f"{event}-{alert.id}", summary=summary,
        evidence=[
            *(evidence or []),
            *(f"[{p.item.priority}] {p.event} · {p.deployment} · {p.summary}" for p in payloads),
        ],
    )  # fmt: skip
    payload = payload_of(settings, spec, now)
    payload.grouped = [
        GroupedEvent(
            idempotency_key=p.idempotency_key, alert_id=p.alert_id, event=p.event,
            deployment=p.deployment, priority=p.item.priority, title=p.item.title,
            summary=p.summary, url=p.item.url,
        )
        for p in payloads
    ]  # fmt: skip
    group = Delivery(
        alert_id=alert.id, channel_id=channel_id, idempotency_key=spec.idempotency_key,
        event=event, recipient=recipient,
        payload=payload.model_dump(mode="json", by_alias=True), status="pending", attempts=0,
        next_attempt_at=now, created_at=now,
    )  # fmt: skip
    session.add(group)
    session.flush()
    for row in rows:
        row.status = "grouped"
        row.grouped_into = group.id
        row.lease_until = None
    return group.id
