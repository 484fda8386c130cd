"""The adoption domain's exact rollups: per agent and day, what they were offered and used.

Two derived tables (see :mod:`daytwo.store.events.derived`), recomputed per day from the raw
events whenever a day changes, so never stale and never approximate:

- ``adoption_agent_days``: per deployment × day × agent × site × team × tenure × cohort ×
  journey (of the agent's conversations): conversations, how many used the AI, suggestions
  shown / used / edited / dismissed, workflows completed, and the outcomes (handle time, CSAT,
  resolution, escalation) of conversations with and without the AI, as sums that add up;
- ``adoption_agent_daily``: the same summed over journeys, one row per agent and day (what
  every reader but the like-for-like comparisons needs);
- ``adoption_feature_days``: per deployment × day × agent × feature: shown, accepted, edited,
  dismissed, time from shown to accepted (sum, count and a histogram for the median), and the
  time a suggestion took to appear (``latency_ms`` on the ``shown`` event, where sent).

Engines without derived tables read the same SELECT over the raw rows of the range asked for
(:func:`source`), so both paths give the same numbers.
"""

# SQL here is built from module constants, never from user input.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from daytwo.store.events import EventStore
from daytwo.store.events.derived import REFRESH_DAYS, DerivedTable, register

AGENT_DAYS = "adoption_agent_days"
AGENT_DAILY = "adoption_agent_daily"
FEATURE_DAYS = "adoption_feature_days"
# The feature whose use closes an assisted workflow (the wrap-up summary).
COMPLETION_FEATURE = "summary"
# Upper bounds (seconds) of the time-to-accept histogram's buckets; the last is open.
TTA_BOUNDS = (2, 5, 10, 20, 40, 80)
_USED = "action IN ('accepted', 'edited')"
_RESOLVED = "('resolved_by_agent', 'contained')"
_ESCALATED = "('escalated', 'transferred')"


def _outcomes(prefix: str, where: str) -> list[tuple[str, str, str]]:
    """Columns for the outcomes of conversations matching ``where`` (AI used, or legacy)."""
    f = f" FILTER (WHERE {where})"
    return [
        (f"{prefix}_n", "BIGINT", f"count(*){f}"),
        (f"{prefix}_handle_s", "DOUBLE", f"sum(handle_time_s){f}"),
        (f"{prefix}_handle_n", "BIGINT", f"count(handle_time_s){f}"),
        (f"{prefix}_csat_s", "DOUBLE", f"sum(csat){f}"),
        (f"{prefix}_csat_n", "BIGINT", f"count(csat){f}"),
        (f"{prefix}_resolved", "BIGINT", f"count_if(outcome IN {_RESOLVED}){f}"),
        (f"{prefix}_escalated", "BIGINT", f"count_if(outcome IN {_ESCALATED}){f}"),
        (f"{prefix}_outcome_n", "BIGINT", f"count(outcome){f}"),
    ]


AGENT_MEASURES: list[tuple[str, str, str]] = [
    ("conversations", "BIGINT", "count(*)"),
    ("offered", "BIGINT", "count_if(n_assist_shown > 0)"),
    ("ai_used", "BIGINT", "count_if(ai_used)"),
    ("ai_known", "BIGINT", "count(ai_used)"),
    ("shown", "BIGINT", "sum(n_assist_shown)"),
    ("used", "BIGINT", "sum(least(n_assist_accepted + n_assist_edited, n_assist_shown))"),
    ("edited", "BIGINT", "sum(n_assist_edited)"),
    ("dismissed", "BIGINT", "sum(n_assist_dismissed)"),
    ("assisted", "BIGINT", "count_if(n_assist_accepted + n_assist_edited > 0)"),
    ("completed", "BIGINT", "count_if(n_assist_accepted + n_assist_edited > 0 AND c.completed)"),
    *_outcomes("ai", "ai_used"),
    *_outcomes("legacy", "NOT ai_used"),
]
AGENT_KEYS = ("agent_ref", "site", "team", "tenure", "cohort", "journey")


def _agent_days_select(days: str) -> str:
    measures = ", ".join(f"{expr} AS {name}" for name, _, expr in AGENT_MEASURES)
    completed = (
        "SELECT a.deployment, a.interaction_id, bool_or(a.feature = "
        f"'{COMPLETION_FEATURE}' AND a.{_USED}) AS completed FROM assist_events a "
        "SEMI JOIN (SELECT deployment, interaction_id FROM interactions i "
        f"SEMI JOIN {days} d ON i.deployment = d.deployment "
        "AND CAST(i.started_at AS DATE) = d.day) k "
        "ON a.deployment = k.deployment AND a.interaction_id = k.interaction_id GROUP BY 1, 2"
    )
    return (
        "SELECT i.deployment, CAST(i.started_at AS DATE) AS day, i.agent_ref, "
        "i.segments['site'] AS site, i.segments['team'] AS team, "
        "i.segments['tenure'] AS tenure, i.segments['cohort'] AS cohort, i.journey, "
        f"{measures} FROM interactions i SEMI JOIN {days} d ON i.deployment = d.deployment "
        f"AND CAST(i.started_at AS DATE) = d.day LEFT JOIN ({completed}) c "
        "ON c.deployment = i.deployment AND c.interaction_id = i.interaction_id "
        "WHERE i.agent_ref IS NOT NULL GROUP BY ALL"
    )


def _agent_days_table() -> DerivedTable:
    columns = ", ".join(
        [
            "deployment VARCHAR NOT NULL",
            "day DATE NOT NULL",
            *(f"{k} VARCHAR" for k in AGENT_KEYS),
            *(f"{name} {kind}" for name, kind, _ in AGENT_MEASURES),
        ]
    )
    return DerivedTable(AGENT_DAYS, columns, _agent_days_select(REFRESH_DAYS))


