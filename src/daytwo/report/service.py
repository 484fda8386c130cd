"""What a report reads (the metrics of the period) and how an issued report is kept."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
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

# The value's escalation baseline is the baseline window extended while the deployment runs
# unchanged (up to its first recorded change), unless the extension's rate differs from the
# window's beyond this two-sided z (99%): a drift nobody recorded ends the extension too.
DRIFT_Z = 2.576

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
class EscalationBaseline:
    """The escalation rate a period's escalations avoided are counted against, and what it was
    measured on."""

    rate: float
    n: int  # conversations with an outcome it was measured on
    start: datetime
    end: datetime
    basis: str  # why it spans what it spans, in words


def escalation_baseline(
    events: EventStore,
    name: str,
    window: tuple[datetime, datetime],
    extend_to: datetime | None,
) -> EscalationBaseline | None:
    """The baseline window's escalation rate, measured on the window extended to ``extend_to``
    (the first change shipped after the window, or the period's end) while the extension's rate
    is consistent with the window's: the longer the baseline, the smaller its sampling error."""
    w = totals(events, ["escalation_rate"], Slice(deployment=name, start=window[0], end=window[1]))
    base = w["escalation_rate"]
    if base.value is None or not base.n:
        return None
    window_only = EscalationBaseline(
        base.value, base.n, window[0], window[1], "the baseline window"
    )
    if extend_to is None or extend_to <= window[1]:
        return window_only
    x = totals(events, ["escalation_rate"], Slice(deployment=name, start=window[1], end=extend_to))
    ext = x["escalation_rate"]
    if ext.value is None or not ext.n:
        return window_only
    n = base.n + ext.n
    rate = (base.value * base.n + ext.value * ext.n) / n
    spread = math.sqrt(rate * (1 - rate) * (1 / base.n + 1 / ext.n))
    if spread > 0 and abs(ext.value - base.value) / spread > DRIFT_Z:
        return EscalationBaseline(
            base.value,
            base.n,
            window[0],
            window[1],
            "the baseline window (the days after it escalate at another rate: not pooled)",
        )
    return EscalationBaseline(
        rate, n, window[0], extend_to, "the baseline window and the unchanged days after it"
    )


def period_counts(
    events: EventStore,
    name: str,
    start: datetime,
    end: datetime,
    deployment: DeploymentPublic | None,
    first_data: datetime | None,
    changes_at: Sequence[datetime] = (),
) -> PeriodCounts:
    """The period's counts, read through the metric catalog (the same numbers the metrics API
    answers), with the escalation baseline of its escalations avoided.

    That baseline is the baseline window's rate measured over the window and the days after it
    up to the deployment's first change (``changes_at``: when each change shipped) or the
    period's end, whichever is first, unless those days drifted (``DRIFT_Z``). A window whose
    end is configured, or a baseline imported as a value, is taken as it is."""
    s = Slice(deployment=name, start=start, end=end)
    tot = totals(events, ["contact_volume", "containment_rate", "ai_cost"], s)
    esc = summaries(events, ["escalation_rate"], s, deployment, first_data)[0]
    contained = tot["containment_rate"]
    window = baseline_window(deployment, first_data)
    imported = deployment is not None and "escalation_rate" in deployment.baseline_values
    baseline: EscalationBaseline | None = None
    if window is not None and not imported and esc.baseline is not None:
        fixed = deployment is not None and deployment.baseline_end is not None
        later = [c for c in changes_at if c >= window[1]]
        baseline = escalation_baseline(events, name, window, None if fixed else min([end, *later]))
    return PeriodCounts(
        days=(end - start).total_seconds() / 86_400,
        conversations=int(tot["contact_volume"].value or 0),
        contained=round((contained.value or 0.0) * (contained.n or 0)),
        escalation_rate=esc.value,
        baseline_escalation_rate=baseline.rate if baseline else esc.baseline,
        baseline_escalation_n=baseline.n if baseline else None,
        baseline_escalation_basis=(
            f"{baseline.basis}, {baseline.start:%Y-%m-%d} to "
            f"{baseline.end - timedelta(seconds=1):%Y-%m-%d}, {baseline.n:,} conversations"
            if baseline
            else "the imported baseline value"
            if imported
            else ""
        ),
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
