"""Ledger table of the reports: an issued report is a record, frozen when it is issued."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from daytwo.store.ledger.models import Base, UTCDateTime


def _now() -> datetime:
    return datetime.now(UTC)


class IssuedReport(Base):
    """One issue of a report: its numbers as they were, the data's as-of time, the code version.
    A re-issue of the same period is a new version; no row is ever updated."""

    __tablename__ = "issued_reports"
    __table_args__ = (UniqueConstraint("deployment", "kind", "period", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # weekly | monthly
    period: Mapped[str] = mapped_column(String(16))  # 2026-W48 | 2026-11
    version: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    code_version: Mapped[str] = mapped_column(String(40))
    issued_by: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
