"""Reports on schedule: a subscription sends a deployment's weekly update or monthly review
through a notification e-mail channel at a weekday (or day of the month) and hour in its own
time zone. Each due period is issued once into the archive and its document handed to the
notification outbox (sent, retried and logged like every alert), so what was sent is the
archived PDF, byte for byte."""

from __future__ import annotations

import base64
import logging
import threading
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.deployments.service import get_deployment
from daytwo.errors import InputError, NotFoundError
from daytwo.governance import audit
from daytwo.notify.calc import parse_zone
from daytwo.notify.enqueue import enqueue_document
from daytwo.notify.schemas import DocumentPayload
from daytwo.notify.service import channel_by_name
from daytwo.report.archive import issue_report, issued_pdf
from daytwo.report.models import IssuedReport, Subscription
from daytwo.report.monthly import last_full_month
from daytwo.report.service import REPORT_KINDS
from daytwo.report.weekly import last_full_week
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

log = logging.getLogger("daytwo.report")
SCHEDULE_ACTOR = "schedule"


class SubscriptionCreate(BaseModel):
    deployment: str = Field(min_length=1, max_length=100)
    kind: str = Field(description="weekly or monthly")
    channel: str = Field(min_length=1, max_length=100, description="an e-mail channel's name")
    recipients: list[str] = Field(
        default_factory=list, description="addresses; empty: the channel's recipients"
    )
    weekday: int = Field(default=0, ge=0, le=6, description="0 = Monday (weekly)")
    day: int = Field(default=1, ge=1, le=28, description="day of the month (monthly)")
    hour: int = Field(default=8, ge=0, le=23)
    timezone: str = Field(default="UTC", max_length=64)


class SubscriptionPublic(SubscriptionCreate):
    id: int
    last_period: str | None
    active: bool


def _mailbox(address: str) -> str:
    local, at, domain = address.strip().partition("@")
    if not (local and at and "." in domain) or " " in address.strip():
        raise InputError(f"recipient {address!r} is not an e-mail address.")
    return address.strip()


def _public(row: Subscription) -> SubscriptionPublic:
    return SubscriptionPublic(
        id=row.id,
        deployment=row.deployment,
        kind=row.kind,
        channel=row.channel,
        recipients=[r for r in row.recipients.split(",") if r],
        weekday=row.weekday,
        day=row.day,
        hour=row.hour,
        timezone=row.timezone,
        last_period=row.last_period,
        active=row.active,
    )


def subscribe(ledger: Ledger, spec: SubscriptionCreate, *, actor: str) -> SubscriptionPublic:
    """Add a schedule; every field is checked before anything is written."""
    if spec.kind not in REPORT_KINDS:
        raise InputError(f"report kind {spec.kind!r}: use one of {', '.join(REPORT_KINDS)}")
    try:
        parse_zone(spec.timezone)
    except ValueError as exc:
        raise InputError(f"timezone: {exc}") from exc
    recipients = [_mailbox(r) for r in spec.recipients]
    get_deployment(ledger, spec.deployment)  # an unknown deployment is not found
    with ledger.session() as session:
        channel = channel_by_name(session, spec.channel)
        if channel.kind != "email":
            raise InputError(
                f"channel {spec.channel!r} is a {channel.kind} channel: reports go by e-mail"
            )
        taken = session.scalar(
            select(Subscription.id).where(
                Subscription.deployment == spec.deployment,
                Subscription.kind == spec.kind,
                Subscription.channel == spec.channel,
            )
        )
        if taken is not None:
            raise InputError(
                f"{spec.deployment}'s {spec.kind} report already goes to {spec.channel!r} "
                f"(subscription {taken})."
            )
        row = Subscription(
            deployment=spec.deployment,
            kind=spec.kind,
            channel=spec.channel,
            recipients=",".join(recipients),
            weekday=spec.weekday,
            day=spec.day,
            hour=spec.hour,
            timezone=spec.timezone,
            active=True,
            created_by=actor,
        )
        session.add(row)
        session.flush()
        public = _public(row)
        _audit(session, actor, "report.subscribe", public, after=True)
        return public


def _audit(
    session: Session, actor: str, action: str, sub: SubscriptionPublic, *, after: bool
) -> None:
    """One audit entry for a schedule added (``after``) or stopped, with what it was."""
    what = sub.model_dump(mode="json", exclude={"id", "last_period", "active"})
    audit.record(
        session, actor=actor, action=action, target=f"report subscription {sub.id}",
        deployment=sub.deployment, before=None if after else what, after=what if after else None,
    )  # fmt: skip


