"""A slice of interactions: one deployment, a time range, filters, and how to group the rows.

What the metrics, the conversation search and the read APIs all take; pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

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
