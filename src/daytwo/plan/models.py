"""Ledger tables of the plan domain: plans and their phases, records, sign-offs, gate
evaluations, and the rollout of each journey (or agent group) with its history.

A phase's gate is kept as the validated criteria (JSON): a plan is edited as a whole (applied
from YAML or the API) and versioned, so there is nothing to gain from a row per criterion.
Sign-offs and evaluations name the phase by its key, so re-applying an edited plan keeps them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from daytwo.store.ledger.models import Base, _now


class Plan(Base):
    """The 90-day plan of one deployment."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), unique=True)
    template: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_by: Mapped[str] = mapped_column(String(200))


class PlanPhase(Base):
    """One phase: nominal days from go-live, objectives, and its exit gate's criteria."""

    __tablename__ = "plan_phases"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    start_day: Mapped[int] = mapped_column(Integer)
    end_day: Mapped[int] = mapped_column(Integer)
    objectives: Mapped[list[str]] = mapped_column(JSON, default=list)
    gate: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class PlanRecord(Base):
    """A runbook or handover record of one journey: what it is, where it lives, who owns it."""

    __tablename__ = "plan_records"
    __table_args__ = (UniqueConstraint("deployment", "journey", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    journey: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # runbook | handover
    title: Mapped[str] = mapped_column(String(300))
    location: Mapped[str] = mapped_column(String(500), default="")
    owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class GateSignoff(Base):
    """A gate passed: by sign-off (it was ready) or by an admin's override (with a reason)."""

    __tablename__ = "plan_signoffs"
    __table_args__ = (Index("ix_plan_signoffs_deployment_phase", "deployment", "phase"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100))
    phase: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # signoff | override
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    reason: Mapped[str] = mapped_column(Text, default="")
    ready: Mapped[bool] = mapped_column(Boolean)
    # Ids of the criteria not met when it was passed (empty for a sign-off).
    unmet: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The gate's evaluation it was passed on.
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class GateEvaluation(Base):
    """One evaluation of one gate through one day: every criterion's value and verdict."""

    __tablename__ = "plan_evaluations"
    __table_args__ = (UniqueConstraint("deployment", "phase", "through"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100))
    phase: Mapped[str] = mapped_column(String(64))
    through: Mapped[date] = mapped_column(Date)
    evaluated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    trigger: Mapped[str] = mapped_column(String(16))  # analysis | on_demand
    ready: Mapped[bool] = mapped_column(Boolean)
    met: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RolloutUnit(Base):
    """A journey (call type) or agent group and how far the AI is rolled out to it."""

    __tablename__ = "rollout_units"
    __table_args__ = (UniqueConstraint("deployment", "unit_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    # journey|key=value, with * for "every journey" and an empty group: unique without NULLs.
    unit_key: Mapped[str] = mapped_column(String(400))
    journey: Mapped[str | None] = mapped_column(String(200), nullable=True)
    group_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    group_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    # The state a paused unit resumes to.
    resume_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_by: Mapped[str] = mapped_column(String(200))


class RolloutEvent(Base):
    """One state change of a rollout unit, with the readiness it was made on."""

    __tablename__ = "rollout_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("rollout_units.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    actor: Mapped[str] = mapped_column(String(200))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    warning: Mapped[str] = mapped_column(Text, default="")
    readiness: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
