"""A slice of interactions: one deployment, a time range, filters, and how to group the rows.

What the metrics, the conversation search and the read APIs all take; pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

# The days a query may name, on every events engine: what ClickHouse's ``Date32`` and
# ``DateTime64`` hold (its plain ``Date`` ends on 2149-06-06 and wraps round past it). A read
# API refuses a range outside them naming its parameter; the ClickHouse store refuses a bound
# value outside them too, whoever built the query.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2299, 12, 31)

Bucket = Literal["hour", "day", "week", "month"]
BUCKETS: tuple[str, ...] = ("hour", "day", "week", "month")


@dataclass(frozen=True, slots=True)
class Slice:
    """Which rows and how to group them."""

    deployment: str
    start: datetime
    end: datetime
    bucket: Bucket | None = None
    group_by: tuple[str, ...] = ()
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    text: str | None = None
