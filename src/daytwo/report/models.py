"""Ledger table of the reports: an issued report is a record, frozen when it is issued."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from daytwo import clock
from daytwo.store.ledger.models import Base, UTCDateTime


def _now() -> datetime:
    # The ledger's clock: a replayed history (the demo's) issues each report on its own date.
    return clock.now()


class IssuedReport(Base):
    """One issue of a report: its numbers as they were, the data's as-of time, the code version.
    A re-issue of the same period is a new version. A row is never updated but once: a report
    issued without its PDF gets it, laid out from its kept HTML, on its first download."""

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
    # The document as it was issued and sent, byte for byte: re-opening it shows what was read.
    title: Mapped[str] = mapped_column(String(300), default="")
    html: Mapped[str] = mapped_column(Text, default="")
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), default="")  # of the PDF, once laid out


class Subscription(Base):
    """A deployment's weekly or monthly report, sent through a notification channel on
    schedule (weekday or day of month, hour, in ``timezone``); ``last_period`` is the last
    period it was issued for, so a period is sent once."""

    __tablename__ = "report_subscriptions"
    __table_args__ = (UniqueConstraint("deployment", "kind", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # weekly | monthly
    channel: Mapped[str] = mapped_column(String(100))  # a notification channel's name
    recipients: Mapped[str] = mapped_column(String(500), default="")  # else the channel's
    weekday: Mapped[int] = mapped_column(Integer, default=0)  # 0 = Monday, for weekly
    day: Mapped[int] = mapped_column(Integer, default=1)  # day of the month, for monthly
    hour: Mapped[int] = mapped_column(Integer, default=8)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    last_period: Mapped[str | None] = mapped_column(String(16), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
