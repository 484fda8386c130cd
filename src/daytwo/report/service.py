"""What a report reads (the metrics of the period) and how an issued report is kept."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

from sqlalchemy import func, select

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.errors import InputError
from daytwo.interactions.slice import Slice
from daytwo.metrics.catalog import get_metric
from daytwo.metrics.service import baseline_window, totals
from daytwo.report.calc import JourneyDays, PeriodCounts, Stratum, pooled_escalation_baseline
from daytwo.report.models import IssuedReport
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

REPORT_KINDS = ("weekly", "monthly")

# Like-for-like groups for agent time saved: a conversation with AI against those without it
# on the same journey and channel, handled by agents of the same tenure (tenure moves both
# handle time and how much agents use the AI).
STRATA_SQL = """
SELECT coalesce(journey, '') AS journey, coalesce(channel, '') AS channel,
       coalesce(element_at(segments, 'tenure')[1], '') AS tenure,
       count_if(ai_used) AS n_ai,
       avg(handle_time_s) FILTER (WHERE ai_used) AS mean_ai,
       coalesce(stddev_samp(handle_time_s) FILTER (WHERE ai_used), 0) AS sd_ai,
       count_if(NOT ai_used) AS n_without,
       avg(handle_time_s) FILTER (WHERE NOT ai_used) AS mean_without,
       coalesce(stddev_samp(handle_time_s) FILTER (WHERE NOT ai_used), 0) AS sd_without
FROM interactions
WHERE deployment = ? AND started_at >= ? AND started_at < ?
  AND agent_ref IS NOT NULL AND handle_time_s IS NOT NULL AND ai_used IS NOT NULL
