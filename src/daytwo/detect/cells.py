"""Monitored metrics per interaction, and the cells (journey × segment) they are compared in.

The degradation, SLO and trend detectors judge the same few outcome and quality metrics. Each
:class:`Monitored` metric turns the interactions table into two numpy arrays, one value per
interaction: a numerator and a denominator for rates, a value and a weight of 1 for means.
Their ids are metric-catalog ids, so every finding links to a definition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.clock import aware
from daytwo.interactions.facts import flag_array
from daytwo.metrics.catalog import REGISTRY
from daytwo.units import Unit, fmt_value

Arrays = tuple[np.ndarray, np.ndarray]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Segment keys every deployment may carry; "channel" is a column, the rest live in ``segments``.
SEGMENT_KEYS = ("channel", "site", "team", "language", "tenure")
# The segment keys the analysis reads as columns of their own (``segment.<key>``) instead of
# the ``segments`` map: those the detectors slice by, and those the adoption detectors group
# agents by (``cohort`` as the adoption rollup does).
READ_SEGMENT_KEYS = (*(k for k in SEGMENT_KEYS if k != "channel"), "cohort")


def _num(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(
        pc.fill_null(table[column], 0).to_numpy(zero_copy_only=False), dtype=np.float64
    )


def _outcome(table: pa.Table, *values: str) -> Arrays:
    outcome = table["outcome"]
    num = flag_array(pc.is_in(outcome, pa.array(values)))
    den = flag_array(pc.is_valid(outcome))
    return num.astype(np.float64), den.astype(np.float64)


def _fallback(table: pa.Table) -> Arrays:
    return (_num(table, "n_fallback_turns") > 0).astype(np.float64), (
        _num(table, "n_assistant_turns") > 0
    ).astype(np.float64)


def _errors(table: pa.Table) -> Arrays:
    return _num(table, "n_error_turns"), _num(table, "n_turns")


def _rephrase(table: pa.Table) -> Arrays:
    return (_num(table, "n_repeats") > 0).astype(np.float64), (
        _num(table, "n_user_turns") >= 2
    ).astype(np.float64)


def _acceptance(table: pa.Table) -> Arrays:
    shown = _num(table, "n_assist_shown")
    taken = np.minimum(_num(table, "n_assist_accepted") + _num(table, "n_assist_edited"), shown)
    return taken, shown


def _mean_of(column: str) -> Callable[[pa.Table], Arrays]:
    def arrays(table: pa.Table) -> Arrays:
        values = table[column].to_numpy(zero_copy_only=False).astype(np.float64)
        present = ~np.isnan(values)
        return np.where(present, values, 0.0), present.astype(np.float64)

    return arrays


def _latency(table: pa.Table) -> Arrays:
    n = _num(table, "n_latency")
    total = _num(table, "latency_ms_sum")
    mean = np.divide(total, n, out=np.zeros_like(total), where=n > 0)
    return mean, (n > 0).astype(np.float64)


@dataclass(frozen=True, slots=True)
class Monitored:
    """A metric judged per cell: ``rate`` (num/den, binomial) or ``mean`` (value, Welch).

    ``min_effect`` is the smallest change worth a finding: absolute for rates (share points),
    relative (a fraction of the baseline) for means. ``cells`` says whether the degradation and
    trend detectors judge it per cell; a metric judged by a domain's own detectors (suggestion
    acceptance: the adoption domain tests each group and agent against their own recent past,
    not against the go-live baseline) is left to them, and still checked against its target.
    """

    metric: str
    kind: Literal["rate", "mean"]
    good: Literal["up", "down"]
    arrays: Callable[[pa.Table], Arrays]
    min_effect: float
    label: str
    cells: bool = True


MONITORED: tuple[Monitored, ...] = (
    Monitored("containment_rate", "rate", "up", lambda t: _outcome(t, "contained"), 0.05,
              "containment"),
    Monitored("escalation_rate", "rate", "down",
              lambda t: _outcome(t, "escalated", "transferred"), 0.05, "escalation"),
    Monitored("abandonment_rate", "rate", "down", lambda t: _outcome(t, "abandoned"), 0.04,
              "abandonment"),
    Monitored("fallback_rate_conversation", "rate", "down", _fallback, 0.05, "fallback"),
    Monitored("error_rate", "rate", "down", _errors, 0.01, "turn errors"),
    Monitored("rephrase_rate", "rate", "down", _rephrase, 0.05, "rephrasing"),
    Monitored("suggestion_acceptance_rate", "rate", "up", _acceptance, 0.05,
              "suggestion acceptance", cells=False),
    Monitored("latency_mean", "mean", "down", _latency, 0.25, "answer latency"),
    Monitored("csat", "mean", "up", _mean_of("csat"), 0.08, "CSAT"),
    Monitored("average_handle_time", "mean", "down", _mean_of("handle_time_s"), 0.15,
              "handle time"),
)  # fmt: skip
MONITORED_BY_ID = {m.metric: m for m in MONITORED}


def unit_of(m: Monitored) -> Unit:
    """The catalog's unit of a monitored metric (every monitored metric is in the catalog)."""
    return REGISTRY[m.metric].unit


