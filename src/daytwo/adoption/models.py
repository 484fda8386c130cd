"""Ledger tables of the adoption domain: champions, the cohorts compared (pilot, rollout) and
their comparison as each analysis run saw it.

Agents are referred to by their pseudonymous ``agent_ref`` only, as the events carry it; no
name, e-mail or other identity of an agent is stored here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from daytwo.errors import ConflictError
from daytwo.store.ledger.models import Base, _now


def insert(session: Session, row: Base, taken: str) -> None:
    """Add ``row``; a unique key it breaks is a :class:`ConflictError` saying ``taken``."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(taken) from None


class Champion(Base):
    """An agent marked as a champion of the AI on their team or site, from a date."""

    __tablename__ = "adoption_champions"
    __table_args__ = (UniqueConstraint("deployment", "agent_ref", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    agent_ref: Mapped[str] = mapped_column(String(200))
    # Where they champion: the team (or site) their conversations show, unless given.
    team: Mapped[str | None] = mapped_column(String(200), nullable=True)
    site: Mapped[str | None] = mapped_column(String(200), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Cohort(Base):
    """A named group of agents to compare (the pilot, the rollout), defined one way only:

    - by a segment value their conversations carry (``segment_key`` = ``segment_value``);
    - by a list of agents (``agents``);
    - by when they were first offered the AI (``enabled_from`` to ``enabled_until``).

    ``journeys`` narrows the cohort's conversations (empty: every journey).
    """

    __tablename__ = "adoption_cohorts"
    __table_args__ = (UniqueConstraint("deployment", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))  # pilot | rollout
    segment_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    segment_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    agents: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    enabled_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    journeys: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class PilotRun(Base):
    """The pilot-vs-rollout comparison as one analysis run saw it: computed after the run
    (the adoption page, the API and the reports read it rather than comparing anew) and kept,
    run after run, so its history can be shown. ``comparison`` is None when there was nothing
    to compare (``note`` says why); ``cohorts`` fingerprints the cohorts recorded then, so a
    cohort recorded later is not answered with a comparison of the old ones."""

    __tablename__ = "adoption_pilot_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    basis: Mapped[str] = mapped_column(String(16))
    comparison: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )
    note: Mapped[str] = mapped_column(Text, default="")
    cohorts: Mapped[str] = mapped_column(Text, default="")
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