GROUP BY 1, 2, 3
"""


def strata(events: EventStore, deployment: str, start: datetime, end: datetime) -> list[Stratum]:
    """The like-for-like handle-time groups of the period's agent-handled conversations."""
    rows = events.query(STRATA_SQL, [deployment, start, end]).to_pylist()
    return [
        Stratum(
            int(r["n_ai"]),
            float(r["mean_ai"] or 0.0),
            float(r["sd_ai"]),
            int(r["n_without"]),
            float(r["mean_without"] or 0.0),
            float(r["sd_without"]),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class ChangeScope:
    """When a change shipped and the journeys it touched (none named: every journey)."""

    shipped_at: datetime
    journeys: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class BaselineEscalation:
    """The escalation rate escalations avoided are counted against, and what it rests on."""

    rate: float | None
    n: int | None = None  # conversations it was measured on (None: an imported value)
    se: float | None = None  # its standard error, where not a plain proportion of ``n``
    basis: str = ""
    # The baseline window's own rate (the KPI tables' baseline) where ``rate`` is not it but
    # an estimate of the same figure on more days.
    window_rate: float | None = None


def _day(at: datetime) -> str:
    return f"{at:%Y-%m-%d}"


def _journey_days(
    events: EventStore,
    name: str,
    origin: datetime,
    window_start: datetime,
    changes: Sequence[ChangeScope],
) -> list[JourneyDays]:
    """Each journey's daily conversations with an outcome and escalations from ``origin``,
    with the days before the first change at or after ``window_start`` that touched it and
    the day after the last one before it."""
    # The catalog's own counts (constant expressions of the metric definition, no input).
    metric = get_metric("escalation_rate")
    sql = (
        "SELECT coalesce(journey, '') AS journey, date_trunc('day', started_at) AS day, "  # noqa: S608
        f"{metric.denominator} AS n, {metric.numerator} AS esc FROM interactions "
        "WHERE deployment = ? AND started_at >= ? GROUP BY 1, 2"
    )
    rows = events.query(sql, [name, origin]).to_pylist()
    if not rows:
        return []
    first = origin.date()
    # A store may answer the day as a timestamp or as a date.
    day = [r["day"].date() if isinstance(r["day"], datetime) else r["day"] for r in rows]
    span = 1 + max((d - first).days for d in day)
    conv: dict[str, list[int]] = {}
    esc: dict[str, list[int]] = {}
    for r, d in zip(rows, day, strict=True):
        at = (d - first).days
        conv.setdefault(r["journey"], [0] * span)[at] += int(r["n"])
        esc.setdefault(r["journey"], [0] * span)[at] += int(r["esc"])

    def touched(journey: str) -> list[datetime]:
        return [c.shipped_at for c in changes if not c.journeys or journey in c.journeys]

    def unchanged(journey: str) -> int:
        after = [(t - origin).days for t in touched(journey) if t >= window_start]
        return min(after, default=span)

    def first_day(journey: str) -> int:
        # A change shipped on a day before the window: its journey's days begin the day after.
        before = [(t - origin).days + 1 for t in touched(journey) if t < window_start]
        return max(before, default=0)

    return [JourneyDays(j, conv[j], esc[j], unchanged(j), first_day(j)) for j in sorted(conv)]


def _go_live(deployment: DeploymentPublic | None, first_data: datetime | None) -> datetime | None:
    """Midnight of go-live (else of the first data): the earliest day a baseline draws on."""
    day = deployment.go_live if deployment and deployment.go_live else None
    if day is None and first_data is not None:
        day = first_data.date()
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


def escalation_baseline(
    events: EventStore,
    name: str,
    deployment: DeploymentPublic | None,
    first_data: datetime | None,
    changes: Sequence[ChangeScope] = (),
) -> BaselineEscalation:
    """The baseline escalation rate for escalations avoided: an imported value as it is; a
    window set with its end (``baseline_end``) measured on that window alone; otherwise each
    journey's rate pooled over the window and its unchanged days around it, at the journey mix
    of the days all were pooled over (:func:`daytwo.report.calc.pooled_escalation_baseline`).
    The days before the window, back to go-live, are drawn on only for the default window (a
    week after go-live): a window set with its start says where the baseline begins."""
    if deployment is not None and "escalation_rate" in deployment.baseline_values:
        return BaselineEscalation(
            deployment.baseline_values["escalation_rate"], basis="the imported baseline value"
        )
    window = baseline_window(deployment, first_data)
    if window is None:
        return BaselineEscalation(None)
    measured = totals(
        events, ["escalation_rate"], Slice(deployment=name, start=window[0], end=window[1])
    )
    at_window = measured["escalation_rate"]
    last = window[1] - timedelta(seconds=1)
    plain = BaselineEscalation(
        at_window.value,
        at_window.n,
        basis=f"the baseline window, {_day(window[0])} to {_day(last)}, "
        f"{at_window.n or 0:,} conversations",
    )
    if at_window.value is None or (deployment is not None and deployment.baseline_end):
        return plain
    origin = window[0]
    if deployment is None or deployment.baseline_start is None:
        origin = min(window[0], _go_live(deployment, first_data) or window[0])
    window_days = (window[1] - window[0]).days
    pooled = pooled_escalation_baseline(
        _journey_days(events, name, origin, window[0], changes),
        window_days,
        window_start=(window[0] - origin).days,
    )
    if pooled is None:
        return plain
    since = origin + timedelta(days=min(pooled.first_days.values(), default=0))
    through = origin + timedelta(days=max(pooled.days.values()) - 1)
    mix_from = origin + timedelta(days=pooled.mix_first_day)
    mix_end = origin + timedelta(days=pooled.mix_days - 1)
    basis = (
        f"each journey's rate on its days from {_day(since)} until a change or a move of "
        f"its rate (to {_day(through)} at the latest; {pooled.conversations:,} conversations), "
        f"at the journey mix of {_day(mix_from)} to {_day(mix_end)}"
    )
    if pooled.moved:
        basis += f"; moved before any change: {', '.join(pooled.moved)}"
    return BaselineEscalation(
        pooled.rate, pooled.conversations, pooled.se, basis, window_rate=at_window.value
    )


def period_counts(
    events: EventStore,
    name: str,
    start: datetime,
    end: datetime,
    deployment: DeploymentPublic | None,
    first_data: datetime | None,
    baseline: BaselineEscalation | None = None,
) -> PeriodCounts:
    """The period's counts, read through the metric catalog (the same numbers the metrics API
    answers), with the baseline's escalation rate and what it was measured on (``baseline``,
    else :func:`escalation_baseline` with no change known)."""
    s = Slice(deployment=name, start=start, end=end)
    tot = totals(events, ["contact_volume", "containment_rate", "ai_cost", "escalation_rate"], s)
    contained = tot["containment_rate"]
    if baseline is None:
        baseline = escalation_baseline(events, name, deployment, first_data)
    return PeriodCounts(
        days=(end - start).total_seconds() / 86_400,
        conversations=int(tot["contact_volume"].value or 0),
        contained=round((contained.value or 0.0) * (contained.n or 0)),
        escalation_rate=tot["escalation_rate"].value,
        baseline_escalation_rate=baseline.rate,
        baseline_escalation_n=baseline.n,
        baseline_escalation_se=baseline.se,
        baseline_escalation_basis=baseline.basis,
        baseline_window_escalation_rate=baseline.window_rate,
        ai_cost_reported=tot["ai_cost"].value,
        strata=strata(events, name, start, end),
    )


def issue_snapshot(
    ledger: Ledger,
    *,
    deployment: str,
    kind: str,
    period: str,
    as_of: datetime,
    payload: dict[str, Any],
    issued_by: str,
    title: str = "",
    html: str = "",
    pdf: bytes | None = None,
) -> IssuedReport:
    """Freeze a report's numbers as a new version of its period; earlier versions stay as they
    were, so last month's review reads the same next year."""
    if kind not in REPORT_KINDS:
        raise InputError(f"report kind {kind!r}: use one of {', '.join(REPORT_KINDS)}")
    with ledger.session() as session:
        latest = session.scalar(
            select(func.max(IssuedReport.version)).where(
                IssuedReport.deployment == deployment,
                IssuedReport.kind == kind,
                IssuedReport.period == period,
            )
        )
        row = IssuedReport(
            deployment=deployment,
            kind=kind,
            period=period,
            version=(latest or 0) + 1,
            as_of=as_of,
            code_version=version("daytwo"),
            issued_by=issued_by,
            payload=payload,
            title=title,
            html=html,
            pdf=pdf,
            sha256=hashlib.sha256(pdf).hexdigest() if pdf is not None else "",
        )
        session.add(row)
        session.flush()
        session.expunge(row)
        return row
