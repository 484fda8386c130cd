"""The outbox: every message is a row in the ledger before anything is sent.

An event is routed and written (:func:`enqueue`) in the transaction that records the alert's
change, so it cannot be lost between the two. :func:`deliver_due` claims a due row with a lease
(an atomic update: two workers never send the same row at once), sends it outside any
transaction, and records the attempt. A worker killed mid-send leaves the row leased; when the
lease runs out it is sent again with the same idempotency key, so a receiver drops the repeat.
A failure waits out a doubling backoff; after ``notify_max_attempts`` the row is dead, shown in
the delivery log and retryable.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from daytwo.backlog.models import Owner
from daytwo.errors import DaytwoError, InputError, NotFoundError
from daytwo.notify.calc import (
    AlertFacts,
    RouteMatch,
    ack_link,
    backoff,
    parse_quiet_hours,
    priority_rank,
    route_matches,
)
from daytwo.notify.channels import SendFailed, send, send_document
from daytwo.notify.models import Alert, Attempt, Channel, Delivery, Preference, Route
from daytwo.notify.schemas import (
    AlertPayload,
    AttemptPublic,
    DeliveryDetail,
    DeliveryPublic,
    DeliveryReport,
    DocumentPayload,
    GroupedEvent,
    PayloadItem,
)
from daytwo.notify.service import channel_by_name, resolve_target
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger

LEASE_MARGIN_S = 10.0  # beyond the channel's timeout before a claimed row may be taken again


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


def _payload(settings: Settings, spec: EventSpec, now: datetime) -> AlertPayload:
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


def _recipients(
    session: Session, spec: EventSpec
) -> list[tuple[Channel, str | None, Preference | None]]:
    """Where an event goes: (channel, recipient override, the preference that chose it)."""
    alert = spec.alert
    chosen: list[tuple[Channel, str | None, Preference | None]] = []
    pref = (
        session.scalar(select(Preference).where(Preference.owner == alert.owner))
        if alert.owner
        else None
    )
    escalation = spec.event == "alert.escalated"
    if escalation and alert.escalation_level == 1 and pref and pref.escalation_channel_id:
        channel = session.get(Channel, pref.escalation_channel_id)
        if channel is not None:
            chosen.append((channel, None, pref))
    elif not escalation and alert.owner:
        if pref is not None and pref.channel_id is not None:
            channel = session.get(Channel, pref.channel_id)
            if channel is not None:
                chosen.append((channel, None, pref))
        elif (contact := owner_contact(session, alert.owner)) is not None:
            # The owner directory's e-mail contact, through the first e-mail channel.
            mail = session.scalar(
                select(Channel).where(Channel.kind == "email", Channel.active.is_(True))
                .order_by(Channel.id).limit(1)
            )  # fmt: skip
            if mail is not None:
                chosen.append((mail, contact, pref))
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
                chosen.append((channel, None, None))
    seen: set[int] = set()
    unique = []
    for channel, recipient, why in chosen:
        if channel.active and channel.id not in seen:
            seen.add(channel.id)
            unique.append((channel, recipient, why))
    return unique


def enqueue(session: Session, settings: Settings, spec: EventSpec, *, now: datetime) -> int:
    """Route one event and write a pending delivery per channel (in the caller's transaction);
    returns how many were written. An owner's quiet hours hold all but P1 until they end."""
    payload = _payload(settings, spec, now).model_dump(mode="json", by_alias=True)
    written = 0
    for channel, recipient, pref in _recipients(session, spec):
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
                payload=payload, status=status, attempts=0, next_attempt_at=due,
                created_at=now,
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


def _due(now: datetime) -> object:
    return or_(
        and_(Delivery.status == "pending", Delivery.next_attempt_at <= now),
        and_(Delivery.status == "sending", Delivery.lease_until < now),
    )


def _claim(ledger: Ledger, delivery_id: int, now: datetime, lease_s: float) -> bool:
    with ledger.session() as session:
        result = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, _due(now))  # type: ignore[arg-type]
            .values(status="sending", lease_until=now + timedelta(seconds=lease_s))
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def deliver_due(
    ledger: Ledger, settings: Settings, *, now: datetime | None = None, limit: int = 100,
    only: int | None = None, stop: threading.Event | None = None,
) -> DeliveryReport:  # fmt: skip
    """Send what is due (at most ``limit`` rows), one at a time; never raises for a failed
    send: the failure is recorded and retried later. When ``stop`` is set the pass ends after
    the send in flight (what is left stays due for the next pass)."""
    now = now or datetime.now(UTC)
    report = DeliveryReport()
    server_key = settings.session_key()
    with ledger.session() as session:
        query = select(Delivery.id).where(_due(now)).order_by(Delivery.next_attempt_at).limit(limit)  # type: ignore[arg-type]
        if only is not None:
            query = select(Delivery.id).where(Delivery.id == only)
        ids = list(session.scalars(query))
    if only is None:
        ids = _within_limits(ledger, settings, ids, now)
    for delivery_id in ids:
        if stop is not None and stop.is_set():
            break
        with ledger.session() as session:
            row = session.get(Delivery, delivery_id)
            if row is None:
                continue
            channel = session.get(Channel, row.channel_id)
            assert channel is not None
            timeout = float(channel.config.get("timeout_s", 10.0))
            payload: AlertPayload | DocumentPayload
            if row.alert_id is None:  # a document (an issued report), not an alert
                thread_key = row.idempotency_key
                payload = DocumentPayload.model_validate(row.payload)
            else:
                alert = session.get(Alert, row.alert_id)
                thread_key = f"alert-{alert.id}.new" if alert else row.idempotency_key
                payload = AlertPayload.model_validate(row.payload)
            recipient = row.recipient
        # The lease runs from the claim, not the pass's start: a long pass must not hand
        # out leases that are already running out.
        lease_s = timeout + LEASE_MARGIN_S + max(0.0, (datetime.now(UTC) - now).total_seconds())
        if only is None and not _claim(ledger, delivery_id, now, lease_s):
            continue  # another worker has it, or it is no longer due
        if only is not None:
            _force_claim(ledger, delivery_id, now, lease_s)
        started = time.perf_counter()
        code: int | None = None
        error = ""
        try:
            target = resolve_target(channel, server_key)
            if isinstance(payload, DocumentPayload):
                code = send_document(target, payload, recipient=recipient)
            else:
                code = send(target, payload, recipient=recipient, thread_key=thread_key)
        except SendFailed as exc:
            code, error = exc.status_code, str(exc)
        except DaytwoError as exc:  # a secret that cannot be opened, an unset variable
            error = str(exc)
        elapsed = (time.perf_counter() - started) * 1000
        outcome = _record(ledger, settings, delivery_id, code, error, elapsed)
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def _sent_in_window(
    session: Session, channel_id: int, recipient: str | None, since: datetime
) -> int:
    """Messages this channel sent to ``recipient`` since ``since``, or is sending now."""
    same = and_(Delivery.channel_id == channel_id, _same_recipient(recipient))
    return int(
        session.scalar(
            select(func.count(Delivery.id)).where(
                same,
                or_(
                    and_(Delivery.status == "delivered", Delivery.delivered_at >= since),
                    Delivery.status == "sending",
                ),
            )
        )
        or 0
    )