def show(m: Monitored, value: float | None) -> str:
    """A monitored metric's value as every page shows it."""
    return fmt_value(value, unit_of(m))


def show_metric(metric_id: str, value: float | None) -> str:
    """A catalog metric's value as every page shows it."""
    found = REGISTRY.get(metric_id)
    return fmt_value(value, found.unit if found else "score")


def with_segment_columns(table: pa.Table) -> pa.Table:
    """``table`` plus one ``segment.<key>`` column per segment key the detectors slice by."""
    for key in SEGMENT_KEYS:
        if key != "channel" and f"segment.{key}" not in table.column_names:
            table = table.append_column(f"segment.{key}", segment_column(table, key))
    return table


@dataclass(frozen=True, slots=True)
class Cell:
    """A slice of a deployment: everything, one journey, one segment value, or both."""

    journey: str | None
    segment: tuple[str, str] | None


def segment_column(table: pa.Table, key: str) -> pa.Array:
    """The value of segment ``key`` per interaction (``channel`` is its own column).

    A ``segment.<key>`` column, where the loader added one, is used as is: looking keys up in
    the ``segments`` map is the costly part, and every detector needs the same few.
    """
    if key == "channel":
        return pc.cast(table["channel"].combine_chunks(), pa.string())
    if f"segment.{key}" in table.column_names:
        return table[f"segment.{key}"].combine_chunks()
    if "segments" not in table.column_names:
        raise ValueError(
            f"segment {key!r} was not read: the analysis reads segments {READ_SEGMENT_KEYS} only"
        )
    segments = table["segments"].combine_chunks()
    if len(segments) == 0:
        return pa.nulls(0, pa.string())
    return pc.map_lookup(segments, pa.scalar(key, pa.string()), "first")


def cell_mask(table: pa.Table, cell: Cell) -> np.ndarray:
    """The rows of ``table`` in ``cell`` (its journey and segment value; every row for the
    whole)."""
    mask = np.ones(table.num_rows, dtype=bool)
    for column, value in (
        (table["journey"] if cell.journey is not None else None, cell.journey),
        (segment_column(table, cell.segment[0]) if cell.segment else None,
         cell.segment[1] if cell.segment else None),
    ):  # fmt: skip
        if column is not None:
            equal = pc.equal(pc.cast(column, pa.string()), pa.scalar(value, pa.string()))
            mask &= np.asarray(pc.fill_null(equal, False).to_numpy(zero_copy_only=False))
    return mask


def cell_masks(
    table: pa.Table, *, journeys: bool = True, segments: bool = True, crossed: bool = False
) -> Iterator[tuple[Cell, np.ndarray]]:
    """Each cell of ``table`` with its row mask: all, each journey, each segment value.

    With ``crossed`` also each journey × channel cell (the other segments are too thin). A
    cell that holds every row (one journey, one channel) is the whole again and is skipped.
    """
    for cell, mask in _all_cells(table, journeys=journeys, segments=segments, crossed=crossed):
        if cell == Cell(None, None) or not mask.all():
            yield cell, mask


