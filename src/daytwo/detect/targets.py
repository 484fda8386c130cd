"""A target metric's value over an analysis, computed from its catalog definition.

The SLO detector judges the metrics it monitors per conversation (``cells.py``) with their own
arrays; a target on any other metric a target can be set on (a rate, mean, score or quantile of
the catalog: :attr:`~daytwo.metrics.catalog.Metric.targetable`) is computed here with the
catalog's own SQL expressions, by DuckDB over the analysis' Arrow tables: the value of the
current period, and the value of each of its days counted back from its end.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from datetime import timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.data import INTERACTIONS_OF_SPAN, AnalysisData, EngineRead
from daytwo.metrics import calc
from daytwo.metrics.catalog import METRICS, Metric

# Computed over the analysed interactions as the metrics API computes it over the store.
_NEXT_CONTACT = (
    "CASE WHEN customer_ref IS NULL THEN NULL ELSE lead(started_at) OVER "
    "(PARTITION BY deployment, customer_ref ORDER BY started_at) END AS next_contact_at"
)
_DAY_US = 86_400_000_000
# This process's in-memory DuckDB database, by process id: opening one took longer than the
# queries themselves (a look computes several targets). A forked process (the replay's
# look-ahead worker) opens its own: the parent's database, its threads not forked, would hang.
_DATABASES: dict[int, duckdb.DuckDBPyConnection] = {}
# A lock for opening it, by process id too: one held by another thread at a fork stays held
# in the forked process.
_OPENING: dict[int, threading.Lock] = {}


def _cursor() -> duckdb.DuckDBPyConnection:
    """A connection of its own (its registrations and temporary views its own) to this
    process's in-memory database, for one calculation."""
    pid = os.getpid()
    database = _DATABASES.get(pid)
    if database is None:
        with _OPENING.setdefault(pid, threading.Lock()):
            database = _DATABASES.get(pid)
            if database is None:
                database = _DATABASES[pid] = duckdb.connect()
    return database.cursor()


# The days of turns the targets read: the analysis's current period.
TURN_DAYS = 7
# The turn columns the catalog's turn metrics read (their value and condition): the answers'
# latency.
TURN_COLUMNS = ("role", "latency_ms")
_TURN_WHERE = " OR ".join(
    sorted({f"({m.where})" if m.where else "TRUE" for m in METRICS if m.source == "turns"})
)
# The turns of the span that any turn metric of the catalog counts, with their conversation
# and its start (the catalog's conditions name the turns' own columns).
_TURNS_SQL = (
    "SELECT t.interaction_id AS interaction_id, i.started_at AS started_at, "  # noqa: S608
    "t.role AS role, t.latency_ms AS latency_ms FROM (SELECT interaction_id, role, latency_ms "
    f"FROM turns WHERE deployment = ? AND ({_TURN_WHERE})) t "
    f"JOIN {INTERACTIONS_OF_SPAN} i ON t.interaction_id = i.interaction_id"
)


def _turns_from_rows(data: AnalysisData) -> pa.Table:
    """:data:`TARGET_TURNS` from an analysis's raw interactions and turns."""
    t = data.interactions
    start = data.window.current_end - timedelta(days=TURN_DAYS)
    span = t.filter(
        pc.and_(
            pc.greater_equal(t["started_at"], pa.scalar(start)),
            pc.less(t["started_at"], pa.scalar(data.window.current_end)),
        )
    ).select(["interaction_id", "started_at"])
    con = _cursor()
    try:
        con.register("_turns", data.turns.select(["interaction_id", *TURN_COLUMNS]))
        con.register("_span", span)
        table: pa.Table = con.sql(
            "SELECT t.interaction_id AS interaction_id, "  # noqa: S608
            "CAST(i.started_at AS TIMESTAMPTZ) AS started_at, t.role AS role, "
            f"t.latency_ms AS latency_ms FROM (SELECT * FROM _turns WHERE {_TURN_WHERE}) t "
            "JOIN _span i ON t.interaction_id = i.interaction_id"
        ).to_arrow_table()
    finally:
        con.close()
    return table


TARGET_TURNS = EngineRead(
    "target_turns", _TURNS_SQL, "started_at", _turns_from_rows, days=TURN_DAYS
)
"""The turns of the last :data:`TURN_DAYS` days that the catalog's turn metrics count (the
assistant's timed answers), with their conversation and its start and the columns those
metrics read (:data:`TURN_COLUMNS`): what a target on a turn metric (a latency percentile) is
computed from, instead of every turn of the analysis."""


@dataclass(frozen=True, slots=True)
class TargetValues:
    """The current period's estimate, and one per day back from its end (``days[0]``: the
    last day); a day without data is absent from the end of the list."""

    period: calc.Estimate
    days: list[calc.Estimate]


