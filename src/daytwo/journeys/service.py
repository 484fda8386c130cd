"""Per-journey KPIs, outcome funnels and the turn positions of fallbacks and escalations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from daytwo.journeys import rollup as journey_rollup
from daytwo.metrics import calc, rollup
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.query import Slice, dimension_sql
from daytwo.metrics.schemas import MetricPoint
from daytwo.metrics.service import metric_points
from daytwo.store.events import EventStore

OUTCOME_ORDER = journey_rollup.OUTCOME_ORDER


@dataclass(frozen=True, slots=True)
class Cell:
    """One metric of one journey: now, at the baseline, and against the target."""

    point: MetricPoint
    baseline: float | None
    delta: float | None  # now − baseline
    status: str  # calc.target_status against the deployment's target


@dataclass(frozen=True, slots=True)
class JourneyRow:
    journey: str
    values: dict[str, Cell]
    trend: list[float | None]  # weekly values of the kind's journey trend metric


def _journey(p: MetricPoint) -> str:
    name = p.group.get("journey")
    return str(name) if name is not None else "(none)"


def journey_table(
    events: EventStore,
    s: Slice,
    metrics: Sequence[str],
    *,
    trend_metric: str,
    baseline: tuple[datetime, datetime] | None,
    targets: Mapping[str, float],
) -> list[JourneyRow]:
    """One row per journey, busiest first: each of ``metrics`` now, its baseline (the same
    journey in the baseline window) and its status against the deployment's target, and a
    weekly trend of ``trend_metric``."""
    ids = list(dict.fromkeys(["contact_volume", *metrics]))
    by_journey = replace(s, group_by=("journey",))
    points = metric_points(events, ids, by_journey)
    base: dict[tuple[str, str], float | None] = {}
    if baseline is not None:
        window = replace(by_journey, start=baseline[0], end=baseline[1])
        base = {(_journey(p), p.metric): p.value for p in metric_points(events, ids, window)}
    weekly = metric_points(events, [trend_metric], replace(by_journey, bucket="week"))
    rows: dict[str, dict[str, Cell]] = {}
    for p in points:
        name = _journey(p)
        m = REGISTRY[p.metric]
        before = base.get((name, p.metric))
        est = calc.Estimate(p.value, p.n, p.lo, p.hi)
        rows.setdefault(name, {})[p.metric] = Cell(
            point=p,
            baseline=before,
            delta=calc.delta(p.value, before),
            status=calc.target_status(est, targets.get(p.metric), m.good),
        )
    trends: dict[str, list[float | None]] = {}
    for p in weekly:
        trends.setdefault(_journey(p), []).append(p.value)
    out = [JourneyRow(j, v, trends.get(j, [])) for j, v in rows.items()]
    out.sort(key=lambda r: -(r.values["contact_volume"].point.value or 0))
    return out


def _where(s: Slice, alias: str = "") -> tuple[str, list[Any]]:
    a = f"{alias}." if alias else ""
    sql = f"{a}deployment = ? AND {a}started_at >= ? AND {a}started_at < ?"
    params: list[Any] = [s.deployment, s.start, s.end]
    for dim, values in s.filters:
        sql += f" AND {dimension_sql(dim, alias)} IN ({', '.join('?' for _ in values)})"
        params.extend(values)
    return sql, params


def _at_midnight(t: datetime) -> bool:
    u = t.astimezone(UTC)
    return (u.hour, u.minute, u.second, u.microsecond) == (0, 0, 0, 0)


def _daily_where(events: EventStore, s: Slice, table: str) -> tuple[str, list[Any]] | None:
    """The condition on ``table`` (a journey rollup) that selects the slice's days and
    filters; None where the rollup cannot answer (a filter on another dimension, a search,
    a range not of whole days, or the rollup not readable) and the raw rows must."""
    if not (
        rollup.covers((), s.filters, s.text)
        and _at_midnight(s.start)
        and _at_midnight(s.end)
        and events.derived_ready(table)
    ):
        return None
    sql = "deployment = ? AND day >= CAST(? AS DATE) AND day < CAST(? AS DATE)"
    params: list[Any] = [s.deployment, s.start.astimezone(UTC).date(), s.end.astimezone(UTC).date()]
    for dim, values in s.filters:
        if values:
            sql += f" AND {dim} IN ({', '.join('?' for _ in values)})"
            params.extend(values)
    return sql, params


def funnel(events: EventStore, s: Slice, *, rollups: bool = True) -> dict[str, Any]:
    """Conversations → answered by the AI → no fallback → each outcome."""
    daily = _daily_where(events, s, journey_rollup.FUNNEL) if rollups else None
    if daily is not None:
        where, params = daily
        sums = ", ".join(f'sum("{c}") AS "{c}"' for c in journey_rollup.FUNNEL_COLUMNS)
        row = events.query_derived(
            f"SELECT {sums} FROM {journey_rollup.FUNNEL} WHERE {where}",  # noqa: S608
            params,
        ).to_pylist()[0]
        return {k: int(v or 0) for k, v in row.items()}
    where, params = _where(s)
    row = events.query(
        "SELECT count(*) AS conversations, "
        "count_if(n_assistant_turns > 0) AS answered, "
        "count_if(n_assistant_turns > 0 AND n_fallback_turns = 0) AS understood, "
        + ", ".join(f"count_if(outcome = '{o}') AS \"{o}\"" for o in OUTCOME_ORDER)
        + ", count_if(outcome IS NULL) AS unknown "
        f"FROM interactions WHERE {where}",
        params,
    ).to_pylist()[0]
    return {k: int(v or 0) for k, v in row.items()}


def positions(
    events: EventStore, s: Slice, column: str, limit: int = 12, *, rollups: bool = True
) -> list[dict[str, Any]]:
    """How many conversations first fell back (or reached an agent) at each turn position."""
    if column not in journey_rollup.POSITION_COLUMNS:
        raise ValueError(column)
    daily = _daily_where(events, s, journey_rollup.COUNTS) if rollups else None
    if daily is not None:
        where, params = daily
        rows = events.query_derived(
            f"SELECT least(position, {limit}) AS position, sum(n) AS n "  # noqa: S608
            f"FROM {journey_rollup.COUNTS} WHERE kind = '{column}' AND {where} "
            "GROUP BY 1 ORDER BY 1",
            params,
        ).to_pylist()
    else:
        where, params = _where(s)
        rows = events.query(
            f"SELECT least({column}, {limit}) AS position, count(*) AS n "  # noqa: S608
            f"FROM interactions WHERE {where} AND {column} IS NOT NULL GROUP BY 1 ORDER BY 1",
            params,
        ).to_pylist()
    return [
        {"position": int(r["position"]), "n": int(r["n"]), "capped": r["position"] == limit}
        for r in rows
    ]


def intents_at_fallback(
    events: EventStore, s: Slice, limit: int = 10, *, rollups: bool = True
) -> list[dict[str, Any]]:
    """The intents the assistant reported on fallback answers, most frequent first (ties by
    intent, so both paths list the same ones)."""
    daily = _daily_where(events, s, journey_rollup.COUNTS) if rollups else None
    if daily is not None:
        where, params = daily
        rows = events.query_derived(
            f"SELECT intent, sum(n) AS n FROM {journey_rollup.COUNTS} "  # noqa: S608
            f"WHERE kind = '{journey_rollup.INTENT}' AND {where} "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
            [*params, limit],
        ).to_pylist()
        return [{"intent": r["intent"], "n": int(r["n"])} for r in rows]
    where_i, params = _where(s, "i")
    # The WHERE clause is built from validated names; values are parameters.
    join = (
        "JOIN interactions i ON i.deployment = t.deployment AND i.interaction_id = t.interaction_id"
    )
    sql = f"SELECT coalesce(t.intent, '(none)') AS intent, count(*) AS n FROM turns t {join} WHERE {where_i} AND t.fallback AND t.role = 'assistant' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"  # noqa: S608, E501
    rows = events.query(sql, [*params, limit]).to_pylist()
    return [{"intent": r["intent"], "n": int(r["n"])} for r in rows]
