"""What time it is, for what the ledger records: now, unless a replay says otherwise.

Every timestamp the ledger keeps of what happened (a finding seen or resolved, an item
created, triaged or shipped, a clock started, an audit entry) reads :func:`now`. A replay of
history, such as the demo's 90 days run through the scheduled analysis day by day, sets the
time of each step with :func:`frozen_at`, so what it records carries the day it happened on,
not the day the replay ran. Outside a replay, :func:`now` is the wall clock.

The setting is a context variable: it holds for the code that runs inside the ``with`` block
(in that thread), and never for a server's other requests.

Every time daytwo keeps is in UTC, and some stores (SQLite) hand it back without its zone:
:func:`aware` (and :func:`aware_from_iso` for ISO text) gives it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_FROZEN: ContextVar[datetime | None] = ContextVar("daytwo_clock", default=None)


def now() -> datetime:
    """The current time (UTC), or the replayed one inside :func:`frozen_at`."""
    frozen = _FROZEN.get()
    return frozen if frozen is not None else datetime.now(UTC)


def aware(at: datetime) -> datetime:
    """``at`` with a time zone: a naive time is taken as UTC (the zone every stored time was
    written in, which SQLite does not hand back), an aware one is returned as it is. Where
    the result must be in UTC whatever zone it came in, follow with ``.astimezone(UTC)``."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def aware_from_iso(text: str) -> datetime:
    """An ISO 8601 time as :func:`aware` gives it: text without an offset is UTC."""
    return aware(datetime.fromisoformat(text))


@contextmanager
def frozen_at(at: datetime) -> Iterator[None]:
    """Inside the block, :func:`now` is ``at`` (which needs a time zone)."""
    if at.tzinfo is None:
        raise ValueError("a replayed time needs a time zone")
    token = _FROZEN.set(at.astimezone(UTC))
    try:
        yield
    finally:
        _FROZEN.reset(token)
