"""What a report reads (the metrics of the period) and how an issued report is kept."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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


def _day(at: datetime) -> str:
    return f"{at:%Y-%m-%d}"


def _journey_days(
    events: EventStore, name: str, start: datetime, changes: Sequence[ChangeScope]
) -> list[JourneyDays]:
    """Each journey's daily conversations with an outcome and escalations from ``start``, with
    the days before the first change that touched it."""
    # The catalog's own counts (constant expressions of the metric definition, no input).
    metric = get_metric("escalation_rate")
    sql = (
        "SELECT coalesce(journey, '') AS journey, date_trunc('day', started_at) AS day, "  # noqa: S608
        f"{metric.denominator} AS n, {metric.numerator} AS esc FROM interactions "
        "WHERE deployment = ? AND started_at >= ? GROUP BY 1, 2"
    )
    rows = events.query(sql, [name, start]).to_pylist()
    if not rows:
        return []
    origin = start.date()
    # A store may answer the day as a timestamp or as a date.
    day = [r["day"].date() if isinstance(r["day"], datetime) else r["day"] for r in rows]
    span = 1 + max((d - origin).days for d in day)
    conv: dict[str, list[int]] = {}
    esc: dict[str, list[int]] = {}
    for r, d in zip(rows, day, strict=True):
        at = (d - origin).days
        conv.setdefault(r["journey"], [0] * span)[at] += int(r["n"])
        esc.setdefault(r["journey"], [0] * span)[at] += int(r["esc"])

    def unchanged(journey: str) -> int:
        touched = [c.shipped_at for c in changes if not c.journeys or journey in c.journeys]
        return min(((t - start).days for t in touched), default=span)

    return [JourneyDays(j, conv[j], esc[j], unchanged(j)) for j in sorted(conv)]


def escalation_baseline(
    events: EventStore,
    name: str,
    deployment: DeploymentPublic | None,
    first_data: datetime | None,
    changes: Sequence[ChangeScope] = (),
) -> BaselineEscalation:
    """The baseline escalation rate for escalations avoided: an imported value as it is; a
    window set with its end (``baseline_end``) measured on that window alone; otherwise each
    journey's rate pooled over the window and its unchanged days after it, at the window's
    journey mix (:func:`daytwo.report.calc.pooled_escalation_baseline`)."""
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
    window_days = (window[1] - window[0]).days
    pooled = pooled_escalation_baseline(
        _journey_days(events, name, window[0], changes), window_days
    )
    if pooled is None:
        return plain
    through = window[0] + timedelta(days=max(pooled.days.values()) - 1)
    mix_end = window[0] + timedelta(days=pooled.mix_days - 1)
    basis = (
        f"each journey's rate on its days from {_day(window[0])} until a change or a move of "
        f"its rate (to {_day(through)} at the latest; {pooled.conversations:,} conversations), "
        f"at the journey mix of {_day(window[0])} to {_day(mix_end)}"
    )
    if pooled.moved:
        basis += f"; moved before any change: {', '.join(pooled.moved)}"
    return BaselineEscalation(pooled.rate, pooled.conversations, pooled.se, basis)


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
