"""What a report's value section reads from the events store: the metrics of the period."""

from __future__ import annotations

from datetime import datetime

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.interactions.slice import Slice
from daytwo.metrics.service import summaries, totals
from daytwo.report.calc import PeriodCounts, Stratum
from daytwo.store.events import EventStore

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
    answers), with the baseline's escalation rate."""
    s = Slice(deployment=name, start=start, end=end)
    tot = totals(events, ["contact_volume", "containment_rate", "ai_cost"], s)
    esc = summaries(events, ["escalation_rate"], s, deployment, first_data)[0]
    contained = tot["containment_rate"]
    return PeriodCounts(
        days=(end - start).total_seconds() / 86_400,
        conversations=int(tot["contact_volume"].value or 0),
        contained=round((contained.value or 0.0) * (contained.n or 0)),
        escalation_rate=esc.value,
        baseline_escalation_rate=esc.baseline,
        ai_cost_reported=tot["ai_cost"].value,
        strata=strata(events, name, start, end),
    )
