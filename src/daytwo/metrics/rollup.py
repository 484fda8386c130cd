"""Exact rollups of the metric catalog, and the queries that read them.

Three derived tables (see :mod:`daytwo.store.events.derived`) keep what the dashboard reads
most, recomputed per day from the raw rows whenever a day changes, so they are never stale and
never approximate:

- ``metric_rollup``: per deployment × hour × journey × channel, the additive parts of every
  additive metric (numerators, denominators, sums, counts, sums of squares);
- ``metric_turn_values``: the values of the turn-level quantile metrics (answer latency) with
  their conversation's start, journey and channel, without the join to interactions;
- ``metric_daily_values`` and ``metric_daily_turn_values``: per day, overall and by journey
  and/or channel, the exact values of the metrics that are not additive (quantiles, distinct
  counts), for daily charts;
- ``metric_segment_values``: which segment keys and values occur per deployment and day.

A slice reads them when every filter and group is on journey or channel, there is no text
search, and (for the hourly rollup) its bounds fall on whole hours; anything else reads the raw
rows with the same definitions. Tests check both paths give the same numbers.
"""

# SQL here is built from the registry's definitions and module constants, never user input.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass

from daytwo.metrics.catalog import METRICS, Metric
from daytwo.store.events import EventStore
from daytwo.store.events.base import DeploymentVolume
from daytwo.store.events.derived import REFRESH_DAYS, DerivedTable, register

ROLLUP = "metric_rollup"
DAILY_ROLLUP = "metric_rollup_daily"
TURN_VALUES = "metric_turn_values"
SEGMENT_VALUES = "metric_segment_values"
DAILY_VALUES = "metric_daily_values"
DAILY_TURN_VALUES = "metric_daily_turn_values"
VALUE_COUNTS = "metric_value_counts"
DISTINCT_VALUES = "metric_distinct_values"
ROLLUP_DIMS = frozenset({"journey", "channel"})
# Repeat contact looks 7 days ahead: a day's rollup depends on the next 7 days' contacts.
LOOKBACK_DAYS = 7


def raw_aggregates(m: Metric) -> list[tuple[str, str]]:
    """The aggregates over raw rows that give ``m``'s columns (see ``metrics.service``)."""
    where = f" FILTER (WHERE {m.where})" if m.where else ""
    p = m.id
    if m.kind in ("ratio", "score"):
        return [(f"{p}__num", f"{m.numerator}"), (f"{p}__den", f"{m.denominator}")]
    if m.kind == "mean":
        return [
            (f"{p}__val", f"avg({m.value}){where}"),
            (f"{p}__n", f"count({m.value}){where}"),
            (f"{p}__sd", f"stddev_samp({m.value}){where}"),
        ]
    if m.kind in ("quantile", "median"):
        q = 0.5 if m.kind == "median" else m.q
        return [
            (f"{p}__val", f"quantile_cont({m.value}, {q}){where}"),
            (f"{p}__n", f"count({m.value}){where}"),
        ]
    if m.kind == "count":
        return [(f"{p}__val", f"count(*){where}")]
    if m.kind == "sum":
        return [(f"{p}__val", f"sum({m.value}){where}")]
    if m.kind == "distinct":
        return [(f"{p}__val", f"count(DISTINCT {m.value}){where}")]
    return [(f"{p}__val", f"{m.value}")]  # expression


def parts(m: Metric) -> list[tuple[str, str]]:
    """The additive parts of ``m`` as (column, aggregate over raw interactions)."""
    where = f" FILTER (WHERE {m.where})" if m.where else ""
    p = m.id
    if m.kind in ("ratio", "score"):
        return [(f"{p}__num", str(m.numerator)), (f"{p}__den", str(m.denominator))]
    if m.kind == "mean":
        return [
            (f"{p}__s", f"sum({m.value}){where}"),
            (f"{p}__n", f"count({m.value}){where}"),
            (f"{p}__ss", f"sum(({m.value}) * ({m.value})){where}"),
        ]
    if m.kind == "count":
        return [(f"{p}__val", f"count(*){where}")]
    if m.kind == "sum":
        return [(f"{p}__val", f"sum({m.value}){where}")]
    if m.kind == "expression" and m.parts:
        return [(f"{p}__{name}", expr) for name, expr in m.parts]
    raise ValueError(f"{m.id} is not additive")


