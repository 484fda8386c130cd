"""The demo's reports: every weekly update and monthly review of its history, issued into the
archive once the analysis is in, so the archive is full and the value story reads week by week.

The weekly updates of every ISO week that ended inside the history and the monthly reviews of
every month that did are issued (the go-live month included: its review says it is a part
month). A demo whose history was replayed day by day issues each on its own date, the morning
after its period ended, as its owner's schedule would have (:func:`issue_time`); otherwise each
is issued as of the build.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from typing import Any

from daytwo import clock
from daytwo.report.archive import issue_report
from daytwo.report.monthly import month_bounds, months_between
from daytwo.report.weekly import week_bounds
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger

ISSUER = "demo"
# When the schedule issues a report: this long after its period ended (the next morning).
ISSUE_AFTER = timedelta(hours=8)


def periods(first: date, through: datetime) -> list[tuple[str, str]]:
    """(kind, period) of every full ISO week and every month that ended by ``through``, from
    the one ``first`` falls in; weeks first, each in order."""
    out: list[tuple[str, str]] = []
    monday = first - timedelta(days=first.weekday())
    if monday < first:
        monday += timedelta(days=7)  # a week the history starts inside is not a full week
    while datetime(monday.year, monday.month, monday.day, tzinfo=UTC) + timedelta(7) <= through:
        year, num, _ = monday.isocalendar()
        out.append(("weekly", f"{year}-W{num:02d}"))
        monday += timedelta(days=7)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    out += [("monthly", m) for m in months_between(start, through) if month_bounds(m)[1] <= through]
    return out


def issue_time(kind: str, period: str, through: datetime) -> datetime:
    """When the schedule issues the report of ``period``: the morning after it ended, and
    never after the history's end."""
    end = week_bounds(period)[1] if kind == "weekly" else month_bounds(period)[1]
    return min(end + ISSUE_AFTER, through)


def issue_demo_reports(
    settings: Settings,
    manifest: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    *,
    dated: bool = False,
) -> int:
    """Issue every weekly update and monthly review of each deployment; how many were. With
    ``dated`` (a history replayed day by day), each as of :func:`issue_time`, its issue date
    too; otherwise as of the build."""
    first = date.fromisoformat(manifest["start"])
    through = datetime.fromisoformat(manifest["through"].replace("Z", "+00:00"))
    todo = periods(first, through)
    ledger = Ledger(settings.resolved_ledger_url)
    issued = 0
    try:
        with open_event_store(settings.resolved_events_url) as events:
            for deployment in manifest["deployments"]:
                for kind, period in todo:
                    if progress:
                        progress(f"{deployment} {kind} {period}")
                    at = issue_time(kind, period, through) if dated else None
                    with clock.frozen_at(at) if at is not None else nullcontext():
                        issue_report(
                            ledger, events, kind=kind, deployment=deployment, period=period,
                            issued_by=ISSUER, base=settings.notify_public_url, now=at,
                        )  # fmt: skip
                    issued += 1
    finally:
        ledger.dispose()
    return issued