def _all_cells(
    table: pa.Table, *, journeys: bool, segments: bool, crossed: bool
) -> Iterator[tuple[Cell, np.ndarray]]:
    n = table.num_rows
    yield Cell(None, None), np.ones(n, dtype=bool)
    journey_codes: tuple[np.ndarray, list[str]] | None = None
    if journeys and n:
        journey_codes = _codes(table["journey"].combine_chunks())
        codes, names = journey_codes
        for i, name in enumerate(names):
            yield Cell(name, None), codes == i
    if segments and n:
        for key in SEGMENT_KEYS:
            codes, names = _codes(segment_column(table, key))
            for i, name in enumerate(names):
                mask = codes == i
                yield Cell(None, (key, name)), mask
                if crossed and key == "channel" and journey_codes is not None:
                    jcodes, jnames = journey_codes
                    for j, jname in enumerate(jnames):
                        yield Cell(jname, (key, name)), mask & (jcodes == j)


def _codes(values: pa.Array) -> tuple[np.ndarray, list[str]]:
    encoded = pc.dictionary_encode(values, null_encoding="mask")
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False))
    return codes, [str(v) for v in encoded.dictionary.to_pylist()]


def started_ns(table: pa.Table) -> np.ndarray:
    """``started_at`` as int64 nanoseconds, for fast window masks."""
    col = pc.cast(table["started_at"], pa.timestamp("us", tz="UTC"))
    return (
        np.asarray(col.to_numpy(zero_copy_only=False)).astype("datetime64[us]").astype(np.int64)
        * 1000
    )


def utc_day_number(at: datetime) -> int:
    """The UTC day ``at`` falls on, in days since the epoch (as Arrow's ``date32``)."""
    return (aware(at).astimezone(UTC).date() - _EPOCH.date()).days


def ns(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000) * 1000


def in_window(starts: np.ndarray, start: datetime, end: datetime) -> np.ndarray:
    return (starts >= ns(start)) & (starts < ns(end))


@dataclass(frozen=True, slots=True)
class Summary:
    """A metric over one set of rows: value, sample size, and what its test needs."""

    value: float | None
    n: int
    num: float
    den: float
    var: float  # of one unit's value (means)
    # Variance of the value as an estimate: for rates clustered by interaction (several turns
    # or suggestions of one conversation are not independent), for means var / n.
    se2: float = 0.0


def summarise(m: Monitored, values: np.ndarray, weights: np.ndarray, mask: np.ndarray) -> Summary:
    """The metric over the rows in ``mask`` (numerator/denominator or mean/variance)."""
    # One cell: the rows of ``mask`` taken out once and summed in row order, as
    # :func:`group_summaries` sums a cell's rows (the same figures to the bit).
    rows = np.asarray(mask, dtype=bool)
    v, w = values[rows], weights[rows]
    return _cell_summaries(m, np.zeros(len(v), dtype=np.int64), v, w, 1)[0]


@dataclass(frozen=True, slots=True)
class CellGroup:
    """Cells that partition the rows by one dimension: ``codes[i]`` is row i's cell (or -1)."""

    cells: tuple[Cell, ...]
    codes: np.ndarray

    def mask(self, index: int) -> np.ndarray:
        return np.asarray(self.codes == index)


def cell_groups(
    table: pa.Table, *, journeys: bool = True, segments: bool = True, crossed: bool = False
) -> list[CellGroup]:
    """The same cells as :func:`cell_masks`, as a few code arrays (one pass per dimension)."""
    n = table.num_rows
    groups = [CellGroup((Cell(None, None),), np.zeros(n, dtype=np.int64))]
    if not n:
        return groups
    jcodes, jnames = _codes(table["journey"].combine_chunks())
    if journeys:
        groups.append(CellGroup(tuple(Cell(j, None) for j in jnames), jcodes))
    if segments:
        for key in SEGMENT_KEYS:
            codes, names = _codes(segment_column(table, key))
            groups.append(CellGroup(tuple(Cell(None, (key, v)) for v in names), codes))
            if crossed and key == "channel" and jnames and names:
                both = np.where((jcodes >= 0) & (codes >= 0), jcodes * len(names) + codes, -1)
                cells = tuple(Cell(j, (key, v)) for j in jnames for v in names)
                groups.append(CellGroup(cells, both))
    out = []
    for g in groups:
        if g.cells == (Cell(None, None),):
            out.append(g)
            continue
        # A cell holding every row is the whole deployment again: leave it out.
        full = np.bincount(g.codes[g.codes >= 0], minlength=len(g.cells)) == n
        codes = np.where(np.isin(g.codes, np.flatnonzero(full)), -1, g.codes)
        out.append(CellGroup(g.cells, codes))
    return out


