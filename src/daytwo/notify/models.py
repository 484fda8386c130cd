"""The notification tables: channels, routes, owner preferences, alerts and the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from daytwo.store.ledger.models import Base, UTCDateTime


def _now() -> datetime:
    return datetime.now(UTC)


class Channel(Base):
    """Where alerts go: a signed webhook, a Slack incoming webhook or an SMTP mailbox.

    The secret (the webhook's signing key, Slack's webhook URL, the SMTP password) is kept
    encrypted in ``secret_box``, or named as an environment variable in ``secret_env``."""

    __tablename__ = "notify_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # webhook | slack | email
    target: Mapped[str] = mapped_column(String(500), default="")  # URL or recipients
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret_box: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret_env: Mapped[str | None] = mapped_column(String(100), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class Route(Base):
    """A rule that sends matching alerts to a channel; an empty condition matches anything."""

    __tablename__ = "notify_routes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("notify_channels.id", ondelete="CASCADE"), index=True
    )
    deployment: Mapped[str | None] = mapped_column(String(100), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    event_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_priority: Mapped[str] = mapped_column(String(2), default="P4")
    journey: Mapped[str | None] = mapped_column(String(200), nullable=True)
    finding_kind: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # At most this many messages an hour through this route (None: no limit of its own).
    max_per_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class Preference(Base):
    """An owner's notification preferences: their channel, quiet hours, escalation."""

    __tablename__ = "notify_preferences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), unique=True)
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("notify_channels.id", ondelete="SET NULL"), nullable=True
    )
    escalation_channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("notify_channels.id", ondelete="SET NULL"), nullable=True
    )
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    quiet_hours: Mapped[str | None] = mapped_column(String(11), nullable=True)  # 22:00-07:00
    # off | daily | weekly: their non-P1 messages wait for one digest at 08:00 their time
    digest: Mapped[str] = mapped_column(String(8), default="off", server_default="off")
    digest_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class Alert(Base):
    """One problem, one alert: later events of the same problem update it."""

    __tablename__ = "notify_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    item_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # problem | sla | gate | feed | test
    priority: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(300))
    # The last state the alert told about, for kinds that move between states: an SLA's
    # at_risk/breached, a gate's ready/not_holding, a feed's silent/flowing.
    state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | acknowledged | resolved
    events: Mapped[int] = mapped_column(Integer, default=1)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalate_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class Delivery(Base):
    """The outbox: one event of an alert to one channel, written with the alert's change and
    delivered at least once; ``idempotency_key`` is the same on every attempt."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (UniqueConstraint("idempotency_key", "channel_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for a document (an issued report) sent through the same outbox.
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("notify_alerts.id", ondelete="CASCADE"), index=True, nullable=True
    )
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("notify_channels.id", ondelete="CASCADE"), index=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # The route that chose this delivery (None: the owner's own channel, a document).
    route_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending | sending | delivered | dead | digest (waits for the owner's digest) | grouped
    # (sent inside ``grouped_into``'s message: a rate limit's grouped message or a digest)
    status: Mapped[str] = mapped_column(String(16), index=True)
    grouped_into: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Attempt(Base):
    """Every delivery attempt, successful or not, for the delivery log."""

    __tablename__ = "notify_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("notify_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