def list_subscriptions(ledger: Ledger, deployments: list[str]) -> list[SubscriptionPublic]:
    with ledger.session() as session:
        rows = session.scalars(
            select(Subscription)
            .where(Subscription.deployment.in_(deployments))
            .order_by(Subscription.deployment, Subscription.kind, Subscription.id)
        )
        return [_public(r) for r in rows]


def unsubscribe(
    ledger: Ledger, subscription_id: int, deployments: list[str], *, actor: str
) -> None:
    with ledger.session() as session:
        row = session.get(Subscription, subscription_id)
        if row is None or row.deployment not in deployments:
            raise NotFoundError(f"No report subscription {subscription_id}.")
        stopped = _public(row)
        session.delete(row)
        _audit(session, actor, "report.unsubscribe", stopped, after=False)


def due_period(sub: SubscriptionPublic, now: datetime) -> str | None:
    """The period ``sub`` should send at ``now`` (the last full week or month in its time
    zone, once its send time has come), or None when nothing is due."""
    local = now.astimezone(parse_zone(sub.timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if sub.kind == "weekly":
        send_at = midnight - timedelta(days=local.weekday()) + timedelta(days=sub.weekday)
        period = last_full_week(local)
    else:
        send_at = midnight.replace(day=sub.day)
        period = last_full_month(local)
    send_at = send_at.replace(hour=sub.hour)
    if local < send_at or sub.last_period == period:
        return None
    return period


def mail_of(issued: IssuedReport, base: str) -> DocumentPayload:
    """The e-mail of an issued report: its own HTML as the body, its PDF attached."""
    assert issued.pdf is not None
    url = f"{base.rstrip('/')}/reports/archive/{issued.id}"
    text = (
        f"{issued.title}\n\n"
        f"The report is attached as PDF (version {issued.version}, data as of "
        f"{issued.as_of:%Y-%m-%d %H:%M} UTC). It stays in the archive at {url}\n"
    )
    return DocumentPayload(
        idempotency_key=f"report-{issued.id}",
        occurred_at=issued.issued_at,
        deployment=issued.deployment,
        subject=issued.title,
        text=text,
        html=issued.html,
        attachment_name=f"{issued.deployment}-{issued.kind}-{issued.period}.pdf",
        attachment_b64=base64.b64encode(issued.pdf).decode(),
    )


def send_due(
    ledger: Ledger, events: EventStore, settings: Settings, *, now: datetime | None = None
) -> list[int]:
    """Issue and queue every report whose time has come; the deliveries' ids. A period
    already issued is not issued again: the version in the archive is the one sent."""
    now = now or datetime.now(UTC)
    queued: list[int] = []
    with ledger.session() as session:
        subs = [
            _public(s) for s in session.scalars(select(Subscription).where(Subscription.active))
        ]
    for sub in subs:
        period = due_period(sub, now)
        if period is None:
            continue
        with ledger.session() as session:
            issued = session.scalar(
                select(IssuedReport)
                .where(
                    IssuedReport.deployment == sub.deployment,
                    IssuedReport.kind == sub.kind,
                    IssuedReport.period == period,
                )
                .order_by(IssuedReport.version.desc())
                .limit(1)
            )
            if issued is not None:
                session.expunge(issued)
        if issued is None:
            issued = issue_report(
                ledger, events, kind=sub.kind, deployment=sub.deployment, period=period,
                issued_by=SCHEDULE_ACTOR, base=settings.notify_public_url, now=now,
                render_pdf=True,
            )  # fmt: skip
        issued_pdf(ledger, issued)  # one issued without its PDF yet: laid out and kept now
        doc = mail_of(issued, settings.notify_public_url)
        doc = doc.model_copy(update={"idempotency_key": f"report-{issued.id}-to-{sub.id}"})
        with ledger.session() as session:
            queued.append(
                enqueue_document(
                    session, sub.channel, doc, recipients=",".join(sub.recipients), now=now
                )
            )
            row = session.get(Subscription, sub.id)
            if row is not None:
                row.last_period = period
    return queued


class ReportSchedule:
    """In `daytwo serve`: checks the subscriptions every ``interval_s`` seconds; a failed pass
    is logged and the next one tried (a period not sent stays due)."""

    def __init__(
        self, ledger: Ledger, events: EventStore, settings: Settings, interval_s: float
    ) -> None:
        self._args = (ledger, events, settings)
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="daytwo-reports", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                send_due(*self._args)
            except Exception:  # a pass must never end the thread
                log.exception("scheduled reports pass failed")
