"""Ledger tables of the detect domain: findings (one row per problem), analysis runs, and the
segment findings held until a later look confirms them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from daytwo.store.ledger.models import Base, UTCDateTime, _now

# A finding's life: open when first seen, resolved when a run no longer sees it, regressed when
# a resolved problem comes back (and stays regressed while it is seen).
FINDING_STATUSES = ("open", "resolved", "regressed")
RUN_STATUSES = ("running", "ok", "failed")


class FindingRecord(Base):
    """A problem a detector saw, kept by fingerprint and updated each time it is seen again."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_deployment_status", "deployment", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(40), unique=True)
    detector: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    deployment: Mapped[str] = mapped_column(String(100))
    journey: Mapped[str | None] = mapped_column(String(200), nullable=True)
    segment_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    segment_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    metric: Mapped[str | None] = mapped_column(String(100), nullable=True)
    key: Mapped[list[str]] = mapped_column(JSON, default=list)
    severity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    baseline_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    baseline_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    current_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    current_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    impact_interactions: Mapped[float] = mapped_column(Float, default=0.0)
    impact_customers: Mapped[float] = mapped_column(Float, default=0.0)
    impact_agents: Mapped[float] = mapped_column(Float, default=0.0)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    times_seen: Mapped[int] = mapped_column(Integer, default=1)
    regressions: Mapped[int] = mapped_column(Integer, default=0)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)


class AnalysisRun(Base):
    """One run of the detectors over one deployment, with what it found."""

    __tablename__ = "analysis_runs"
    __table_args__ = (Index("ix_analysis_runs_deployment_started", "deployment", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The analysed period: data started from ``since`` up to ``data_through``.
    since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    data_through: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    interactions: Mapped[int] = mapped_column(Integer, default=0)
    detectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    findings_new: Mapped[int] = mapped_column(Integer, default=0)
    findings_updated: Mapped[int] = mapped_column(Integer, default=0)
    findings_resolved: Mapped[int] = mapped_column(Integer, default=0)
    findings_regressed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class HeldFinding(Base):
    """A segment finding seen by a repeated look and held until a look on newer data sees it
    again (see :func:`daytwo.detect.service.record_findings`); it reaches the findings table,
    with the first-seen date kept here, only then, and is dropped when a look misses it."""

    __tablename__ = "held_findings"
    __table_args__ = (Index("ix_held_findings_deployment", "deployment"),)

    fingerprint: Mapped[str] = mapped_column(String(40), primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100))
    detector: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    # The end of the data of the look that first held it: a look on data at least a day newer
    # confirms it.
    data_through: Mapped[datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[int] = mapped_column(Integer)
