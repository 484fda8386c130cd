"""The weekly stakeholder update, assembled from the ledger and the metric catalog.

Every KPI is the metrics API's summary of the same week and deployment (value, target,
baseline, last week); what got worse is the deployment's open problems (findings grouped
as the backlog holds them, see :mod:`daytwo.report.problems`); backlog movement is
the items opened and closed in the week; fixes measured are the changes whose impact was
measured; the value section is priced from the deployment's cost model.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, select

from daytwo.backlog.models import Item
from daytwo.errors import InputError
from daytwo.interactions.slice import Slice
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.schemas import MetricPoint, MetricSummary
from daytwo.metrics.service import metric_points, summaries
from daytwo.report.calc import ValueResult
from daytwo.report.problems import Problem, open_problems
from daytwo.report.sections import (
    FixMeasured,
    cost_model,
    measured_fixes,
    period_value,
    subject,
)
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

# The headline KPIs of the update, in the order a stakeholder reads them.
WEEKLY_KPIS = (
    "contact_volume",
    "containment_rate",
    "escalation_rate",
    "ai_cost",
)
TREND_SPAN = timedelta(weeks=8)


class WeeklyUpdate(BaseModel):
    deployment: str
    week: str
    start: datetime
    end: datetime
    as_of: datetime
    kpis: list[MetricSummary]
    trend: list[MetricPoint] = []  # the rate KPIs week by week, the last eight weeks
    worse: list[Problem]
    opened: int
    closed: int
    open_now: int
    fixes: list[FixMeasured]
    value: ValueResult | None
    missing: list[str]

    model_config = {"arbitrary_types_allowed": True}


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """The Monday 00:00 UTC that starts an ISO week such as ``2026-W48``, and the next one."""
    try:
        year, num = week.split("-W")
        monday = date.fromisocalendar(int(year), int(num), 1)
    except ValueError as exc:
        raise InputError(f"week {week!r}: use an ISO week such as 2026-W48") from exc
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return start, start + timedelta(days=7)


def last_full_week(now: datetime) -> str:
    """The ISO week before the one ``now`` falls in."""
    year, num, _ = (now - timedelta(days=7)).isocalendar()
    return f"{year}-W{num:02d}"


def weekly_update(
    ledger: Ledger,
    events: EventStore,
    name: str,
    week: str,
    *,
    currency: str | None = None,
    now: datetime | None = None,
) -> WeeklyUpdate:
    """The weekly update of one deployment for one ISO week; what is missing is said."""
    now = now or datetime.now(UTC)
    start, end = week_bounds(week)
    if start > now:
        raise InputError(f"week {week}: it has not started yet")
    who = subject(ledger, events, name)
    deployment, first_data = who.deployment, who.first_data
    kpis = summaries(events, list(WEEKLY_KPIS), Slice(name, start, end), deployment, first_data)
    rates = [m for m in WEEKLY_KPIS if REGISTRY[m].unit == "rate"]
    trend = metric_points(events, rates, Slice(name, end - TREND_SPAN, end, bucket="week"))
    missing: list[str] = []
    if not kpis[0].value:
        missing.append(f"no conversations of {name} in {week}")
    with ledger.session() as session:
        worse = open_problems(session, name, start, end)

        def count(*where: ColumnElement[bool]) -> int:
            q = select(func.count()).select_from(Item).where(Item.deployment == name, *where)
            return int(session.scalar(q) or 0)

        opened = count(Item.created_at >= start, Item.created_at < end)
        closed = count(Item.closed_at >= start, Item.closed_at < end)
        open_now = count(Item.closed_at.is_(None))
    fixes = [f for f in measured_fixes(ledger, name) if f.measured_at and f.measured_at < end]
    value: ValueResult | None = None
    model = cost_model(deployment, currency)
    if model is None:
        missing.append(f"value: {name} has no cost model")
    else:
        value = period_value(events, who, model, start, end)
    return WeeklyUpdate(
        deployment=name,
        week=week,
        start=start,
        end=end,
        as_of=now,
        kpis=kpis,
        trend=trend,
        worse=worse,
        opened=opened,
        closed=closed,
        open_now=open_now,
        fixes=fixes,
        value=value,
        missing=missing,
    )
