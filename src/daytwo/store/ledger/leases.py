"""Leases: work that must run once across every process sharing the ledger.

Several ``daytwo serve`` processes (``--workers N``, or servers behind a load balancer) share
one ledger and one events store. Each runs the schedules (analysis, retention), but a scheduled
run must happen once, not once per process: before a run a process takes the run's lease, a
row of ``leases`` naming its holder and when the lease expires. A process holds a lease until
it releases it or stops renewing it (it crashed): then the lease expires and another takes it.

Taking a lease is one conditional UPDATE (or the first INSERT), so it is atomic on SQLite and
PostgreSQL alike; no advisory-lock dialect is needed.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, String, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from daytwo.clock import aware
from daytwo.store.ledger.db import Ledger
from daytwo.store.ledger.models import Base

# This process's name in the leases it holds: host, process id and a random part.
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseRow(Base):
    """Who holds the lease ``name`` and until when."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _now() -> datetime:
    return datetime.now(UTC)


def acquire(ledger: Ledger, name: str, ttl: timedelta, holder: str = HOLDER) -> bool:
    """Take (or renew) the lease ``name`` for ``ttl``; False while another holder has it."""
    now = _now()
    with ledger.session() as s:
        taken = s.execute(
            update(LeaseRow)
            .where(LeaseRow.name == name)
            .where((LeaseRow.holder == holder) | (LeaseRow.expires_at < now))
            .values(holder=holder, expires_at=now + ttl, acquired_at=now)
        )
        if taken.rowcount:  # type: ignore[attr-defined]
            return True
        if s.get(LeaseRow, name) is not None:
            return False
    try:
        with ledger.session() as s:
            s.add(LeaseRow(name=name, holder=holder, expires_at=now + ttl, acquired_at=now))
    except IntegrityError:  # another process created it first
        return False
    return True


def release(ledger: Ledger, name: str, holder: str = HOLDER) -> None:
    """Give the lease up now (only its holder can)."""
    with ledger.session() as s:
        s.execute(
            update(LeaseRow)
            .where(LeaseRow.name == name, LeaseRow.holder == holder)
            .values(expires_at=_now())
        )


def holder_of(ledger: Ledger, name: str) -> tuple[str, datetime] | None:
    """Who holds ``name`` and until when (None: nobody ever took it)."""
    with ledger.session() as s:
        row = s.get(LeaseRow, name)
        if row is None:
            return None
        expires = aware(row.expires_at)
        return row.holder, expires


@contextmanager
def lease(ledger: Ledger, name: str, ttl: timedelta, holder: str = HOLDER) -> Iterator[bool]:
    """``with lease(...) as held:`` run the work only ``if held``. While held, the lease is
    renewed every third of ``ttl`` so a long run keeps it; it is released at the end."""
    if not acquire(ledger, name, ttl, holder):
        yield False
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl.total_seconds() / 3):
            acquire(ledger, name, ttl, holder)

    keeper = threading.Thread(target=renew, name=f"daytwo-lease-{name}", daemon=True)
    keeper.start()
    try:
        yield True
    finally:
        stop.set()
        keeper.join()
        release(ledger, name, holder)
