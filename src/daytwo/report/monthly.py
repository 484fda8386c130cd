"""The monthly business review for the sponsor, from the same blocks as the weekly update.

Value and ROI of the month and since go-live (each month priced from the cost model, summed;
payback from the mean net value a month), the KPIs of the month against target, baseline and
the month before, their weekly trend since go-live, adoption where agents use an assist tool,
top wins (changes measured as improvements), top risks (the most severe open problems),
decisions needed (what waits on someone with authority), and a retrospective of the month's
changes. Definitions of every KPI and value figure close it. What is missing is said.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel

from daytwo.adoption.pilot_runs import history as pilot_history
from daytwo.adoption.schemas import Headline, Period, PilotPoint
from daytwo.adoption.usage import headline
from daytwo.backlog.calc import CLOSED_STATUSES
from daytwo.backlog.service import list_items
from daytwo.errors import InputError
from daytwo.interactions.slice import Slice
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.schemas import MetricPoint, MetricSummary
from daytwo.metrics.service import metric_points, summaries
from daytwo.plan.schemas import PhasePublic, PlanStatus
from daytwo.plan.standing import timeline
from daytwo.report.calc import CostModel, ValueResult, cumulative_roi, payback_months
from daytwo.report.problems import Problem, open_problems
from daytwo.report.sections import (
    FixMeasured,
    Subject,
    cost_model,
    measured_fixes,
    period_value,
    subject,
)
from daytwo.report.weekly import headline_kpis
from daytwo.store.events import EventStore
from daytwo.store.ledger import DeploymentKind, Ledger

TOP = 5  # wins, risks shown
# Verdicts of a measured change, as the retrospective groups them.
WORKED = ("improved",)
DID_NOT = ("regressed", "no_effect", "no_change", "worse")


class MonthValue(BaseModel):
    month: str
    gross: float
    costs: float
    net: float
    roi: float | None


class Cumulative(BaseModel):
    """Value since go-live: the months summed, the one-off investment paid back from them."""

    since: date
    currency: str
    months: list[MonthValue]
    net: float
    costs: float
    one_off_investment: float
    roi: float | None
    payback_months: float | None


class Decision(BaseModel):
    """Something that waits on someone with authority, and why."""

    title: str
    why: str
    owner: str | None
    href: str


class Definition(BaseModel):
    """A KPI's definition (linked to the metric catalog) or a value figure's (its assumptions,
    anchored in the appendix)."""

    id: str
    name: str
    text: str
    href: str


class MonthlyReview(BaseModel):
    deployment: str
    month: str
    start: datetime
    end: datetime
    as_of: datetime
    go_live: date | None
    kpis: list[MetricSummary]
    trend: list[MetricPoint]
    value: ValueResult | None
    cumulative: Cumulative | None
    adoption: Headline | None
    # The pilot against the rollout at the same age, as the last analysis run of the month
    # stored it (acceptance; None: no run compared them).
    pilot: PilotPoint | None = None
    risks: list[Problem]
    open_problems: int
    wins: list[FixMeasured]
    did_not_work: list[FixMeasured]
    undecided: list[FixMeasured]
    decisions: list[Decision]
    definitions: list[Definition]
    missing: list[str]
    plan: tuple[PlanStatus, list[PhasePublic]] | None = None

    model_config = {"arbitrary_types_allowed": True}


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """00:00 UTC on the first of ``2026-11``, and on the first of the next month."""
    try:
        year, num = (int(p) for p in month.split("-"))
        start = datetime(year, num, 1, tzinfo=UTC)
    except ValueError as exc:
        raise InputError(f"month {month!r}: use a month such as 2026-11") from exc
    end = datetime(year + num // 12, num % 12 + 1, 1, tzinfo=UTC)
    return start, end


def month_of(at: datetime) -> str:
    return f"{at.year}-{at.month:02d}"


def last_full_month(now: datetime) -> str:
    """The calendar month before the one ``now`` falls in."""
    return month_of(datetime(now.year - (now.month == 1), (now.month - 2) % 12 + 1, 1))


def months_between(first: datetime, end: datetime) -> list[str]:
    """The months from the one ``first`` falls in up to the one before ``end``."""
    out = []
    at = datetime(first.year, first.month, 1, tzinfo=UTC)
    while at < end:
        out.append(month_of(at))
        at = month_bounds(month_of(at))[1]
    return out


def review_kpis(kind: str | None, targets: dict[str, float]) -> list[str]:
    """The weekly update's KPIs (an assist deployment's own instead), then every metric the
    deployment sets a target on."""
    head = headline_kpis(kind)
    return head + [m for m in targets if m in REGISTRY and m not in head]


def trend_metrics(kpis: list[str]) -> list[str]:
    """The rates of the review (at most three), drawn week by week since go-live."""
    return [m for m in kpis if REGISTRY[m].unit == "rate"][:3]


def _decisions(
    ledger: Ledger, name: str, now: datetime, fixes: list[FixMeasured]
) -> list[Decision]:
    out: list[Decision] = []
    for item in list_items(ledger, deployment=name, include_closed=False, now=now):
        if item.status in CLOSED_STATUSES:
            continue
        href = f"/backlog/{item.id}"
        if item.sla.breached:
            why = "past its service level: re-plan, add people or accept the risk"
        elif item.owner is None and item.priority in ("P1", "P2"):
            why = f"{item.priority} without an owner: assign one"
        elif item.priority == "P1" and item.triaged_at is None:
            why = "P1 not yet triaged: take it into this month's plan or decline it"
        else:
            continue
        out.append(Decision(title=f"#{item.id} {item.title}", why=why, owner=item.owner, href=href))
    for fix in fixes:
        if fix.verdict == "regressed":
            out.append(
                Decision(
                    title=fix.title,
                    why=f"made {REGISTRY[fix.metric].name.lower()} worse: roll it back or keep it",
                    owner=None,
                    href=fix.href,
                )
            )
    return out


def _definitions(kpis: list[str], value: ValueResult | None) -> list[Definition]:
    out = [
        Definition(id=m, name=REGISTRY[m].name, text=REGISTRY[m].definition, href=f"/metrics#{m}")
        for m in kpis
    ]
    if value is not None:
        out += [
            Definition(
                id=f.id,
                name=f.name if f.id not in kpis else f"{f.name} (in the value)",
                text="; ".join(f.assumptions),
                href=f"#def-{f.id}",
            )
            for f in value.figures
        ]
        out.append(
            Definition(
                id="roi",
                name="ROI",
                text="net value (value less AI and running cost) divided by that cost; since "
                "go-live, the one-off investment is taken off the net value and added to the cost",
                href="#def-roi",
            )
        )
        out.append(
            Definition(
                id="payback",
                name="Payback",
                text="months the mean net value a month since go-live takes to repay the one-off "
                "investment",
                href="#def-payback",
            )
        )
    return out


def monthly_review(
    ledger: Ledger,
    events: EventStore,
    name: str,
    month: str,
    *,
    currency: str | None = None,
    now: datetime | None = None,
    who: Subject | None = None,
) -> MonthlyReview:
    """The monthly review of one deployment for one calendar month (UTC); ``who`` as for
    :func:`~daytwo.report.weekly.weekly_update`."""
    now = now or datetime.now(UTC)
    start, end = month_bounds(month)
    if start > now:
        raise InputError(f"month {month}: it has not started yet")
    who = who or subject(ledger, events, name)
    dep = who.deployment
    missing: list[str] = []
    kpi_ids = review_kpis(dep.kind, dep.targets)
    kpis = summaries(events, kpi_ids, Slice(name, start, end), dep, who.first_data)
    if not kpis[0].value:
        missing.append(f"no conversations of {name} in {month}")
    origin = (
        datetime(dep.go_live.year, dep.go_live.month, dep.go_live.day, tzinfo=UTC)
        if dep.go_live
        else who.first_data
    )
    trend: list[MetricPoint] = []
    if origin is not None and origin < end:
        trend = metric_points(
            events, trend_metrics(kpi_ids), Slice(name, origin, end, bucket="week")
        )
    model = cost_model(dep, currency)
    value: ValueResult | None = None
    cumulative: Cumulative | None = None
    if model is None:
        missing.append(f"value and ROI: {name} has no cost model")
    else:
        value = period_value(events, who, model, start, end)
        if origin is None:
            missing.append("value since go-live: no go-live date and no data")
        else:
            cumulative = _cumulative(events, who, model, origin, start, end, value)
    adoption: Headline | None = None
    pilot: PilotPoint | None = None
    if dep.kind == DeploymentKind.agent_assist:
        target = dep.targets.get("suggestion_acceptance_rate")
        adoption = headline(events, name, Period(start=start, end=end), target)
        pilot = next(iter(pilot_history(ledger, name, limit=1, before=end)), None)
    plan = timeline(ledger, name, with_evaluations=True)
    if plan is None:
        missing.append(
            "phase progress against plan: daytwo holds no 90-day plan for this deployment yet"
        )
    fixes = measured_fixes(ledger, name)
    in_month = [f for f in fixes if start <= f.shipped_at < end]
    with ledger.session() as session:
        problems = open_problems(session, name, start, end)
    return MonthlyReview(
        deployment=name,
        month=month,
        start=start,
        end=end,
        as_of=now,
        go_live=dep.go_live,
        kpis=kpis,
        trend=trend,
        value=value,
        cumulative=cumulative,
        adoption=adoption,
        pilot=pilot,
        risks=problems[:TOP],
        open_problems=len(problems),
        wins=sorted(
            (f for f in fixes if f.verdict in WORKED and f.shipped_at < end),
            key=lambda f: f.shipped_at,
            reverse=True,
        )[:TOP],
        did_not_work=[f for f in in_month if f.verdict in DID_NOT],
        undecided=[f for f in in_month if f.verdict not in WORKED + DID_NOT],
        decisions=_decisions(ledger, name, now, in_month),
        definitions=_definitions(kpi_ids, value),
        missing=missing,
        plan=plan,
    )


def _cumulative(
    events: EventStore,
    who: Subject,
    model: CostModel,
    origin: datetime,
    start: datetime,
    end: datetime,
    this_month: ValueResult,
) -> Cumulative:
    """Each month from go-live to the review's priced on its own, then summed."""
    months: list[MonthValue] = []
    results: list[ValueResult] = []
    for m in months_between(origin, end):
        m_start, m_end = month_bounds(m)
        if m_start == start and origin <= start:
            result = this_month
        else:
            result = period_value(events, who, model, max(m_start, origin), m_end)
        results.append(result)
        months.append(
            MonthValue(
                month=m, gross=result.gross, costs=result.costs, net=result.net, roi=result.roi
            )
        )
    net = sum(r.net for r in results)
    # The first month may be a part month: the mean a month is over the days since go-live.
    span_months = (end - origin).total_seconds() / 86_400 / (365.25 / 12)
    return Cumulative(
        since=origin.date(),
        currency=model.currency,
        months=months,
        net=net,
        costs=sum(r.costs for r in results),
        one_off_investment=model.one_off_investment,
        roi=cumulative_roi(model.one_off_investment, results),
        payback_months=payback_months(model.one_off_investment, net / max(span_months, 1e-9)),
    )
