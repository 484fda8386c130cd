"""The monitored metrics' sums per day × cell, computed by the events engine.

One row per day of the read (counted back from its end), UTC day (``day``: each day counted
back from a time other than midnight straddles two) and value of one dimension (the journey,
or one segment key: ``dim`` and ``value``; or a journey and a channel, ``dim``
:data:`CROSSED`, the channel in ``cross_value``): how many conversations started then and
there, the first of them, and for each metric judged per cell
(:data:`~daytwo.detect.cells.MONITORED` with ``cells``) the sums its summaries are made of.
A cell's figure over any run of whole days (a week of the trend, say) is then a sum of a few
of these rows instead of a pass over every conversation: the analysis holds days × values,
however many conversations there are. The UTC day lets a period that starts and ends at UTC
midnight (the baseline window) be cut from the same rows exactly.

The sums of a rate are its numerator, its denominator and their products (the clustered
variance needs them); of a mean, the count of conversations with a value, its sum and its sum
of squares. Rates count conversations or turns, so their sums are exact whatever the order the
engine adds them in; a mean's sums may differ from a sum in row order in the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cells import (
    MONITORED,
    SEGMENT_KEYS,
    Cell,
    Monitored,
    Summary,
    segment_column,
    summaries_from_sums,
)
from daytwo.detect.data import (
    DAY_US,
    SPAN_END,
    SPAN_START,
    AnalysisData,
    EngineRead,
    days_before_end_sql,
)
from daytwo.store.events.columns import epoch_us

JUDGED: tuple[Monitored, ...] = tuple(m for m in MONITORED if m.cells)
KEYS = ("journey", *SEGMENT_KEYS)
# The dimension of the journey × channel rows (``value`` the journey, ``cross_value`` the
# channel): the cells the degradation detector crosses.
CROSSED = "journey_channel"

# Each judged metric per conversation, in the portable SQL: (value, weight) as DOUBLE, the
# same as its arrays in ``cells.py`` (a null count is 0, a mean's weight 1 where it has one).
_ZERO = "CAST(0 AS DOUBLE)"
_ONE = "CAST(1 AS DOUBLE)"


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN {_ONE} ELSE {_ZERO} END"


def _count(column: str) -> str:
    return f"CAST(coalesce({column}, 0) AS DOUBLE)"


_SQL_ARRAYS: dict[str, tuple[str, str]] = {
    "containment_rate": (_flag("outcome = 'contained'"), _flag("outcome IS NOT NULL")),
    "escalation_rate": (
        _flag("outcome IN ('escalated', 'transferred')"),
        _flag("outcome IS NOT NULL"),
    ),
    "abandonment_rate": (_flag("outcome = 'abandoned'"), _flag("outcome IS NOT NULL")),
    "fallback_rate_conversation": (
        _flag("coalesce(n_fallback_turns, 0) > 0"),
        _flag("coalesce(n_assistant_turns, 0) > 0"),
    ),
    "error_rate": (_count("n_error_turns"), _count("n_turns")),
    "rephrase_rate": (_flag("coalesce(n_repeats, 0) > 0"), _flag("coalesce(n_user_turns, 0) >= 2")),
    "latency_mean": (
        "CASE WHEN coalesce(n_latency, 0) > 0 THEN CAST(coalesce(latency_ms_sum, 0) AS DOUBLE) "
        f"/ CAST(n_latency AS DOUBLE) ELSE {_ZERO} END",
        _flag("coalesce(n_latency, 0) > 0"),
    ),
    "csat": (f"coalesce(CAST(csat AS DOUBLE), {_ZERO})", _flag("csat IS NOT NULL")),
    "average_handle_time": (
        f"coalesce(CAST(handle_time_s AS DOUBLE), {_ZERO})",
        _flag("handle_time_s IS NOT NULL"),
    ),
}
if set(_SQL_ARRAYS) != {m.metric for m in JUDGED}:  # pragma: no cover - a definition left out
    raise RuntimeError("every metric judged per cell needs its SQL in cell_days.py")


def sum_columns(m: Monitored) -> tuple[str, ...]:
    """The names of ``m``'s sums in the read (rates: num, den, num², num·den, den²; means:
    count, sum, sum of squares)."""
    parts = ("num", "den", "nn", "nd", "dd") if m.kind == "rate" else ("n", "s1", "s2")
    return tuple(f"{m.metric}__{p}" for p in parts)


def _sums_sql(m: Monitored) -> list[str]:
    """``m``'s sums over the per-conversation columns ``<metric>__v`` and ``<metric>__w``."""
    v, w = f"{m.metric}__v", f"{m.metric}__w"
    if m.kind == "rate":
        exprs = [v, w, f"{v} * {v}", f"{v} * {w}", f"{w} * {w}"]
    else:
        exprs = [
            w,
            f"CASE WHEN {w} > 0 THEN {v} ELSE {_ZERO} END",
            f"CASE WHEN {w} > 0 THEN {v} * {v} ELSE {_ZERO} END",
        ]
    return [f"sum({e}) AS {n}" for e, n in zip(exprs, sum_columns(m), strict=True)]