def group_summaries(
    m: Monitored, values: np.ndarray, weights: np.ndarray, group: CellGroup, rows: np.ndarray
) -> list[Summary]:
    """:func:`summarise` for every cell of ``group`` over the rows in ``rows``, at once.

    A rate's variance is the ratio estimator's, clustered by interaction:
    sum((num_i - r den_i)^2) / (sum den_i)^2.
    """
    return _summaries(m, values, weights, group.codes, len(group.cells), rows)


def period_summaries(
    m: Monitored,
    values: np.ndarray,
    weights: np.ndarray,
    group: CellGroup,
    period: np.ndarray,
    n_periods: int,
) -> list[list[Summary]]:
    """:func:`summarise` for every cell of ``group`` in each of ``n_periods`` disjoint periods
    (``period[i]`` is row i's period, or -1), at once: per cell, its summaries in period order.

    Each cell and period sums the same rows in the same order as :func:`summarise` over the
    cell's mask and the period's, so the figures are identical, for one pass over the rows.
    """
    k = len(group.cells)
    codes = np.where((group.codes >= 0) & (period >= 0), group.codes * n_periods + period, -1)
    flat = _summaries(m, values, weights, codes, k * n_periods, np.ones(len(codes), dtype=bool))
    return [flat[c * n_periods : (c + 1) * n_periods] for c in range(k)]


def _summaries(
    m: Monitored,
    values: np.ndarray,
    weights: np.ndarray,
    all_codes: np.ndarray,
    k: int,
    rows: np.ndarray,
) -> list[Summary]:
    """The summaries of ``k`` cells, row i in cell ``all_codes[i]`` (-1: none), over ``rows``."""
    sel = rows & (all_codes >= 0)
    return _cell_summaries(m, all_codes[sel], values[sel], weights[sel], k)


def _cell_summaries(
    m: Monitored, codes: np.ndarray, v: np.ndarray, w: np.ndarray, k: int
) -> list[Summary]:
    """The summaries of ``k`` cells from the selected rows' cells, values and weights (sums
    in row order)."""
    if m.kind == "rate":
        sums = [np.bincount(codes, weights=x, minlength=k) for x in (v, w, v * v, v * w, w * w)]
        return summaries_from_sums(m, sums)
    present = w > 0
    codes, v = codes[present], v[present]
    n = np.bincount(codes, minlength=k).astype(np.float64)
    s1 = np.bincount(codes, weights=v, minlength=k)
    s2 = np.bincount(codes, weights=v * v, minlength=k)
    return summaries_from_sums(m, [n, s1, s2])


def summaries_from_sums(m: Monitored, sums: list[np.ndarray]) -> list[Summary]:
    """The summaries of cells from their sums: a rate's numerator, denominator, and the sums
    of num², num·den and den² over its conversations; a mean's count, sum and sum of squares
    (:mod:`daytwo.detect.cell_days` reads them from the engine)."""
    if m.kind == "rate":
        num, den, snn, snd, sdd = sums
        out = []
        for a, b, nn, nd, dd in zip(num, den, snn, snd, sdd, strict=True):
            if b <= 0:
                out.append(Summary(None, int(b), float(a), float(b), 0.0))
                continue
            r = a / b
            se2 = max(0.0, nn - 2 * r * nd + r * r * dd) / (b * b)
            out.append(Summary(float(r), int(b), float(a), float(b), 0.0, float(se2)))
        return out
    n, s1, s2 = sums
    means = []
    for c, a, b in zip(n, s1, s2, strict=True):
        count = int(c)
        if count == 0:
            means.append(Summary(None, 0, 0.0, 0.0, 0.0))
            continue
        mean = a / count
        var = max(0.0, (b - count * mean * mean) / (count - 1)) if count > 1 else 0.0
        means.append(
            Summary(float(mean), int(count), float(a), float(count), float(var), var / count)
        )
    return means
