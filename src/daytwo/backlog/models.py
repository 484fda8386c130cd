"""Ledger tables of the backlog: owners and routing, improvement items, changes, feedback.

Findings live in the detectors' own table; an item links to them by finding id and
fingerprint (no foreign key), so the backlog never depends on how findings are stored.
Every state change of any of these rows is one append-only :class:`BacklogEvent`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from daytwo import clock
from daytwo.store.ledger.models import Base, UTCDateTime


def _now() -> datetime:
    return clock.now()


class Owner(Base):
    """A person or a team that can own improvement items."""

    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # person | team
    team: Mapped[str | None] = mapped_column(String(100), nullable=True)
    contact: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class DefaultOwner(Base):
    """The owner of a deployment's items that no routing rule matches."""

    __tablename__ = "default_owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))


class RoutingRule(Base):
    """Who owns what: the first rule (lowest position) whose conditions all hold wins."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    position: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))
    journey: Mapped[str | None] = mapped_column(String(200), nullable=True)
    finding_kind: Mapped[str | None] = mapped_column(String(100), nullable=True)
    segment_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    segment_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class Item(Base):
    """One improvement item of the backlog."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16))  # finding | manual
    status: Mapped[str] = mapped_column(String(16), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"), nullable=True)
    journey: Mapped[str | None] = mapped_column(String(200), nullable=True)
    finding_kind: Mapped[str | None] = mapped_column(String(100), nullable=True)
    segments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The priority inputs of a manual item (findings carry their own).
    signal: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    priority: Mapped[str] = mapped_column(String(2))
    score: Mapped[float] = mapped_column(Float)
    breakdown: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    triage_due: Mapped[datetime] = mapped_column(UTCDateTime())
    fix_due: Mapped[datetime] = mapped_column(UTCDateTime())
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fix_shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution: Mapped[str] = mapped_column(Text, default="")
    # Closed because its findings joined this item's problem (the backlog merged it).
    merged_into: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The fingerprint of the finding the item was opened from: what its problem is about.
    lead: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class ItemFinding(Base):
    """A finding joined to an item, with the last values it was seen with."""

    __tablename__ = "item_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    finding_id: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(100))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class Change(Base):
    """A shipped change (prompt, model, knowledge, flow, config, training) and its impact."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    rationale: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200))
    shipped_at: Mapped[datetime] = mapped_column(UTCDateTime())
    journeys: Mapped[list[str]] = mapped_column(JSON, default=list)
    control_journeys: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Segments it touched (a training for one team, a config for one site): {key: [values]};
    # empty: every segment of its journeys. The control segments default to the others.
    segments: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    control_segments: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    metric: Mapped[str] = mapped_column(String(100))
    window_days: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(16))  # pending | improved | regressed | ...
    impact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    measured_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)


class ChangeItem(Base):
    """Which items a change was meant to fix."""

    __tablename__ = "change_items"

    change_id: Mapped[int] = mapped_column(
        ForeignKey("changes.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )


class Feedback(Base):
    """A piece of feedback: from a customer (with an interaction) or an agent (friction)."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("source_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(16))  # customer | agent
    kind: Mapped[str] = mapped_column(String(32))  # thumbs_down | csat_comment | friction ...
    # Makes arrival idempotent: the same feedback sent again is stored once.
    source_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    interaction_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rating: Mapped[float | None] = mapped_column(Float, nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    journey: Mapped[str | None] = mapped_column(String(200), nullable=True)
    theme: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), index=True)
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"), nullable=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ack_due: Mapped[datetime] = mapped_column(UTCDateTime())
    action_due: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(200))


class BacklogEvent(Base):
    """One state change of an item, feedback, change, owner or rule: who, when, what."""

    __tablename__ = "backlog_events"
    __table_args__ = (Index("ix_backlog_events_subject", "subject", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(16))  # item | feedback | change | owner | rule
    subject_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(String(300), nullable=True)
    after: Mapped[str | None] = mapped_column(String(300), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