def _same_recipient(recipient: str | None) -> ColumnElement[bool]:
    return Delivery.recipient.is_(None) if recipient is None else Delivery.recipient == recipient


def _within_limits(ledger: Ledger, settings: Settings, ids: list[int], now: datetime) -> list[int]:
    """Apply each channel's ``max_per_hour`` (per recipient) to the due rows ``ids``: what
    fits is sent one by one; beyond it the most urgent go one by one and the rest are carried
    by one grouped message (its own outbox row, retried like any other); when the hour is
    used up they wait until it frees a slot. Nothing is dropped. Returns the ids to send."""
    if not ids:
        return ids
    keep: list[int] = []
    with ledger.session() as session:
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(ids))).all()
        limits = {
            c.id: int(c.config["max_per_hour"])
            for c in session.scalars(
                select(Channel).where(Channel.id.in_({r.channel_id for r in rows}))
            )
            if c.config.get("max_per_hour")
        }
        held: dict[tuple[int, str | None], list[Delivery]] = {}
        for row in sorted(rows, key=lambda r: ids.index(r.id)):
            # A document (an issued report, no alert) is one message the reader asked for:
            # never held or grouped.
            alerting = row.alert_id is not None and row.event != "grouped"
            if row.channel_id in limits and alerting:
                held.setdefault((row.channel_id, row.recipient), []).append(row)
            else:
                keep.append(row.id)
        hour_ago = now - timedelta(hours=1)
        for (channel_id, recipient), due in held.items():
            limit = limits[channel_id]
            room = limit - _sent_in_window(session, channel_id, recipient, hour_ago)
            if len(due) <= room:
                keep += [r.id for r in due]
                continue
            if room <= 0:
                oldest = session.scalar(
                    select(func.min(Delivery.delivered_at)).where(
                        Delivery.channel_id == channel_id, _same_recipient(recipient),
                        Delivery.status == "delivered", Delivery.delivered_at >= hour_ago,
                    )
                )  # fmt: skip
                free = (aware_utc(oldest) if oldest else now) + timedelta(hours=1)
                for row in due:
                    row.next_attempt_at = max(aware_utc(row.next_attempt_at), free)
                continue
            due.sort(key=lambda r: (priority_rank(r.payload["item"]["priority"]), r.id))
            keep += [r.id for r in due[: room - 1]]
            rest = due[room - 1 :]
            group_id = carry(
                session, settings, channel_id=channel_id, recipient=recipient, rows=rest,
                now=now, event="grouped",
                title=f"{len(rest)} alerts held by a limit of {limit} messages an hour",
                summary=f"{len(rest)} alerts arrived beyond this channel's {limit} messages an "
                "hour; here they are together.",
            )  # fmt: skip
            keep.append(group_id)
    return keep


