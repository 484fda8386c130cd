"""The weekly stakeholder update, assembled from the ledger and the metric catalog.

Every KPI is the metrics API's summary of the same week and deployment (value, target,
baseline, last week); what got worse is the deployment's open problems (findings grouped
as the backlog holds them, see :mod:`daytwo.report.problems`); what we fixed is the changes
whose impact was measured; backlog movement (by owner, with what is overdue), the feedback
loop and next week's focus are read from the backlog (:mod:`daytwo.report.loop`); adoption is
the adoption page's headline for an agent-assist tool; the plan's phase and gate where a plan
is recorded; the value section is priced from the deployment's cost model.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel

from daytwo.adoption.schemas import Headline, Period
from daytwo.adoption.usage import headline
from daytwo.errors import InputError
from daytwo.interactions.slice import Slice
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.schemas import MetricPoint, MetricSummary
from daytwo.metrics.service import metric_points, summaries
from daytwo.plan.schemas import PlanStatus
from daytwo.plan.standing import timeline
from daytwo.report.calc import ValueResult
from daytwo.report.loop import (
    BacklogMovement,
    FeedbackLoop,
    FocusItem,
    backlog_movement,
    feedback_loop,
    next_focus,
)
from daytwo.report.problems import Problem, open_problems
from daytwo.report.sections import (
    FixMeasured,
    Subject,
    cost_model,
    measured_fixes,
    period_value,
    subject,
)
from daytwo.store.events import EventStore
from daytwo.store.ledger import DeploymentKind, Ledger

# The headline KPIs of the update, in the order a stakeholder reads them.
WEEKLY_KPIS = (
    "contact_volume",
    "containment_rate",
    "escalation_rate",
    "ai_cost",
)
# An agent-assist tool's own: how much it is taken up and what it does to handle time.
ASSIST_KPIS = (
    "contact_volume",
    "suggestion_acceptance_rate",
    "average_handle_time",
    "ai_cost",
)
TREND_SPAN = timedelta(weeks=8)
FIXES_SHOWN = 4


def headline_kpis(kind: str | None) -> list[str]:
    """The KPIs the weekly update (and the monthly review first) shows for a deployment."""
    return list(ASSIST_KPIS if kind == DeploymentKind.agent_assist else WEEKLY_KPIS)


class WeeklyUpdate(BaseModel):
    deployment: str
    week: str
    start: datetime
    end: datetime
    as_of: datetime
    kpis: list[MetricSummary]
    trend: list[MetricPoint] = []  # the rate KPIs week by week, the last eight weeks
    worse: list[Problem]
    fixes: list[FixMeasured]  # shipped before the week ended, measured; latest first
    fixes_total: int
    backlog: BacklogMovement
    feedback: FeedbackLoop
    adoption: Headline | None = None  # an agent-assist tool's take-up
    plan: PlanStatus | None = None
    focus: list[FocusItem] = []
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
    who: Subject | None = None,
) -> WeeklyUpdate:
    """The weekly update of one deployment for one ISO week; what is missing is said.

    ``who``: the deployment's :func:`~daytwo.report.sections.subject`, where the caller
    builds several reports of it from the same data (read here otherwise)."""
    now = now or datetime.now(UTC)
    start, end = week_bounds(week)
    if start > now:
        raise InputError(f"week {week}: it has not started yet")
    who = who or subject(ledger, events, name)
    deployment, first_data = who.deployment, who.first_data
    kpi_ids = headline_kpis(deployment.kind)
    kpis = summaries(events, kpi_ids, Slice(name, start, end), deployment, first_data)
    rates = [m for m in kpi_ids if REGISTRY[m].unit == "rate"]
    trend = metric_points(events, rates, Slice(name, end - TREND_SPAN, end, bucket="week"))
    missing: list[str] = []
    if not kpis[0].value:
        missing.append(f"no conversations of {name} in {week}")
    with ledger.session() as session:
        worse = open_problems(session, name, start, end)
    # Changes shipped before the week ended, with what their measurement says as of the report.
    fixes = [f for f in measured_fixes(ledger, name) if f.shipped_at < end]
    fixes.sort(key=lambda f: f.shipped_at, reverse=True)
    adoption: Headline | None = None
    if deployment.kind == DeploymentKind.agent_assist:
        target = deployment.targets.get("suggestion_acceptance_rate")
        adoption = headline(events, name, Period(start=start, end=end), target)
    plan = timeline(ledger, name)
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
        fixes=fixes[:FIXES_SHOWN],
        fixes_total=len(fixes),
        backlog=backlog_movement(ledger, name, start, end, now),
        feedback=feedback_loop(ledger, name, start, end),
        adoption=adoption,
        plan=plan[0] if plan else None,
        focus=next_focus(ledger, name, now),
        value=value,
        missing=missing,
    )