def read(m: Metric) -> list[tuple[str, str]]:
    """The aggregates over rollup rows that give the raw query's columns for ``m``."""
    p = m.id

    def s(col: str) -> str:
        return f'sum("{p}__{col}")'

    if m.kind in ("ratio", "score"):
        return [(f"{p}__num", s("num")), (f"{p}__den", s("den"))]
    if m.kind == "mean":
        n, total, squares = s("n"), s("s"), s("ss")
        return [
            (f"{p}__val", f"{total} / nullif({n}, 0)"),
            (f"{p}__n", f"coalesce({n}, 0)"),
            (
                f"{p}__sd",
                f"CASE WHEN {n} > 1 THEN sqrt(greatest(({squares} - {total} * {total} / {n}) "
                f"/ ({n} - 1), 0)) END",
            ),
        ]
    if m.kind == "count":
        return [(f"{p}__val", f"coalesce({s('val')}, 0)")]
    if m.kind == "sum":
        return [(f"{p}__val", s("val"))]
    assert m.combine is not None
    return [(f"{p}__val", m.combine.format(**{name: s(name) for name, _ in m.parts}))]


def _window_base() -> str:
    """Raw interactions of the days to refresh, and of the 8 days after (for the next
    contact), with each customer's next contact."""
    return (
        "(SELECT i.*, CASE WHEN customer_ref IS NULL THEN NULL ELSE lead(started_at) OVER "
        "(PARTITION BY i.deployment, customer_ref ORDER BY started_at) END AS next_contact_at "
        "FROM interactions i JOIN (SELECT deployment, min(day) AS lo, max(day) AS hi "
        f"FROM {REFRESH_DAYS} GROUP BY deployment) r ON i.deployment = r.deployment "
        "AND i.started_at >= r.lo AND i.started_at < r.hi + INTERVAL 8 DAY)"
    )


def _rollup_table() -> DerivedTable:
    cols = [(name, expr) for m in METRICS if m.additive for name, expr in parts(m)]
    columns = ", ".join(
        [
            "deployment VARCHAR NOT NULL",
            "day DATE NOT NULL",
            "hour TIMESTAMPTZ NOT NULL",
            "journey VARCHAR",
            "channel VARCHAR",
            "n_interactions BIGINT",
            "n_turns BIGINT",
            "first_started_at TIMESTAMPTZ",
            "last_started_at TIMESTAMPTZ",
            *(f'"{name}" DOUBLE' for name, _ in cols),
        ]
    )
    aggs = ", ".join(f'{expr} AS "{name}"' for name, expr in cols)
    select = (
        "SELECT i.deployment, CAST(i.started_at AS DATE) AS day, "
        "date_trunc('hour', i.started_at) AS hour, journey, channel, count(*), "
        f"sum(n_turns), min(started_at), max(started_at), {aggs} "
        f"FROM {_window_base()} AS i SEMI JOIN {REFRESH_DAYS} d "
        "ON i.deployment = d.deployment AND CAST(i.started_at AS DATE) = d.day "
        "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 3"
    )
    return DerivedTable(ROLLUP, columns, select, LOOKBACK_DAYS)


def _daily_rollup_table(hourly: DerivedTable) -> DerivedTable:
    """The hourly rollup summed per day (``hour`` is the day's midnight): 24 times fewer rows
    for ranges of whole days."""
    cols = [name for m in METRICS if m.additive for name, _ in parts(m)]
    sums = ", ".join(f'sum("{name}")' for name in cols)
    select = (
        "SELECT r.deployment, r.day, CAST(r.day AS TIMESTAMPTZ), journey, channel, "
        "sum(n_interactions), sum(n_turns), min(first_started_at), max(last_started_at), "
        f"{sums} FROM {ROLLUP} r SEMI JOIN {REFRESH_DAYS} d ON r.deployment = d.deployment "
        "AND r.day = d.day GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2"
    )
    return DerivedTable(DAILY_ROLLUP, hourly.columns, select, LOOKBACK_DAYS, depends=(ROLLUP,))


@dataclass(frozen=True, slots=True)
class TurnValues:
    """Which turn values the quantile metrics read: one value expression and filter."""

    value: str
    where: str | None