def _key_sql(key: str) -> str:
    if key in ("journey", "channel"):
        return f"CAST({key} AS VARCHAR)"
    return f"segments['{key}']"


_AGO = days_before_end_sql("started_at")
# Each conversation of the span once: its day, its dimensions' values, each metric's value
# and weight.
_ROWS = (
    f"SELECT {_AGO} AS ago, CAST(started_at AS DATE) AS day, started_at, "  # noqa: S608
    + ", ".join(f"{_key_sql(k)} AS k_{k}" for k in KEYS)
    + ", "
    + ", ".join(
        f"{v} AS {m.metric}__v, {w} AS {m.metric}__w"
        for m in JUDGED
        for v, w in [_SQL_ARRAYS[m.metric]]
    )
    + f" FROM interactions WHERE deployment = ? AND started_at >= {SPAN_START} "
    f"AND started_at < {SPAN_END}"
)
# One grouping set per dimension (journey, then each segment key) in one pass over them: days
# × the dimension's values, whatever the conversations. GROUPING(...) names the set: the bit
# of each dimension it leaves out is 1, the first dimension's the highest.
_GROUPING = f"GROUPING({', '.join(f'k_{k}' for k in KEYS)})"
_ALL = 2 ** len(KEYS) - 1
_SETS = [(k, _ALL - 2 ** (len(KEYS) - 1 - i)) for i, k in enumerate(KEYS)]
_CROSSED_SET = _ALL - 2 ** (len(KEYS) - 1) - 2 ** (len(KEYS) - 2)  # journey and channel
_SQL = (
    "SELECT ago, day, CASE "  # noqa: S608 - built from constants
    + " ".join(f"WHEN {_GROUPING} = {g} THEN '{k}'" for k, g in _SETS)
    + f" WHEN {_GROUPING} = {_CROSSED_SET} THEN '{CROSSED}'"
    + " END AS dim, CASE "
    + " ".join(f"WHEN {_GROUPING} = {g} THEN k_{k}" for k, g in _SETS)
    + f" WHEN {_GROUPING} = {_CROSSED_SET} THEN k_journey"
    + f" END AS value, CASE WHEN {_GROUPING} = {_CROSSED_SET} THEN k_channel END AS cross_value"
    + ", CAST(count(*) AS BIGINT) AS n_rows, min(started_at) AS first_at, "
    + ", ".join(s for m in JUDGED for s in _sums_sql(m))
    + f" FROM ({_ROWS}) r GROUP BY GROUPING SETS ("
    + ", ".join(f"(ago, day, k_{k})" for k in KEYS)
    + ", (ago, day, k_journey, k_channel))"
)


