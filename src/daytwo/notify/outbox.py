"""The outbox: every message is a row in the ledger before anything is sent.

An event is routed and written (:mod:`daytwo.notify.enqueue`) in the transaction that records
the alert's change, so it cannot be lost between the two. :func:`deliver_due` claims a due row
with a lease (an atomic update: two workers never send the same row at once), sends it outside
any transaction, and records the attempt. A worker killed mid-send leaves the row leased; when
the lease runs out it is sent again with the same idempotency key, so a receiver drops the
repeat. A failure waits out a doubling backoff; after ``notify_max_attempts`` the row is dead,
shown in the delivery log and retryable.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from daytwo.errors import DaytwoError, NotFoundError
from daytwo.notify.calc import backoff
from daytwo.notify.channels import SendFailed, send, send_document
from daytwo.notify.enqueue import (
    EventSpec,
    payload_of,
)
from daytwo.notify.limits import within_limits
from daytwo.notify.models import Alert, Attempt, Channel, Delivery
from daytwo.notify.schemas import (
    AlertPayload,
    AttemptPublic,
    DeliveryDetail,
    DeliveryPublic,
    DeliveryReport,
    DocumentPayload,
)
from daytwo.notify.service import channel_by_name, resolve_target
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger

LEASE_MARGIN_S = 10.0  # beyond the channel's timeout before a claimed row may be taken again


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
    opened = time.perf_counter()  # the pass's clock runs from ``now``, real or given
    report = DeliveryReport()
    server_key = settings.session_key()
    with ledger.session() as session:
        query = select(Delivery.id).where(_due(now)).order_by(Delivery.next_attempt_at).limit(limit)  # type: ignore[arg-type]
        if only is not None:
            query = select(Delivery.id).where(Delivery.id == only)
        ids = list(session.scalars(query))
    if only is None:
        ids = within_limits(ledger, settings, ids, now)
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
        at = now + timedelta(seconds=time.perf_counter() - opened)
        outcome = _record(ledger, settings, delivery_id, code, error, elapsed, at)
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def _force_claim(ledger: Ledger, delivery_id: int, now: datetime, lease_s: float) -> None:
    with ledger.session() as session:
        row = session.get(Delivery, delivery_id)
        if row is not None:
            row.status = "sending"
            row.lease_until = now + timedelta(seconds=lease_s)


def _record(
    ledger: Ledger, settings: Settings, delivery_id: int, code: int | None, error: str,
    elapsed_ms: float, at: datetime,
) -> str:  # fmt: skip
    """Record one attempt made at ``at`` (on the pass's clock, so the next attempt is due
    relative to the time the pass was run for, not the wall clock of the machine)."""
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
        payload = payload_of(settings, spec, now).model_dump(mode="json", by_alias=True)
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