def target_values(metric: Metric, data: AnalysisData) -> TargetValues:
    """``metric`` over the current period of ``data`` and each of its days."""
    if not metric.targetable:
        raise ValueError(f"{metric.id}: no target can be set on a {metric.kind}")
    w = data.window
    con = _analysed(metric, data)
    try:
        day = f"CAST(floor((epoch_us(TIMESTAMPTZ '{w.current_end.isoformat()}') - epoch_us(i.started_at)) / {_DAY_US}) AS BIGINT)"  # noqa: E501
        if metric.source == "turns":
            con.register("turns", data.read(TARGET_TURNS).drop_columns(["started_at"]))
            rows = f"turns t JOIN interactions i USING (interaction_id) WHERE {_period(data)}"
        else:
            rows = f"interactions i WHERE {_period(data)}"
        where = f" AND ({metric.where})" if metric.where else ""
        result = con.execute(
            f"SELECT {day} AS d, {_aggregates(metric)} FROM {rows}{where} "  # noqa: S608
            "GROUP BY GROUPING SETS ((d), ()) ORDER BY d NULLS FIRST"
        ).fetchall()
    finally:
        con.close()
    by_day = {int(r[0]): _estimate(metric, r[1:]) for r in result if r[0] is not None}
    whole = next((_estimate(metric, r[1:]) for r in result if r[0] is None), calc.Estimate(None, 0))
    days = []
    for d in range(math.ceil(w.current_days)):
        if d not in by_day or w.current_end - timedelta(days=d + 1) < w.current_start:
            break
        days.append(by_day[d])
    return TargetValues(whole, days)


def target_misses(metric: Metric, data: AnalysisData) -> pa.Array:
    """The current period's conversations of ``data`` that show a miss of ``metric``'s target,
    in time order (for a breach's evidence and impact): those behind the number (the catalog's
    drill-down) where lower is better, the others where higher is better; every conversation
    of the period for a metric without a drill-down.

    Apart from :func:`target_values`, since only a breach reads them (most looks breach
    nothing: reading them on every look cost as much as the values)."""
    drill = ""
    if metric.drill:
        drill = (
            f" AND ({metric.drill})"
            if metric.good == "down"
            else f" AND NOT coalesce(({metric.drill}), false)"
        )
    con = _analysed(metric, data)
    try:
        missing: pa.Table = con.sql(
            f"SELECT interaction_id FROM interactions i WHERE {_period(data)}{drill} "  # noqa: S608
            "ORDER BY started_at"
        ).to_arrow_table()
    finally:
        con.close()
    return missing["interaction_id"].combine_chunks()


def _analysed(metric: Metric, data: AnalysisData) -> duckdb.DuckDBPyConnection:
    """A cursor whose ``interactions`` are the current period's of ``data`` (a contact's next
    contact is later, so in it too), with each contact's next contact only when ``metric``
    reads it (a window over every contact, the costliest part otherwise)."""
    w = data.window
    recent = data.interactions.filter(
        pc.greater_equal(data.interactions["started_at"], pa.scalar(w.current_start))
    )
    con = _cursor()
    try:
        # Not the segments map (a table built by hand has it; the analysis reads its keys).
        con.register(
            "_analysed", recent.select([c for c in recent.column_names if c != "segments"])
        )
        extra = f", {_NEXT_CONTACT}" if _reads_next_contact(metric) else ""
        con.execute(f"CREATE TEMP VIEW interactions AS SELECT *{extra} FROM _analysed")  # noqa: S608
    except BaseException:
        con.close()
        raise
    return con


def _reads_next_contact(metric: Metric) -> bool:
    """Whether any of ``metric``'s expressions reads a contact's next contact."""
    sql = (metric.numerator, metric.denominator, metric.value, metric.where, metric.drill)
    return any("next_contact_at" in part for part in sql if part)


def _period(data: AnalysisData) -> str:
    w = data.window
    return (
        f"i.started_at >= TIMESTAMPTZ '{w.current_start.isoformat()}' "
        f"AND i.started_at < TIMESTAMPTZ '{w.current_end.isoformat()}'"
    )


def _aggregates(m: Metric) -> str:
    if m.kind in ("ratio", "score"):
        return f"{m.numerator} AS a, {m.denominator} AS b, NULL AS c"
    if m.kind == "mean":
        v = f"CAST({m.value} AS DOUBLE)"
        return f"sum({v}) AS a, count({v}) AS b, sum({v} * {v}) AS c"
    q = 0.5 if m.kind == "median" else float(m.q or 0.5)
    return f"quantile_cont({m.value}, {q}) AS a, count({m.value}) AS b, NULL AS c"


def _estimate(m: Metric, row: tuple[object, ...]) -> calc.Estimate:
    a, b, c = (None if x is None else float(x) for x in row)  # type: ignore[arg-type]
    if m.kind == "ratio":
        return calc.ratio(a, b)
    if m.kind == "score":
        return calc.score(a, b)
    n = int(b or 0)
    if m.kind == "mean":
        if not n or a is None:
            return calc.Estimate(None, n)
        mu = a / n
        var = max(0.0, (c or 0.0) / n - mu * mu) * n / (n - 1) if n > 1 else math.nan
        return calc.mean(mu, n, math.sqrt(var) if n > 1 else None)
    return calc.Estimate(a if n else None, n)
