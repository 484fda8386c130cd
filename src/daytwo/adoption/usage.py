"""Who uses the AI, how often and how far: the headline, the funnel, breakdowns and trend.

Everything here reads the adoption rollups (:mod:`daytwo.adoption.rollup`) for one deployment
and one period, plus the period before it of the same length for the comparison.

Definitions (``docs/adoption.md`` says them in plain words):

- **acceptance**: suggestions accepted or edited and used / suggestions shown;
- **usage**: agent conversations in which the AI was used / those that report it;
- **workflow completion**: assisted conversations (a suggestion used) whose wrap-up step
  (the summary) was used too;
- **active agents**: agents who used at least one suggestion, daily (mean over the days of the
  period) and weekly (the last 7 days of the period); **offered**: agents shown one;
- **frequency**: suggestions used per active agent per day on which they used one;
- **time to accept**: from a suggestion shown to its use, median from a histogram of exact
  counts (linear inside the bucket).
"""

# SQL here is built from module constants and validated keys, never from user input.
# ruff: noqa: S608

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from daytwo.adoption.rollup import AGENT_DAILY, AGENT_DAYS, FEATURE_DAYS, TTA_BOUNDS, source
from daytwo.adoption.schemas import (
    PRIVACY_FLOOR,
    FunnelRow,
    GroupRow,
    Headline,
    Period,
    TrendPoint,
)
from daytwo.adoption.wording import feature_label
from daytwo.errors import InputError
from daytwo.store.events import EventStore

AGENT_GROUP_KEYS = ("site", "team", "tenure", "journey", "cohort")


def _f(value: Any) -> float:
    return float(value) if value is not None else 0.0


def ratio(num: Any, den: Any) -> float | None:
    """``num / den``; None where the denominator is 0 or missing."""
    d = _f(den)
    return _f(num) / d if d > 0 else None


def previous(period: Period) -> Period:
    span = period.end - period.start
    return Period(start=period.start - span, end=period.start)


def _current(period: Period) -> str:
    """SQL: the row's day is in ``period`` (not the period before it). A date literal from a
    datetime, never user text."""
    return f"day >= DATE '{period.start.date().isoformat()}'"


def _agent_rows(
    events: EventStore,
    deployment: str,
    period: Period,
    select: str,
    tail: str = "",
    *,
    by_journey: bool = False,
) -> list[dict[str, Any]]:
    before = previous(period)
    table = AGENT_DAYS if by_journey else AGENT_DAILY
    rel, params = source(events, table, deployment, before.start, period.end)
    rows: list[dict[str, Any]] = events.query(select.format(rel=rel) + tail, params).to_pylist()
    return rows


def headline(events: EventStore, deployment: str, period: Period, target: float | None) -> Headline:
    """The period's acceptance (vs the period before and the target), usage, completion and
    active agents."""
    cur = _current(period)
    rows = _agent_rows(
        events,
        deployment,
        period,
        "SELECT "
        f"sum(used) FILTER (WHERE {cur}) AS used, sum(shown) FILTER (WHERE {cur}) AS shown, "
        f"sum(used) FILTER (WHERE NOT {cur}) AS p_used, "
        f"sum(shown) FILTER (WHERE NOT {cur}) AS p_shown, "
        f"sum(ai_used) FILTER (WHERE {cur}) AS ai_used, "
        f"sum(ai_known) FILTER (WHERE {cur}) AS ai_known, "
        f"sum(assisted) FILTER (WHERE {cur}) AS assisted, "
        f"sum(completed) FILTER (WHERE {cur}) AS completed "
        "FROM {rel}",
    )
    r = rows[0]
    rel, params = source(events, AGENT_DAILY, deployment, period.start, period.end)
    last_week = period.end - timedelta(days=7)
    act = events.query(
        "SELECT count(DISTINCT agent_ref) FILTER (WHERE shown > 0) AS offered, "
        "count(DISTINCT agent_ref) FILTER (WHERE used > 0 AND day >= CAST(? AS DATE)) AS weekly, "
        "count(DISTINCT (agent_ref, day)) FILTER (WHERE used > 0) AS agent_days, "
        "sum(used) AS used, count(DISTINCT day) AS days "
        f"FROM {rel}",
        [last_week, *params],
    ).to_pylist()[0]
    acceptance = ratio(r["used"], r["shown"])
    status = None
    if target is not None and acceptance is not None:
        status = (
            "on_target"
            if acceptance >= target
            else ("at_risk" if acceptance >= 0.9 * target else "breached")
        )
    return Headline(
        acceptance=acceptance,
        acceptance_n=int(_f(r["shown"])),
        previous_acceptance=ratio(r["p_used"], r["p_shown"]),
        target=target,
        status=status,
        usage=ratio(r["ai_used"], r["ai_known"]),
        completion=ratio(r["completed"], r["assisted"]),
        agents_offered=int(act["offered"] or 0),
        active_daily=_f(act["agent_days"]) / max(1, period.days),
        active_weekly=int(act["weekly"] or 0),
        frequency=ratio(act["used"], act["agent_days"]),
    )