def _turn_values() -> TurnValues | None:
    sets = {TurnValues(str(m.value), m.where) for m in METRICS if m.source == "turns"}
    if len(sets) > 1:  # a catalog change that needs a second value table fails at import
        raise ValueError("turn-level metrics must share one value and filter")
    return next(iter(sets), None)


def _turn_values_table(tv: TurnValues) -> DerivedTable:
    where = f" AND ({tv.where})" if tv.where else ""
    select = (
        "SELECT i.deployment, CAST(i.started_at AS DATE) AS day, i.started_at, i.journey, "
        f"i.channel, {tv.value} AS value FROM turns t JOIN interactions i "
        "ON i.deployment = t.deployment AND i.interaction_id = t.interaction_id "
        f"SEMI JOIN {REFRESH_DAYS} d ON i.deployment = d.deployment "
        f"AND CAST(i.started_at AS DATE) = d.day WHERE {tv.value} IS NOT NULL{where} "
        "ORDER BY 1, 3"
    )
    columns = (
        "deployment VARCHAR NOT NULL, day DATE NOT NULL, started_at TIMESTAMPTZ NOT NULL, "
        "journey VARCHAR, channel VARCHAR, value DOUBLE"
    )
    return DerivedTable(TURN_VALUES, columns, select)


def _segment_values_table() -> DerivedTable:
    # One key per row, its value looked up (rather than two unnests side by side, which not
    # every engine zips).
    select = (
        "SELECT DISTINCT deployment, day, k AS key, segments[k] AS value FROM (SELECT "
        "i.deployment, CAST(i.started_at AS DATE) AS day, i.segments, "
        f"unnest(map_keys(i.segments)) AS k FROM interactions i SEMI JOIN {REFRESH_DAYS} d "
        "ON i.deployment = d.deployment AND CAST(i.started_at AS DATE) = d.day)"
    )
    columns = "deployment VARCHAR NOT NULL, day DATE NOT NULL, key VARCHAR, value VARCHAR"
    return DerivedTable(SEGMENT_VALUES, columns, select)


_GROUPING_SETS = (
    "GROUPING SETS ((deployment, day), (deployment, day, journey), (deployment, day, channel), "
    "(deployment, day, journey, channel))"
)


def _daily_columns(metrics: list[Metric]) -> str:
    return ", ".join(
        [
            "deployment VARCHAR NOT NULL",
            "day DATE NOT NULL",
            "by_journey BOOLEAN NOT NULL",
            "by_channel BOOLEAN NOT NULL",
            "journey VARCHAR",
            "channel VARCHAR",
            *(f'"{name}" DOUBLE' for m in metrics for name, _ in raw_aggregates(m)),
        ]
    )


def _daily_select(source: str, aggs: str) -> str:
    return (
        "SELECT deployment, day, grouping(journey) = 0, grouping(channel) = 0, journey, channel, "
        f"{aggs} FROM {source} GROUP BY {_GROUPING_SETS}"
    )


DAILY_METRICS = [m for m in METRICS if m.source == "interactions" and not m.additive]
TURN_METRICS = [m for m in METRICS if m.source == "turns"]


def _daily_values_table() -> DerivedTable:
    """Per day (overall, by journey, by channel, by both), the exact values of the
    interaction metrics that are not additive (quantiles, distinct counts)."""
    aggs = ", ".join(
        f'{expr} AS "{name}"' for m in DAILY_METRICS for name, expr in raw_aggregates(m)
    )
    source = (
        "(SELECT i.*, CAST(i.started_at AS DATE) AS day FROM interactions i "
        f"SEMI JOIN {REFRESH_DAYS} d ON i.deployment = d.deployment "
        "AND CAST(i.started_at AS DATE) = d.day)"
    )
    return DerivedTable(DAILY_VALUES, _daily_columns(DAILY_METRICS), _daily_select(source, aggs))


