"""Ledger tables of knowledge gaps: one row per gap (kept across runs by its id), its members
(the user turns it holds, by interaction id and turn position) and the runs that built them.

Member texts stay in the events store (where redaction and retention apply); the ledger keeps
only where each member is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from daytwo.store.ledger.models import Base, UTCDateTime, _now

GAP_KINDS = ("new_intent", "missing_knowledge", "misrouting", "off_topic")
GAP_STATUSES = ("open", "gone")


class GapRun(Base):
    """One clustering of a deployment's candidate utterances."""

    __tablename__ = "gap_runs"
    __table_args__ = (Index("ix_gap_runs_deployment_started", "deployment", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100))
    encoder: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    data_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    data_through: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    candidates: Mapped[int] = mapped_column(Integer, default=0)
    clustered: Mapped[int] = mapped_column(Integer, default=0)
    gaps: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class GapRecord(Base):
    """A knowledge gap: a cluster of utterances the assistant could not handle."""

    __tablename__ = "gaps"
    __table_args__ = (Index("ix_gaps_deployment_status", "deployment", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="open")
    label: Mapped[str] = mapped_column(String(200))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(32))
    # For misrouting: the known intent these utterances belong to; for missing knowledge: the
    # intent the assistant recognised before it failed.
    intent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind_reason: Mapped[str] = mapped_column(Text, default="")
    volume: Mapped[int] = mapped_column(Integer, default=0)
    recent: Mapped[int] = mapped_column(Integer, default=0)
    previous: Mapped[int] = mapped_column(Integer, default=0)
    growth: Mapped[float | None] = mapped_column(Float, nullable=True)
    weekly: Mapped[list[Any]] = mapped_column(JSON, default=list)
    journeys: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    examples: Mapped[list[Any]] = mapped_column(JSON, default=list)
    centroid: Mapped[list[Any]] = mapped_column(JSON, default=list)
    encoder: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    runs_seen: Mapped[int] = mapped_column(Integer, default=1)
    last_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class GapMember(Base):
    """One user turn in a gap."""

    __tablename__ = "gap_members"

    gap_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("gaps.id", ondelete="CASCADE"), primary_key=True
    )
    interaction_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    similarity: Mapped[float] = mapped_column(Float)
