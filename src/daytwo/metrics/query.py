"""SQL for metric values over any slice, written once in the portable dialect.

``build_queries`` turns a request (metrics, deployment, time range, bucket, group-by, filters)
into one query per source table; each returns, per group, the raw aggregates that
:mod:`daytwo.metrics.calc` turns into values and intervals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from daytwo.errors import InputError

# A slice is defined below the metrics (the HTTP parameters build one too); here it is read.
from daytwo.interactions.slice import BUCKETS as BUCKETS
from daytwo.interactions.slice import Bucket as Bucket
from daytwo.interactions.slice import Slice as Slice
from daytwo.metrics import rollup
from daytwo.metrics.catalog import Metric

BUILTIN_DIMS = ("deployment", "journey", "channel", "outcome", "agent_ref")
_SEGMENT_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_WINDOW_COLUMNS = ("next_contact_at",)


@dataclass(slots=True)
class Query:
    source: str
    sql: str
    params: list[Any] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    group_columns: list[str] = field(default_factory=list)


def dimension_sql(dim: str, alias: str = "") -> str:
    """SQL for a dimension: a built-in column, or a segment key (``site``, ``segment.site``)."""
    prefix = f"{alias}." if alias else ""
    if dim in BUILTIN_DIMS:
        return f"{prefix}{dim}"
    key = dim.removeprefix("segment.")
    if not _SEGMENT_KEY.match(key):
        raise InputError(f"Cannot group or filter by {dim!r}: not a dimension or segment key.")
    return f"{prefix}segments['{key}']"


def dimension_name(dim: str) -> str:
    return dim if dim in BUILTIN_DIMS else dim.removeprefix("segment.")


def _needs_window(metrics: list[Metric]) -> bool:
    text = " ".join(f"{m.numerator} {m.denominator} {m.value}" for m in metrics)
    return any(c in text for c in _WINDOW_COLUMNS)


def _filters(s: Slice, alias: str = "") -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for dim, values in s.filters:
        if not values:
            continue
        clauses.append(f"{dimension_sql(dim, alias)} IN ({', '.join('?' for _ in values)})")
        params.extend(values)
    return ("".join(f" AND {c}" for c in clauses), params)


def _at_midnight(t: datetime) -> bool:
    u = t.astimezone(UTC)
    return _on_the_hour(t) and u.hour == 0


def _on_the_hour(t: datetime) -> bool:
    u = t.astimezone(UTC)
    return u.minute == 0 and u.second == 0 and u.microsecond == 0


def build_queries(
    metrics: list[Metric], s: Slice, ready: frozenset[str] = frozenset()
) -> list[Query]:
    """One query per source needed by ``metrics``.

    ``ready`` names the rollups (:mod:`daytwo.metrics.rollup`) that are current; where the
    slice allows, additive metrics read the hourly or daily rollup, quantiles and distinct
    counts their daily values, counted values or the turn value table, and everything else the
    raw rows.
    """
    if s.bucket is not None and s.bucket not in BUCKETS:
        raise InputError(f"Unknown bucket {s.bucket!r}: use one of {', '.join(BUCKETS)}.")
    if s.end <= s.start:
        raise InputError("The time range is empty: end must be after start.")
    covered = rollup.covers(s.group_by, s.filters, s.text)
    whole_days = _at_midnight(s.start) and _at_midnight(s.end)
    hourly = covered and rollup.ROLLUP in ready and _on_the_hour(s.start) and _on_the_hour(s.end)
    turn_values = covered and rollup.TURN_VALUES in ready
    # Daily values of non-additive metrics: whole days, and each filter a single value (a
    # group of the daily table).
    daily = (
        covered
        and s.bucket == "day"
        and whole_days
        and all(len(values) == 1 for _, values in s.filters if values)
    )
    # Totals of quantiles and distinct counts over whole days, unfiltered: counted values.
    counted = (
        covered
        and whole_days
        and s.bucket is None
        and not s.group_by
        and not any(values for _, values in s.filters)
        and {rollup.VALUE_COUNTS, rollup.DISTINCT_VALUES} <= ready
    )
    # The additive rollup by day where no bucket is finer than a day.
    rollup_table = (
        rollup.DAILY_ROLLUP
        if whole_days and s.bucket != "hour" and rollup.DAILY_ROLLUP in ready
        else rollup.ROLLUP
    )
    queries: list[Query] = []
    by_source: dict[str, list[Metric]] = {}
    for m in metrics:
        if counted and rollup.counted(m):
            by_source.setdefault(rollup.VALUE_COUNTS, []).append(m)
        elif hourly and m.source == "interactions" and m.additive:
            by_source.setdefault(rollup.ROLLUP, []).append(m)
        elif daily and m.source == "interactions" and rollup.DAILY_VALUES in ready:
            by_source.setdefault(rollup.DAILY_VALUES, []).append(m)
        elif daily and m.source == "turns" and rollup.DAILY_TURN_VALUES in ready:
            by_source.setdefault(rollup.DAILY_TURN_VALUES, []).append(m)
        elif turn_values and m.source == "turns":
            by_source.setdefault(rollup.TURN_VALUES, []).append(m)
        else:
            by_source.setdefault(m.source, []).append(m)
    for source, ms in by_source.items():
        if source == rollup.ROLLUP:
            queries.append(_rollup_query(ms, s, rollup_table))
        elif source == rollup.VALUE_COUNTS:
            queries.append(_counted_query(ms, s))
        elif source in (rollup.DAILY_VALUES, rollup.DAILY_TURN_VALUES):
            queries.append(_daily_query(source, ms, s))
        elif source == rollup.TURN_VALUES:
            queries.append(_turn_values_query(ms, s))
        elif source == "interactions":
            queries.append(_interactions_query(ms, s))
        else:
            queries.append(_turns_query(ms, s))
    return queries


def _grouped(sql: str, names: list[str]) -> str:
    if names:
        positions = ", ".join(str(k + 1) for k in range(len(names)))
        sql += f" GROUP BY {positions} ORDER BY {positions}"
    return sql


def _rollup_query(metrics: list[Metric], s: Slice, table: str) -> Query:
    filt, fparams = _filters(s)
    group_cols, names = _group_select(s, "hour", "")
    aggs = [f'{expr} AS "{name}"' for m in metrics for name, expr in rollup.read(m)]
    select = ", ".join([*group_cols, *aggs])
    sql = (
        f"SELECT {select} FROM {table} "  # noqa: S608 - names from the registry
        f"WHERE deployment = ? AND hour >= ? AND hour < ?{filt}"
    )
    params = [s.deployment, s.start, s.end, *fparams]
    return Query(table, _grouped(sql, names), params, metrics, names)


def _counted_query(metrics: list[Metric], s: Slice) -> Query:
    # Numbered parameters: each subquery names the same three, and constant filters let the
    # scan skip the days outside the range.
    days = "deployment = $1 AND day >= CAST($2 AS DATE) AND day < CAST($3 AS DATE)"
    cq = rollup.counted_query(metrics, days)
    ctes = ", ".join(f"{name} AS MATERIALIZED ({sql})" for name, sql in cq.ctes.items())
    select = ", ".join(f'{expr} AS "{name}"' for name, expr in cq.columns)
    sources = ", ".join(f"({sub}) AS {alias}" for alias, sub in cq.subqueries)
    sql = f"{'WITH ' + ctes + ' ' if ctes else ''}SELECT {select} FROM {sources}"  # noqa: S608
    params: list[Any] = [
        s.deployment,
        s.start.astimezone(UTC).date(),
        s.end.astimezone(UTC).date(),
    ]
    return Query(rollup.VALUE_COUNTS, sql, params, metrics, [])


def _daily_query(table: str, metrics: list[Metric], s: Slice) -> Query:
    dims = [d for d in ("journey", "channel") if d in s.group_by]
    filtered = {d: values[0] for d, values in s.filters if values}
    keyed = set(dims) | set(filtered)
    cols = ["CAST(day AS TIMESTAMPTZ) AS bucket", *(f'{d} AS "{d}"' for d in s.group_by)]
    names = ["bucket", *(dimension_name(d) for d in s.group_by)]
    aggs = [f'"{name}"' for m in metrics for name, _ in rollup.raw_aggregates(m)]
    sql = (
        f"SELECT {', '.join([*cols, *aggs])} FROM {table} "  # noqa: S608 - registry names
        "WHERE deployment = ? AND day >= CAST(? AS DATE) AND day < CAST(? AS DATE) "
        "AND by_journey = ? AND by_channel = ?"
    )
    params: list[Any] = [
        s.deployment,
        s.start.astimezone(UTC).date(),
        s.end.astimezone(UTC).date(),
        "journey" in keyed,
        "channel" in keyed,
    ]
    for dim, value in filtered.items():
        sql += f" AND {dim} = ?"
        params.append(value)
    sql += " ORDER BY " + ", ".join(str(k + 1) for k in range(len(names)))
    return Query(table, sql, params, metrics, names)


def _turn_values_query(metrics: list[Metric], s: Slice) -> Query:
    filt, fparams = _filters(s)
    group_cols, names = _group_select(s, "started_at", "")
    qs: list[float] = []
    for m in metrics:
        if m.kind not in ("quantile", "median"):
            raise ValueError(f"{m.id}: only quantiles read the turn value table")
        qs.append(0.5 if m.kind == "median" else float(m.q or 0.5))
    # One sort answers every quantile: the list form of quantile_cont, unpacked outside.
    inner = ", ".join([*group_cols, f"quantile_cont(value, {qs}) AS _qs", "count(value) AS _n"])
    sql = _grouped(
        f"SELECT {inner} FROM {rollup.TURN_VALUES} "  # noqa: S608 - names from the registry
        f"WHERE deployment = ? AND started_at >= ? AND started_at < ?{filt}",
        names,
    )
    outer = [f'"{n}"' for n in names] + [
        col
        for k, m in enumerate(metrics)
        for col in (f'_qs[{k + 1}] AS "{m.id}__val"', f'_n AS "{m.id}__n"')
    ]
    order = f" ORDER BY {', '.join(str(k + 1) for k in range(len(names)))}" if names else ""
    sql = f"SELECT {', '.join(outer)} FROM ({sql}) AS v{order}"  # noqa: S608
    params = [s.deployment, s.start, s.end, *fparams]
    return Query(rollup.TURN_VALUES, sql, params, metrics, names)


def _group_select(s: Slice, time_col: str, alias: str) -> tuple[list[str], list[str]]:
    cols: list[str] = []
    names: list[str] = []
    if s.bucket:
        cols.append(f"date_trunc('{s.bucket}', {time_col}) AS bucket")
        names.append("bucket")
    for dim in s.group_by:
        name = dimension_name(dim)
        cols.append(f'{dimension_sql(dim, alias)} AS "{name}"')
        names.append(name)
    return cols, names


def _interactions_query(metrics: list[Metric], s: Slice) -> Query:
    params: list[Any] = [s.deployment, s.start, s.end]
    filt, fparams = _filters(s)
    if _needs_window(metrics):
        # The next contact may fall after the range: look 7 days past it for the window only.
        base = (
            "(SELECT *, CASE WHEN customer_ref IS NULL THEN NULL ELSE lead(started_at) OVER "
            "(PARTITION BY deployment, customer_ref ORDER BY started_at) END AS next_contact_at "
            "FROM interactions WHERE deployment = ? AND started_at >= ? "
            "AND started_at < ? + INTERVAL 7 DAY) AS i"
        )
        params = [s.deployment, s.start, s.end, s.start, s.end]
        where = "WHERE started_at >= ? AND started_at < ?"
    else:
        base = "interactions AS i"
        where = "WHERE deployment = ? AND started_at >= ? AND started_at < ?"
    group_cols, names = _group_select(s, "started_at", "")
    aggs = [f'{expr} AS "{name}"' for m in metrics for name, expr in rollup.raw_aggregates(m)]
    select = ", ".join([*group_cols, *aggs])
    # Identifiers come from the registry and validated dimension names; values are parameters.
    sql = f"SELECT {select} FROM {base} {where}{filt}"  # noqa: S608
    if s.text:
        sql += (
            " AND EXISTS (SELECT 1 FROM turns t WHERE t.deployment = i.deployment AND "
            "t.interaction_id = i.interaction_id AND t.text ILIKE ?)"
        )
        fparams = [*fparams, f"%{s.text}%"]
    if names:
        sql += " GROUP BY " + ", ".join(str(k + 1) for k in range(len(names)))
        sql += " ORDER BY " + ", ".join(str(k + 1) for k in range(len(names)))
    return Query("interactions", sql, [*params, *fparams], metrics, names)


def _turns_query(metrics: list[Metric], s: Slice) -> Query:
    # Turns are placed in time by their conversation's start, as every other metric is: a
    # turn's own ts is optional, and a conversation's numbers then never split across buckets.
    filt, fparams = _filters(s, "i")
    group_cols, names = _group_select(s, "i.started_at", "i")
    aggs = [f'{expr} AS "{name}"' for m in metrics for name, expr in rollup.raw_aggregates(m)]
    base = (
        "turns AS t JOIN interactions AS i ON i.deployment = t.deployment "
        "AND i.interaction_id = t.interaction_id"
    )
    select = ", ".join([*group_cols, *aggs])
    sql = (
        f"SELECT {select} FROM {base} "  # noqa: S608
        f"WHERE t.deployment = ? AND i.started_at >= ? AND i.started_at < ?{filt}"
    )
    params: list[Any] = [s.deployment, s.start, s.end, *fparams]
    if s.text:
        sql += (
            " AND EXISTS (SELECT 1 FROM turns x WHERE x.deployment = t.deployment AND "
            "x.interaction_id = t.interaction_id AND x.text ILIKE ?)"
        )
        params.append(f"%{s.text}%")
    if names:
        sql += " GROUP BY " + ", ".join(str(k + 1) for k in range(len(names)))
        sql += " ORDER BY " + ", ".join(str(k + 1) for k in range(len(names)))
    # Turn metrics name only turn columns (role, latency_ms...), unambiguous in the join.
    return Query("turns", sql, params, metrics, names)