def _tta_buckets() -> list[tuple[str, str]]:
    out = []
    low = 0
    for high in TTA_BOUNDS:
        out.append((f"tta_lt_{high}", f"count_if(tta >= {low} AND tta < {high})"))
        low = high
    out.append((f"tta_ge_{TTA_BOUNDS[-1]}", f"count_if(tta >= {TTA_BOUNDS[-1]})"))
    return out


FEATURE_MEASURES: list[tuple[str, str]] = [
    ("shown", "count_if(action = 'shown')"),
    ("accepted", "count_if(action = 'accepted')"),
    ("edited", "count_if(action = 'edited')"),
    ("dismissed", "count_if(action = 'dismissed')"),
    ("tta_s", "sum(tta)"),
    ("tta_n", "count(tta)"),
    *_tta_buckets(),
    ("latency_s", "sum(latency_ms)"),
    ("latency_n", "count(latency_ms)"),
]


def _feature_days_select(days: str) -> str:
    measures = ", ".join(f"{expr} AS {name}" for name, expr in FEATURE_MEASURES)
    events = (
        "SELECT a.deployment, a.interaction_id, a.action, a.feature, "
        "coalesce(a.agent_ref, i.agent_ref) AS agent_ref, CAST(i.started_at AS DATE) AS day, "
        "CASE WHEN a.action = 'shown' THEN TRY_CAST(json_extract_string(a.attributes, "
        "'$.latency_ms') AS DOUBLE) END AS latency_ms, "
        f"CASE WHEN a.{_USED} THEN epoch(a.ts) - epoch(last_value(CASE WHEN a.action = 'shown' "
        "THEN a.ts END IGNORE NULLS) OVER (PARTITION BY a.deployment, a.interaction_id, "
        "a.feature ORDER BY a.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) END AS tta "
        "FROM assist_events a JOIN interactions i ON i.deployment = a.deployment "
        f"AND i.interaction_id = a.interaction_id SEMI JOIN {days} d "
        "ON i.deployment = d.deployment AND CAST(i.started_at AS DATE) = d.day"
    )
    return (
        f"SELECT deployment, day, agent_ref, feature, {measures} FROM ({events}) e "
        "WHERE agent_ref IS NOT NULL AND feature IS NOT NULL GROUP BY ALL"
    )


def _feature_days_table() -> DerivedTable:
    columns = ", ".join(
        [
            "deployment VARCHAR NOT NULL",
            "day DATE NOT NULL",
            "agent_ref VARCHAR",
            "feature VARCHAR",
            *(f"{name} DOUBLE" for name, _ in FEATURE_MEASURES),
        ]
    )
    return DerivedTable(FEATURE_DAYS, columns, _feature_days_select(REFRESH_DAYS))


# A range that holds any deployment's whole history, inside the days both engines hold (the
# ClickHouse store refuses a day after 2299-12-31).
EVER = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2149, 6, 1, tzinfo=UTC))


def _agent_daily_select(agent_days: str) -> str:
    """``agent_days`` (a relation) summed over journeys: one row per agent and day."""
    sums = ", ".join(f"sum({name}) AS {name}" for name, _, _ in AGENT_MEASURES)
    keys = ", ".join(k for k in AGENT_KEYS if k != "journey")
    return f"SELECT deployment, day, {keys}, {sums} FROM {agent_days} a GROUP BY ALL"


def _agent_daily_table() -> DerivedTable:
    """The agent rollup without the journey: what every reader but the like-for-like
    comparisons needs, at a tenth of the rows."""
    columns = ", ".join(
        [
            "deployment VARCHAR NOT NULL",
            "day DATE NOT NULL",
            *(f"{k} VARCHAR" for k in AGENT_KEYS if k != "journey"),
            *(f"{name} {kind}" for name, kind, _ in AGENT_MEASURES),
        ]
    )
    select = _agent_daily_select(
        f"(SELECT t.* FROM {AGENT_DAYS} t SEMI JOIN {REFRESH_DAYS} d "
        "ON t.deployment = d.deployment AND t.day = d.day)"
    )
    return DerivedTable(AGENT_DAILY, columns, select, depends=(AGENT_DAYS,))


TABLES = (
    register(_agent_days_table()),
    register(_feature_days_table()),
    register(_agent_daily_table()),
)


def _agent_daily_raw(days: str) -> str:
    return _agent_daily_select(f"({_agent_days_select(days)})")


_RAW: dict[str, Callable[[str], str]] = {
    AGENT_DAYS: _agent_days_select,
    FEATURE_DAYS: _feature_days_select,
    AGENT_DAILY: _agent_daily_raw,
}
_RAW_DAYS = (
    "(SELECT DISTINCT deployment, CAST(started_at AS DATE) AS day FROM interactions "
    "WHERE deployment = ? AND started_at >= ? AND started_at < ?)"
)


def source(
    events: EventStore, name: str, deployment: str, start: datetime, end: datetime
) -> tuple[str, list[Any]]:
    """A FROM-able relation of table ``name`` for ``deployment`` and whole days in
    ``[start, end)``, and its parameters: the derived table where the store keeps it current,
    else the same SELECT over the raw rows of those days."""
    if events.derived_ready(name):
        return (
            f"(SELECT * FROM {name} WHERE deployment = ? AND day >= CAST(? AS DATE) "
            "AND day < CAST(? AS DATE))",
            [deployment, start, end],
        )
    select = _RAW[name](_RAW_DAYS)
    # The day list appears once per use in the SELECT; each use takes the same parameters.
    uses = select.count(_RAW_DAYS)
    return f"({select})", [deployment, start, end] * uses