def aware_utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


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
    payload = _payload(settings, spec, now)
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


def _force_claim(ledger: Ledger, delivery_id: int, now: datetime, lease_s: float) -> None:
    with ledger.session() as session:
        row = session.get(Delivery, delivery_id)
        if row is not None:
            row.status = "sending"
            row.lease_until = now + timedelta(seconds=lease_s)


def _record(
    ledger: Ledger, settings: Settings, delivery_id: int, code: int | None, error: str,
    elapsed_ms: float,
) -> str:  # fmt: skip
    at = datetime.now(UTC)
    with ledger.session() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        row.attempts += 1
        row.lease_until = None
        session.add(
            Attempt(delivery_id=row.id, at=at, ok=not error, status_code=code, error=error[:2000],
                    duration_ms=round(elapsed_ms, 1))
        )  # fmt: skip
        if not error:
            row.status = "delivered"
            row.delivered_at = at
            row.last_error = ""
            return "delivered"
        row.last_error = error[:2000]
        if row.attempts >= settings.notify_max_attempts:
            row.status = "dead"
            return "dead"
        row.status = "pending"
        row.next_attempt_at = at + backoff(row.attempts)
        return "failed"


def retry(ledger: Ledger, delivery_id: int) -> DeliveryPublic:
    """Send a dead (or waiting) delivery again now, with a fresh allowance of attempts."""
    with ledger.session() as session:
        row = session.get(Delivery, delivery_id)
        if row is None:
            raise NotFoundError(f"No delivery {delivery_id}.")
        if row.status != "delivered":
            row.status = "pending"
            row.attempts = 0
            row.next_attempt_at = datetime.now(UTC)
            row.lease_until = None
        session.flush()
        return _public(row, _channel_name(session, row.channel_id))


def send_test(
    ledger: Ledger, settings: Settings, channel: str, *, actor: str, recipient: str | None = None
) -> DeliveryDetail:
    """Send a test message through ``channel`` now (through the outbox, so it is logged)."""
    now = datetime.now(UTC)
    with ledger.session() as session:
        row = channel_by_name(session, channel)
        alert = Alert(
            dedupe_key=f"test:{uuid.uuid4().hex}", deployment="(test)", item_id=None, kind="test",
            priority="P4", title=f"Test message from daytwo to {row.name}", owner=None,
            status="resolved", events=1, escalation_level=0, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(alert)
        session.flush()
        spec = EventSpec(
            alert=alert, event="test", idempotency_key=f"test-{alert.id}",
            summary=f"{actor} sent a test message: if you read this, {row.name} works.",
        )  # fmt: skip
        payload = _payload(settings, spec, now).model_dump(mode="json", by_alias=True)
        delivery = Delivery(
            alert_id=alert.id, channel_id=row.id, idempotency_key=spec.idempotency_key,
            event="test", recipient=recipient, payload=payload, status="pending", attempts=0,
            next_attempt_at=now, created_at=now,
        )  # fmt: skip
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    deliver_due(ledger, settings, only=delivery_id)
    return delivery_detail(ledger, delivery_id)


def _channel_name(session: Session, channel_id: int) -> str:
    return session.scalar(select(Channel.name).where(Channel.id == channel_id)) or "?"


def _public(row: Delivery, channel: str) -> DeliveryPublic:
    return DeliveryPublic(
        id=row.id, alert_id=row.alert_id, channel=channel, event=row.event,
        idempotency_key=row.idempotency_key, recipient=row.recipient, status=row.status,
        attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_error=row.last_error,
        created_at=row.created_at, delivered_at=row.delivered_at,
    )  # fmt: skip


def delivery_log(
    ledger: Ledger, *, status: str | None = None, alert_id: int | None = None, limit: int = 200
) -> list[DeliveryPublic]:
    with ledger.session() as session:
        query = (
            select(Delivery, Channel.name)
            .join(Channel, Channel.id == Delivery.channel_id)
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
            .limit(limit)
        )
        if status:
            query = query.where(Delivery.status == status)
        if alert_id is not None:
            query = query.where(Delivery.alert_id == alert_id)
        return [_public(d, name) for d, name in session.execute(query).all()]


def delivery_detail(ledger: Ledger, delivery_id: int) -> DeliveryDetail:
    with ledger.session() as session:
        row = session.get(Delivery, delivery_id)
        if row is None:
            raise NotFoundError(f"No delivery {delivery_id}.")
        attempts = session.scalars(
            select(Attempt).where(Attempt.delivery_id == row.id).order_by(Attempt.id)
        ).all()
        return DeliveryDetail(
            **_public(row, _channel_name(session, row.channel_id)).model_dump(),
            log=[AttemptPublic.model_validate(a) for a in attempts],
        )
