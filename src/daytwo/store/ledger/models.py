"""Ledger tables (SQLAlchemy 2 declarative). Each domain adds its tables here by module."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Date, DateTime, Dialect, Enum, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from daytwo import clock
from daytwo.store.ledger.kinds import DeploymentKind as DeploymentKind

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _now() -> datetime:
    return clock.now()


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and always read back with its zone.

    PostgreSQL keeps the zone itself; SQLite stores the wall-clock text only, so a value read
    back there was naive, and an API answer carried a timestamp without a zone. Values are
    converted to UTC on the way in (so SQLite's text still sorts in time order) and marked UTC
    on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else clock.aware(value).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else clock.aware(value).astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class Deployment(Base):
    """An AI assistant in production: what it is, when it went live, what it must achieve."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[DeploymentKind] = mapped_column(
        Enum(DeploymentKind, native_enum=False, length=32, validate_strings=True)
    )
    description: Mapped[str] = mapped_column(Text, default="")
    go_live: Mapped[date | None] = mapped_column(Date, nullable=True)
    journeys: Mapped[list[str]] = mapped_column(JSON, default=list)
    targets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cost_model: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # ISO 4217 code of the money in the cost model and the cost metrics.
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    # The baseline window; unset means the default (14 full days after the first week).
    baseline_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    baseline_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    # Baseline values imported from before launch, by metric id; they win over the window.
    baseline_values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_now, onupdate=_now)