def _from_rows(data: AnalysisData) -> pa.Table:
    """The read from an analysis's raw interactions (its span: the whole table)."""
    t = data.interactions
    end_us = epoch_us(data.window.current_end)
    started = pc.cast(t["started_at"], pa.int64()).to_numpy(zero_copy_only=False)
    columns: dict[str, pa.Array | np.ndarray] = {
        "ago": (end_us - started.astype(np.int64) - 1) // DAY_US,
        "day": pa.array((started.astype(np.int64) // DAY_US).astype(np.int32)).cast(pa.date32()),
        "n_rows": np.ones(t.num_rows, dtype=np.int64),
        "first_at": t["started_at"],
    }
    aggs: list[tuple[str, str]] = [("n_rows", "sum"), ("first_at", "min")]
    for m in JUDGED:
        v, w = m.arrays(t)
        if m.kind == "rate":
            sums: tuple[np.ndarray, ...] = (v, w, v * v, v * w, w * w)
        else:
            present = w > 0
            sums = (w, np.where(present, v, 0.0), np.where(present, v * v, 0.0))
        for name, values in zip(sum_columns(m), sums, strict=True):
            columns[name] = values
            aggs.append((name, "sum"))
    journey = pc.cast(t["journey"], pa.string())
    parts = []
    for key in (*KEYS, CROSSED):
        value = journey if key in ("journey", CROSSED) else segment_column(t, key)
        none = pa.nulls(t.num_rows, pa.string())
        cross = segment_column(t, "channel") if key == CROSSED else none
        grouped = (
            pa.table({**columns, "value": value, "cross_value": cross})
            .group_by(["ago", "day", "value", "cross_value"], use_threads=False)
            .aggregate(aggs)
        )
        grouped = grouped.rename_columns(
            [c.removesuffix("_sum").removesuffix("_min") for c in grouped.column_names]
        )
        dim = pa.array([key] * grouped.num_rows, pa.string())
        parts.append(
            grouped.append_column("dim", dim).select(
                ["ago", "day", "dim", "value", "cross_value", "n_rows", "first_at"]
                + [m for m, _ in aggs[2:]]
            )
        )
    return pa.concat_tables(parts)


CELL_DAYS = EngineRead("cell_days", _SQL, "ago", _from_rows)
"""The judged metrics' sums per day before the analysis's end × journey, and × each segment
key's values."""


@dataclass(frozen=True, slots=True)
class DayCells:
    """One dimension's cells over the read's rows: ``codes[r]`` is row r's cell (or -1)."""

    cells: tuple[Cell, ...]
    codes: np.ndarray


def day_cell_groups(
    table: pa.Table, *, journeys: bool = True, segments: bool = True, crossed: bool = False
) -> list[DayCells]:
    """The cells of :func:`daytwo.detect.cells.cell_groups` over the read's rows: the whole,
    each journey, each segment value (and with ``crossed`` each journey × channel, after the
    channels), in the order the values first appear (ties by value); a cell that holds every
    conversation is left out, as there."""
    n = table.num_rows
    dims = table["dim"].to_numpy(zero_copy_only=False)
    # The whole deployment: every conversation is in one row per day of each dimension.
    groups = [DayCells((Cell(None, None),), np.where(dims == KEYS[0], 0, -1))]
    if not n:
        return groups
    total = int(pc.sum(pc.filter(table["n_rows"], pc.equal(table["dim"], KEYS[0]))).as_py())
    first = pc.cast(table["first_at"], pa.int64()).to_numpy(zero_copy_only=False)
    rows = table["n_rows"].to_numpy(zero_copy_only=False)
    encoded = pc.dictionary_encode(table["value"].combine_chunks(), null_encoding="mask")
    value_codes = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False))
    names = [str(v) for v in encoded.dictionary.to_pylist()]

    def ordered(key: str) -> tuple[np.ndarray, list[int]]:
        """Rows' value codes of dimension ``key`` (-1 elsewhere) and its codes in order."""
        codes = np.where(dims == key, value_codes, -1)
        present = codes >= 0
        firsts = np.full(len(names), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(firsts, codes[present], first[present])
        used = np.unique(codes[present]).tolist()
        return codes, sorted(used, key=lambda i: (firsts[i], names[i]))

    def leave_full(cells: tuple[Cell, ...], ranked: np.ndarray) -> DayCells:
        present = ranked >= 0
        counts = np.bincount(ranked[present], weights=rows[present], minlength=len(cells))
        full = np.flatnonzero(counts == total)
        return DayCells(cells, np.where(np.isin(ranked, full), -1, ranked))

    keys = (["journey"] if journeys else []) + (list(SEGMENT_KEYS) if segments else [])
    for key in keys:
        codes, order = ordered(key)
        if not order:
            groups.append(DayCells((), np.full(n, -1, dtype=np.int64)))
            continue
        rank = np.full(len(names), -1, dtype=np.int64)
        rank[order] = np.arange(len(order))
        cells = tuple(
            Cell(names[i], None) if key == "journey" else Cell(None, (key, names[i])) for i in order
        )
        groups.append(leave_full(cells, np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)))
        journey_order = ordered("journey")[1] if crossed and key == "channel" else []
        if journey_order:
            groups.append(leave_full(*_crossed(table, dims, journey_order, order, names)))
    return groups


def _crossed(
    table: pa.Table, dims: np.ndarray, journeys: list[int], channels: list[int], names: list[str]
) -> tuple[tuple[Cell, ...], np.ndarray]:
    """The journey × channel cells, journey by journey in the journeys' order and the
    channels' within it (every pair, as :func:`daytwo.detect.cells.cell_groups` makes them),
    and the :data:`CROSSED` rows' cells."""
    j_rank = {names[i]: r for r, i in enumerate(journeys)}
    c_rank = {names[i]: r for r, i in enumerate(channels)}
    at = np.flatnonzero(dims == CROSSED)
    js = table["value"].take(at).to_pylist()
    cs = table["cross_value"].take(at).to_pylist()
    codes = np.full(table.num_rows, -1, dtype=np.int64)
    for r, j, c in zip(at.tolist(), js, cs, strict=True):
        if j in j_rank and c in c_rank:
            codes[r] = j_rank[j] * len(channels) + c_rank[c]
    cells = tuple(Cell(names[j], ("channel", names[c])) for j in journeys for c in channels)
    return cells, codes


def period_sums(
    m: Monitored, table: pa.Table, group: DayCells, period: np.ndarray, n_periods: int
) -> list[list[Summary]]:
    """Each cell's summaries of ``m`` in each of ``n_periods`` periods (``period[r]`` is row
    r's, or -1): per cell, in period order."""
    k = len(group.cells)
    codes = np.where((group.codes >= 0) & (period >= 0), group.codes * n_periods + period, -1)
    sel = codes >= 0
    sums = [
        np.bincount(
            codes[sel],
            weights=table[c].to_numpy(zero_copy_only=False).astype(np.float64)[sel],
            minlength=k * n_periods,
        )
        for c in sum_columns(m)
    ]
    flat = summaries_from_sums(m, sums)
    return [flat[c * n_periods : (c + 1) * n_periods] for c in range(k)]


def periods_of(table: pa.Table, days: Sequence[tuple[int, int]]) -> np.ndarray:
    """Each row's period: the index of the ``(first, last)`` run of days before the end
    (inclusive) it falls in, or -1."""
    ago = table["ago"].to_numpy(zero_copy_only=False)
    period = np.full(len(ago), -1, dtype=np.int64)
    for i, (lo, hi) in enumerate(days):
        period[(ago >= lo) & (ago <= hi)] = i
    return period