def _hist_median(counts: list[float]) -> float | None:
    """The median of a histogram over ``TTA_BOUNDS`` (the last bucket is open: its lower
    bound stands for it), linear inside the bucket that holds it."""
    total = sum(counts)
    if total <= 0:
        return None
    half = total / 2
    low = 0.0
    seen = 0.0
    for high, n in zip([*TTA_BOUNDS, None], counts, strict=True):
        if seen + n >= half and n > 0:
            if high is None:
                return low
            return low + (half - seen) / n * (high - low)
        seen += n
        low = float(high) if high is not None else low
    return low


def funnel(events: EventStore, deployment: str, period: Period) -> list[FunnelRow]:
    """Per feature: shown → accepted / edited / dismissed / ignored, time to accept."""
    rel, params = source(events, FEATURE_DAYS, deployment, period.start, period.end)
    buckets = [f"tta_lt_{b}" for b in TTA_BOUNDS] + [f"tta_ge_{TTA_BOUNDS[-1]}"]
    sums = ", ".join(f"sum({b}) AS {b}" for b in buckets)
    rows = events.query(
        "SELECT feature, sum(shown) AS shown, sum(accepted) AS accepted, sum(edited) AS edited, "
        "sum(dismissed) AS dismissed, sum(tta_s) AS tta_s, sum(tta_n) AS tta_n, "
        f"sum(latency_s) AS latency_s, sum(latency_n) AS latency_n, {sums} "
        f"FROM {rel} GROUP BY feature ORDER BY sum(shown) DESC",
        params,
    ).to_pylist()
    out = []
    for r in rows:
        shown, acc, ed, dis = (int(_f(r[k])) for k in ("shown", "accepted", "edited", "dismissed"))
        out.append(
            FunnelRow(
                feature=r["feature"],
                label=feature_label(r["feature"]),
                shown=shown,
                accepted=acc,
                edited=ed,
                dismissed=dis,
                ignored=max(0, shown - acc - ed - dis),
                acceptance=(acc + ed) / shown if shown else None,
                tta_median_s=_hist_median([_f(r[b]) for b in buckets]),
                tta_mean_s=ratio(r["tta_s"], r["tta_n"]),
                latency_mean_ms=ratio(r["latency_s"], r["latency_n"]),
            )
        )
    return out


def groups(
    events: EventStore, deployment: str, period: Period, key: str, *, floor: int | None
) -> list[GroupRow]:
    """One row per value of ``key`` (site, team, tenure, journey, cohort or feature), with the
    period before for comparison. ``floor``: hide groups of fewer agents (for viewers)."""
    if key == "feature":
        return _feature_groups(events, deployment, period, floor)
    if key not in AGENT_GROUP_KEYS:
        raise InputError(f"Cannot break adoption down by {key!r}: use site, team, tenure, "
                         "journey, cohort or feature.")  # fmt: skip
    cur = _current(period)
    rows = _agent_rows(
        events,
        deployment,
        period,
        f"SELECT {key} AS value, "
        f"count(DISTINCT agent_ref) FILTER (WHERE {cur}) AS agents, "
        f"sum(conversations) FILTER (WHERE {cur}) AS conversations, "
        f"sum(shown) FILTER (WHERE {cur}) AS shown, sum(used) FILTER (WHERE {cur}) AS used, "
        f"sum(shown) FILTER (WHERE NOT {cur}) AS p_shown, "
        f"sum(used) FILTER (WHERE NOT {cur}) AS p_used, "
        f"sum(ai_used) FILTER (WHERE {cur}) AS ai_used, "
        f"sum(ai_known) FILTER (WHERE {cur}) AS ai_known, "
        f"sum(assisted) FILTER (WHERE {cur}) AS assisted, "
        f"sum(completed) FILTER (WHERE {cur}) AS completed "
        "FROM {rel}",
        f" GROUP BY {key} HAVING {key} IS NOT NULL ORDER BY {key}",
        by_journey=key == "journey",
    )
    out = []
    for r in rows:
        agents = int(r["agents"] or 0)
        if agents == 0:
            continue
        row = GroupRow(
            key=key,
            value=str(r["value"]),
            agents=agents,
            conversations=int(_f(r["conversations"])),
            shown=int(_f(r["shown"])),
            acceptance=ratio(r["used"], r["shown"]),
            previous_acceptance=ratio(r["p_used"], r["p_shown"]),
            usage=ratio(r["ai_used"], r["ai_known"]),
            completion=ratio(r["completed"], r["assisted"]),
        )
        out.append(suppress(row, floor))
    return out


