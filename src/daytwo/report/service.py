"""What a report reads (the metrics of the period) and how an issued report is kept."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import Any

from sqlalchemy import func, select

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.errors import InputError
from daytwo.interactions.slice import Slice
from daytwo.metrics.service import baseline_window, summaries, totals
from daytwo.report.calc import PeriodCounts, Stratum
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


def period_counts(
    events: EventStore,
    name: str,
    start: datetime,
    end: datetime,
    deployment: DeploymentPublic | None,
    first_data: datetime | None,
) -> PeriodCounts:
    """The period's counts, read through the metric catalog (the same numbers the metrics API
    answers), with the baseline's escalation rate and what it was measured on."""
    s = Slice(deployment=name, start=start, end=end)
    tot = totals(events, ["contact_volume", "containment_rate", "ai_cost"], s)
    esc = summaries(events, ["escalation_rate"], s, deployment, first_data)[0]
    contained = tot["containment_rate"]
    # The baseline's own size, for the interval of escalations avoided (none when the baseline
    # was imported as a value rather than measured on a window).
    baseline_n: int | None = None
    basis = ""
    window = baseline_window(deployment, first_data)
    imported = deployment is not None and "escalation_rate" in deployment.baseline_values
    if imported:
        basis = "the imported baseline value"
    elif window is not None and esc.baseline is not None:
        w = Slice(deployment=name, start=window[0], end=window[1])
        baseline_n = totals(events, ["escalation_rate"], w)["escalation_rate"].n
        basis = (
            f"the baseline window, {window[0]:%Y-%m-%d} to "
            f"{window[1] - timedelta(seconds=1):%Y-%m-%d}, {baseline_n or 0:,} conversations"
        )
    return PeriodCounts(
        days=(end - start).total_seconds() / 86_400,
        conversations=int(tot["contact_volume"].value or 0),
        contained=round((contained.value or 0.0) * (contained.n or 0)),
        escalation_rate=esc.value,
        baseline_escalation_rate=esc.baseline,
        baseline_escalation_n=baseline_n,
        baseline_escalation_basis=basis,
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
