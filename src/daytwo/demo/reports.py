"""The demo's reports: every weekly update and monthly review of its history, issued into the
archive once the analysis is in, so the archive is full and the value story reads week by week.

Each report is issued as of the build (its numbers are the data's as the demo stands), the
weekly updates of every ISO week that ended inside the history and the monthly reviews of every
month that did (the go-live month included: its review says it is a part month).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from daytwo.report.archive import issue_report
from daytwo.report.monthly import month_bounds, months_between
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger

ISSUER = "demo"


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


def issue_demo_reports(
    settings: Settings, manifest: dict[str, Any], progress: Callable[[str], None] | None = None
) -> int:
    """Issue every weekly update and monthly review of each deployment; how many were."""
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
                    issue_report(
                        ledger, events, kind=kind, deployment=deployment, period=period,
                        issued_by=ISSUER, base=settings.notify_public_url,
                    )  # fmt: skip
                    issued += 1
    finally:
        ledger.dispose()
    return issued