def suppress(row: GroupRow, floor: int | None) -> GroupRow:
    """The row with its numbers hidden when it has fewer than ``floor`` agents."""
    if floor is None or row.agents >= floor:
        return row
    return GroupRow(
        key=row.key,
        value=row.value,
        agents=row.agents,
        conversations=None,
        shown=None,
        acceptance=None,
        previous_acceptance=None,
        usage=None,
        completion=None,
        suppressed=f"fewer than {floor} agents: hidden to protect the people measured",
    )


def _feature_groups(
    events: EventStore, deployment: str, period: Period, floor: int | None
) -> list[GroupRow]:
    before = previous(period)
    rel, params = source(events, FEATURE_DAYS, deployment, before.start, period.end)
    cur = _current(period)
    rows = events.query(
        "SELECT feature AS value, "
        f"count(DISTINCT agent_ref) FILTER (WHERE {cur} AND shown > 0) AS agents, "
        f"sum(shown) FILTER (WHERE {cur}) AS shown, "
        f"sum(accepted + edited) FILTER (WHERE {cur}) AS used, "
        f"sum(shown) FILTER (WHERE NOT {cur}) AS p_shown, "
        f"sum(accepted + edited) FILTER (WHERE NOT {cur}) AS p_used "
        f"FROM {rel} GROUP BY feature ORDER BY feature",
        params,
    ).to_pylist()
    out = []
    for r in rows:
        agents = int(r["agents"] or 0)
        if not agents:
            continue
        row = GroupRow(
            key="feature",
            value=str(r["value"]),
            agents=agents,
            conversations=None,
            shown=int(_f(r["shown"])),
            acceptance=ratio(r["used"], r["shown"]),
            previous_acceptance=ratio(r["p_used"], r["p_shown"]),
            usage=None,
            completion=None,
        )
        out.append(suppress(row, floor))
    return out


def trend(
    events: EventStore, deployment: str, start: datetime, end: datetime, by: str | None = "cohort"
) -> list[TrendPoint]:
    """Weekly acceptance over ``[start, end)``, overall and per value of ``by``."""
    rel, params = source(events, AGENT_DAILY, deployment, start, end)
    series = f"coalesce({by}, 'all')" if by in AGENT_GROUP_KEYS else "'all'"
    rows = events.query(
        f"SELECT date_trunc('week', day) AS week, {series} AS series, "
        "sum(used) AS used, sum(shown) AS shown "
        f"FROM {rel} GROUP BY GROUPING SETS ((1), (1, 2)) ORDER BY 1, 2",
        params,
    ).to_pylist()
    out = []
    for r in rows:
        week = r["week"]
        day = week.date() if isinstance(week, datetime) else week
        assert isinstance(day, date)
        out.append(
            TrendPoint(
                week=day,
                series=r["series"] if r["series"] is not None else "all",
                acceptance=ratio(r["used"], r["shown"]),
                shown=int(_f(r["shown"])),
            )
        )
    return out


def agent_table(events: EventStore, deployment: str, start: datetime, end: datetime) -> Any:
    """Per agent and day (for the per-agent tests): the rollup rows summed over journeys."""
    rel, params = source(events, AGENT_DAILY, deployment, start, end)
    return events.query(
        "SELECT agent_ref, day, arg_max(site, conversations) AS site, "
        "arg_max(team, conversations) AS team, arg_max(tenure, conversations) AS tenure, "
        "arg_max(cohort, conversations) AS cohort, sum(conversations) AS conversations, "
        "sum(shown) AS shown, sum(used) AS used, sum(ai_used) AS ai_used, "
        f"sum(ai_known) AS ai_known FROM {rel} GROUP BY agent_ref, day ORDER BY agent_ref, day",
        params,
    )


def feature_table(events: EventStore, deployment: str, start: datetime, end: datetime) -> Any:
    """Per agent, day and feature: offered and used."""
    rel, params = source(events, FEATURE_DAYS, deployment, start, end)
    return events.query(
        "SELECT agent_ref, day, feature, sum(shown) AS shown, sum(accepted + edited) AS used "
        f"FROM {rel} GROUP BY ALL ORDER BY agent_ref, day",
        params,
    )


__all__ = [
    "PRIVACY_FLOOR",
    "agent_table",
    "feature_table",
    "funnel",
    "groups",
    "headline",
    "previous",
    "suppress",
    "trend",
]
