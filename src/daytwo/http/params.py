"""Query parameters shared by the read APIs: which deployment, which time range, which slice."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query

from daytwo.errors import InputError, NotFoundError
from daytwo.http.deps import EventsDep
from daytwo.http.scope import require_queryable_day
from daytwo.interactions.slice import LAST_DAY, Slice

DEFAULT_DAYS = 28
# The largest row id a ledger can hold (a signed 64-bit integer).
MAX_ROW_ID = 2**63 - 1

#: A ledger row id in a path (routes write it ``{name:int}``, so a word there matches another
#: route or none): 1 to 2**63 - 1; outside that, 422, never a database error.
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A row id (1 to 2**63 - 1).")]


def _instant(value: str, name: str, *, end: bool) -> datetime:
    try:
        parsed = (
            datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
            if len(value) == 10
            else datetime.fromisoformat(value)
        )
    except ValueError:
        raise InputError(f"{name} must be a date (2026-03-01) or an ISO-8601 time.") from None
    if parsed.tzinfo is None:
        raise InputError(f"{name} needs a time zone (e.g. 2026-03-01T00:00:00Z).")
    try:
        day = parsed.astimezone(UTC).date()
    except OverflowError:  # a time zone that moves year 1 or 9999 off the calendar
        day = parsed.date()
    # An end date is inclusive: the range runs to the next midnight, which must be a day too.
    require_queryable_day(
        day,
        name,
        value,
        last=LAST_DAY - timedelta(days=1) if len(value) == 10 and end else LAST_DAY,
    )
    return parsed + timedelta(days=1) if len(value) == 10 and end else parsed


def slice_params(
    events: EventsDep,
    deployment: Annotated[str, Query(description="Deployment name.")],
    start: Annotated[
        str | None,
        Query(description="First day (inclusive) or ISO time; default: 28 days before the end."),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            description="Last day (inclusive) or ISO time (exclusive); default: "
            "the day of the latest interaction."
        ),
    ] = None,
    journey: Annotated[list[str] | None, Query(description="Only these journeys.")] = None,
    channel: Annotated[list[str] | None, Query(description="Only these channels.")] = None,
    outcome: Annotated[list[str] | None, Query(description="Only these outcomes.")] = None,
    segment: Annotated[
        list[str] | None, Query(description="Segment filters as key:value, e.g. site:leeds.")
    ] = None,
) -> Slice:
    latest = events.query(
        "SELECT max(started_at) AS m FROM interactions WHERE deployment = ?", [deployment]
    )["m"][0].as_py()
    if latest is None:
        raise NotFoundError(f"Deployment {deployment!r} has no interactions.")
    end_at = (
        _instant(end, "end", end=True)
        if end
        else datetime.combine(latest.date() + timedelta(days=1), time(), tzinfo=UTC)
    )
    start_at = (
        _instant(start, "start", end=False) if start else end_at - timedelta(days=DEFAULT_DAYS)
    )
    if start_at >= end_at:
        raise InputError("start must be before end.")
    filters: list[tuple[str, tuple[str, ...]]] = []
    for dim, values in (("journey", journey), ("channel", channel), ("outcome", outcome)):
        if values:
            filters.append((dim, tuple(values)))
    for raw in segment or []:
        key, sep, value = raw.partition(":")
        if not sep or not key or not value:
            raise InputError(f"segment filters look like site:leeds, not {raw!r}.")
        filters.append((key, (value,)))
    return Slice(deployment, start_at, end_at, filters=tuple(filters))


SliceDep = Annotated[Slice, Depends(slice_params)]