def _daily_turn_values_table() -> DerivedTable:
    """The same for the turn-level quantiles, from the turn value table."""
    aggs: list[str] = []
    for m in TURN_METRICS:
        q = 0.5 if m.kind == "median" else m.q
        aggs += [f'quantile_cont(value, {q}) AS "{m.id}__val"', f'count(value) AS "{m.id}__n"']
    source = (
        f"(SELECT v.* FROM {TURN_VALUES} v SEMI JOIN {REFRESH_DAYS} d "
        "ON v.deployment = d.deployment AND v.day = d.day)"
    )
    return DerivedTable(
        DAILY_TURN_VALUES,
        _daily_columns(TURN_METRICS),
        _daily_select(source, ", ".join(aggs)),
        depends=(TURN_VALUES,),
    )


# The key under which the turn-level quantiles' values are counted.
TURN_KEY = "turn_values"


def _value_counts_table() -> DerivedTable:
    """Per deployment and day, how often each value of a quantile metric occurs: an exact
    multiset, from which any quantile over a range of days follows (see ``quantile_sql``)."""
    parts = []
    for m in DAILY_METRICS:
        if m.kind in ("quantile", "median"):
            where = f" AND ({m.where})" if m.where else ""
            parts.append(
                f"SELECT i.deployment, CAST(i.started_at AS DATE) AS day, '{m.id}' AS key, "
                f"{m.value} AS value, count(*) AS n FROM interactions i "
                f"SEMI JOIN {REFRESH_DAYS} d ON i.deployment = d.deployment "
                f"AND CAST(i.started_at AS DATE) = d.day WHERE {m.value} IS NOT NULL{where} "
                "GROUP BY 1, 2, 3, 4"
            )
    depends: tuple[str, ...] = ()
    if TURN_METRICS:
        parts.append(
            f"SELECT v.deployment, v.day, '{TURN_KEY}' AS key, v.value, count(*) AS n "
            f"FROM {TURN_VALUES} v SEMI JOIN {REFRESH_DAYS} d ON v.deployment = d.deployment "
            "AND v.day = d.day GROUP BY 1, 2, 3, 4"
        )
        depends = (TURN_VALUES,)
    columns = (
        "deployment VARCHAR NOT NULL, day DATE NOT NULL, key VARCHAR NOT NULL, value DOUBLE, "
        "n BIGINT"
    )
    return DerivedTable(
        VALUE_COUNTS, columns, " UNION ALL ".join(parts) + " ORDER BY 1, 2, 3, 4", depends=depends
    )


def _distinct_values_table() -> DerivedTable:
    """Per deployment and day, the distinct values a distinct-count metric counts."""
    parts = [
        f"SELECT DISTINCT i.deployment, CAST(i.started_at AS DATE) AS day, '{m.id}' AS key, "
        f"CAST({m.value} AS VARCHAR) AS value FROM interactions i "
        f"SEMI JOIN {REFRESH_DAYS} d ON i.deployment = d.deployment "
        f"AND CAST(i.started_at AS DATE) = d.day WHERE {m.value} IS NOT NULL"
        for m in DAILY_METRICS
        if m.kind == "distinct"
    ]
    columns = "deployment VARCHAR NOT NULL, day DATE NOT NULL, key VARCHAR NOT NULL, value VARCHAR"
    return DerivedTable(DISTINCT_VALUES, columns, " UNION ALL ".join(parts))


def counted(m: Metric) -> bool:
    """Whether a total of ``m`` over whole days can be read from the counted values."""
    return m.kind in ("quantile", "median", "distinct") and (
        m.source == "turns" or m in DAILY_METRICS
    )


@dataclass(frozen=True, slots=True)
class CountedQuery:
    """Pieces of one query over the counted values: named CTEs (one cumulative count per
    key), one-row subqueries (one per metric) and the output columns."""

    ctes: dict[str, str]
    subqueries: list[tuple[str, str]]
    columns: list[tuple[str, str]]


def counted_query(metrics: list[Metric], day_filter: str) -> CountedQuery:
    """``metrics``' columns over the days ``day_filter`` selects (a condition on
    ``deployment`` and ``day``), exactly as the raw query gives them: a distinct count of the
    distinct values, and quantile_cont's interpolation between the values at the two ranks
    around (n - 1) q, found from the cumulative counts of each value."""
    ctes: dict[str, str] = {}
    subqueries: list[tuple[str, str]] = []
    columns: list[tuple[str, str]] = []
    for k, m in enumerate(metrics):
        alias = f"_m{k}"
        if m.kind == "distinct":
            subqueries.append(
                (
                    alias,
                    f"SELECT count(DISTINCT value) AS val FROM {DISTINCT_VALUES} "
                    f"WHERE key = '{m.id}' AND {day_filter}",
                )
            )
            columns.append((f"{m.id}__val", f"{alias}.val"))
            continue
        key = TURN_KEY if m.source == "turns" else m.id
        cte = f"_c_{key}"
        ctes[cte] = (
            "SELECT value, sum(n) OVER (ORDER BY value) AS cum, sum(n) OVER () AS total FROM "
            f"(SELECT value, sum(n) AS n FROM {VALUE_COUNTS} WHERE key = '{key}' "
            f"AND {day_filter} GROUP BY value)"
        )
        q = 0.5 if m.kind == "median" else float(m.q or 0.5)
        rank = f"(total - 1) * {q}"
        subqueries.append(
            (
                alias,
                f"SELECT lo + (hi - lo) * ({rank} - floor({rank})) AS val, "
                "coalesce(total, 0) AS n FROM (SELECT "
                f"min(value) FILTER (WHERE cum > floor({rank})) AS lo, "
                f"min(value) FILTER (WHERE cum > ceil({rank})) AS hi, "
                f"max(total) AS total FROM {cte})",
            )
        )
        columns += [(f"{m.id}__val", f"{alias}.val"), (f"{m.id}__n", f"{alias}.n")]
    return CountedQuery(ctes, subqueries, columns)


TURN_VALUE_SET = _turn_values()
_HOURLY = _rollup_table()
TABLES: tuple[DerivedTable, ...] = tuple(
    register(t)
    for t in (
        _HOURLY,
        _daily_rollup_table(_HOURLY),
        *(
            [_turn_values_table(TURN_VALUE_SET), _daily_turn_values_table()]
            if TURN_VALUE_SET
            else []
        ),
        _daily_values_table(),
        _value_counts_table(),
        _distinct_values_table(),
        _segment_values_table(),
    )
)


def covers(
    group_by: tuple[str, ...],
    filters: tuple[tuple[str, tuple[str, ...]], ...],
    text: str | None,
) -> bool:
    """Whether a slice with these groups, filters and search can read the rollups."""
    return (
        text is None
        and all(d in ROLLUP_DIMS for d in group_by)
        and all(d in ROLLUP_DIMS for d, values in filters if values)
    )


def volumes(events: EventStore) -> list[DeploymentVolume] | None:
    """Interaction and turn counts per deployment from the daily rollup; None where it is not
    current (the caller reads the raw tables)."""
    if not events.derived_ready(DAILY_ROLLUP):
        return None
    table = events.query_derived(
        f"SELECT deployment, sum(n_interactions) AS interactions, sum(n_turns) AS turns, "
        f"min(first_started_at) AS first_started_at, max(last_started_at) AS last_started_at "
        f"FROM {DAILY_ROLLUP} GROUP BY deployment ORDER BY deployment"
    )
    return [
        DeploymentVolume(
            deployment=r["deployment"],
            interactions=int(r["interactions"]),
            turns=int(r["turns"] or 0),
            first_started_at=r["first_started_at"],
            last_started_at=r["last_started_at"],
        )
        for r in table.to_pylist()
    ]


def dimension_values(events: EventStore, deployment: str) -> dict[str, list[str]] | None:
    """Journeys, channels and segment values seen in a deployment, from the rollups; None
    where they are not current."""
    if not (events.derived_ready(DAILY_ROLLUP) and events.derived_ready(SEGMENT_VALUES)):
        return None
    out: dict[str, list[str]] = {}
    for dim in ("journey", "channel"):
        rows = events.query_derived(
            f"SELECT DISTINCT {dim} AS v FROM {DAILY_ROLLUP} "
            f"WHERE deployment = ? AND {dim} IS NOT NULL ORDER BY 1",
            [deployment],
        )
        out[dim] = [str(v) for v in rows["v"].to_pylist()]
    seg = events.query_derived(
        f"SELECT DISTINCT key AS k, value AS v FROM {SEGMENT_VALUES} "
        "WHERE deployment = ? AND key IS NOT NULL ORDER BY 1, 2",
        [deployment],
    ).to_pylist()
    for row in seg:
        out.setdefault(f"segment:{row['k']}", []).append(str(row["v"]))
    return out
