"""Degradation vs baseline: which metrics got worse, in which journey and segment."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cell_days import CELL_DAYS, JUDGED, KEYS, DayCells, day_cell_groups, sum_columns
from daytwo.detect.cells import (
    Cell,
    Monitored,
    Summary,
    cell_mask,
    in_window,
    started_ns,
    summaries_from_sums,
    unit_of,
    utc_day_number,
)
from daytwo.detect.data import AnalysisData
from daytwo.detect.findings import (
    Finding,
    FindingScope,
    Measure,
    Severity,
    evidence_sample,
    weekly_impact,
)
from daytwo.detect.registry import Needs, detector
from daytwo.detect.stats import benjamini_hochberg, normal_sf
from daytwo.units import fmt_change


@dataclass(frozen=True, slots=True)
class DegradationParams:
    """Windows ending at the end of the current period; tests need these samples and effects."""

    windows_days: tuple[int, ...] = (1, 3, 7)
    min_baseline: int = 200
    min_current: int = 80
    fdr: float = 0.01
    # Multiplies each metric's own smallest effect worth a finding (``Monitored.min_effect``).
    effect_scale: float = 1.0
    crossed: bool = True
    # Where the whole deployment worsened, a part is reported only if it worsened more than
    # the rest by this z (difference in differences).
    specific_z: float = 3.0


@dataclass(frozen=True, slots=True)
class _Test:
    metric: Monitored
    cell: Cell
    days: int
    base: Measure
    cur: Measure
    z: float
    p: float
    effect: float
    big_enough: bool
    group: int  # the cell's group in the read (:func:`day_cell_groups`), 0 the whole
    index: int


def worse_by(m: Monitored, base: float, cur: float) -> float:
    """How much worse ``cur`` is than ``base``: share points for rates, a fraction for means."""
    delta = cur - base if m.good == "down" else base - cur
    if m.kind == "mean":
        return delta / abs(base) if base else 0.0
    return delta


def severity_of(effect: float, min_effect: float, z: float) -> Severity:
    ratio = effect / min_effect if min_effect else 1.0
    if ratio >= 4 and z >= 8:
        return Severity.critical
    if ratio >= 3:
        return Severity.high
    if ratio >= 2:
        return Severity.medium
    return Severity.low


def bad_rows(m: Monitored, values: np.ndarray, weights: np.ndarray, base: float) -> np.ndarray:
    """The interactions that show the problem (for evidence and impact)."""
    if m.kind == "rate":
        if m.good == "down":
            return values > 0
        return (weights > 0) & (values < weights)
    if m.good == "down":
        return (weights > 0) & (values > base)
    return (weights > 0) & (values < base)


@detector(
    "degradation",
    name="Degradation vs baseline",
    params=DegradationParams(),
    needs=Needs(reads=(CELL_DAYS,)),
)
def detect_degradation(data: AnalysisData, params: DegradationParams) -> list[Finding]:
    """Metrics that got significantly and materially worse than in the baseline window.

    For every monitored metric (containment, escalation, abandonment, fallback, errors,
    rephrasing, suggestion acceptance, latency, CSAT, handle time) and every cell (the whole
    deployment, each journey, each segment value, each journey × channel), the last 1, 3 and 7
    days are compared with the baseline window by a one-sided z-test: for rates with the
    ratio estimator's variance clustered by conversation (the turns or suggestions of one
    conversation are not independent), for means Welch's. A cell is tested only with enough
    interactions on both sides, and reported only when the change is at least the metric's
    smallest material effect (e.g. 5 share points of containment, 25% of latency) *and* the
    test survives Benjamini-Hochberg false-discovery control at 1% across all cells, metrics
    and windows tested. Where the
    whole deployment worsened, a journey or segment is reported only when it worsened more
    than the rest of the deployment (difference in differences, z >= 3); otherwise the whole
    is reported once. A journey × channel cell is dropped when its journey or channel alone
    is reported.
    """
    w = data.window
    # The cells' sums per day before the end and UTC day, from the events engine: the baseline
    # window is whole UTC days, the last 1, 3 and 7 days are whole days before the end.
    cells = data.read(CELL_DAYS)
    if cells.num_rows == 0:
        return []
    ago = cells["ago"].to_numpy(zero_copy_only=False)
    day = np.asarray(
        pc.cast(cells["day"], pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    base_rows = (day >= utc_day_number(w.baseline_start)) & (day < utc_day_number(w.baseline_end))
    windows = [
        (d, ago < min(d, w.current_days))
        for d in params.windows_days
        if timedelta(days=d) <= w.current_end - w.current_start
    ]
    whole_rows = cells["dim"].to_numpy(zero_copy_only=False) == KEYS[0]
    n_rows = cells["n_rows"].to_numpy(zero_copy_only=False)
    if not n_rows[base_rows & whole_rows].sum() or not windows:
        return []
    groups = day_cell_groups(cells, crossed=params.crossed)
    summed = _Sums(cells, groups)
    tests: list[_Test] = []
    sums: dict[tuple[str, int | None, int], list[np.ndarray]] = {}
    for m in JUDGED:
        base_sums = [summed.of(m, g, None, base_rows) for g in range(len(groups))]
        if base_sums[0][1][0] < params.min_baseline:  # the whole's denominator or count
            continue
        min_effect = m.min_effect * params.effect_scale
        current_sums = {
            d: [summed.of(m, g, d, rows) for g in range(len(groups))] for d, rows in windows
        }
        for g, group in enumerate(groups):
            sums[(m.metric, None, g)] = base_sums[g]
            base = summaries_from_sums(m, base_sums[g])
            current = {}
            for days, _ in windows:
                sums[(m.metric, days, g)] = current_sums[days][g]
                current[days] = summaries_from_sums(m, current_sums[days][g])
            for i, cell in enumerate(group.cells):
                b = base[i]
                if b.value is None or b.n < params.min_baseline:
                    continue
                for days, _ in windows:
                    c = current[days][i]
                    if c.value is None or c.n < params.min_current:
                        continue
                    z = change_z(b, c)
                    z = z if m.good == "down" else -z
                    effect = worse_by(m, b.value, c.value)
                    tests.append(
                        _Test(
                            m, cell, days, Measure(b.value, b.n), Measure(c.value, c.n), z,
                            normal_sf(z), effect, effect >= min_effect, g, i,
                        )
                    )  # fmt: skip
    if not tests:
        return []
    found = benjamini_hochberg([t.p for t in tests], params.fdr)
    best: dict[tuple[str, Cell], _Test] = {}
    for t, hit in zip(tests, found, strict=True):
        if not (hit and t.big_enough):
            continue
        key = (t.metric.metric, t.cell)
        if key not in best or t.z > best[key].z:
            best[key] = t
    kept = _most_specific(best, sums, params.specific_z)
    if not kept:
        return []
    # Evidence and impact from the conversations of the current period (the same rows in the
    # same order as over the whole table), for the few cells reported.
    starts = started_ns(data.interactions)
    in_period = in_window(starts, w.current_start, w.current_end)
    recent = data.interactions.filter(pa.array(in_period))
    arrays = {
        m.metric: m.arrays(recent) for m in {t.metric.metric: t.metric for t in kept}.values()
    }
    return [
        _finding(data, t, params, recent, starts[in_period], arrays[t.metric.metric]) for t in kept
    ]


class _Sums:
    """Each group's cells' sums of a metric over some of the read's rows.

    Every metric is summed over the same rows of each group (the baseline's, each window's):
    those rows and their cells are picked once per group and period, and each sum column is
    taken out of Arrow once, instead of once per metric, group and period. The sums are the
    same to the bit (the same rows added in the same order)."""

    def __init__(self, cells: pa.Table, groups: list[DayCells]) -> None:
        self._cells = cells
        self._groups = groups
        self._columns: dict[str, np.ndarray] = {}
        self._rows: dict[tuple[int, int | None], tuple[np.ndarray, np.ndarray]] = {}

    def of(self, m: Monitored, g: int, period: int | None, rows: np.ndarray) -> list[np.ndarray]:
        """Each cell of group ``g``'s sums of ``m`` over ``rows`` (the rows of ``period``:
        None the baseline, else the window of that many days)."""
        group = self._groups[g]
        picked = self._rows.get((g, period))
        if picked is None:
            at = np.flatnonzero(rows & (group.codes >= 0))
            picked = self._rows[(g, period)] = (at, group.codes[at])
        at, codes = picked
        out = []
        for c in sum_columns(m):
            column = self._columns.get(c)
            if column is None:
                column = self._columns[c] = (
                    self._cells[c].to_numpy(zero_copy_only=False).astype(np.float64)
                )
            out.append(np.bincount(codes, weights=column[at], minlength=len(group.cells)))
        return out


def change_z(before: Summary, after: Summary) -> float:
    """z of ``after - before`` from each value's own variance (clustered for rates)."""
    se = math.sqrt(before.se2 + after.se2)
    if se <= 0 or before.value is None or after.value is None:
        return 0.0
    return (after.value - before.value) / se


def _specific(
    t: _Test, sums: dict[tuple[str, int | None, int], list[np.ndarray]], z_min: float
) -> bool:
    """Whether the cell worsened more than the rest of the deployment (difference in
    differences, one-sided z >= ``z_min``): only then is the cell, not the whole, the place.
    The rest's sums are the whole's less the cell's."""
    m = t.metric

    def parts(days: int | None) -> tuple[Summary, Summary]:
        cell = [s[t.index] for s in sums[(m.metric, days, t.group)]]
        whole = [s[0] for s in sums[(m.metric, days, 0)]]
        rest = [a - b for a, b in zip(whole, cell, strict=True)]
        one, other = summaries_from_sums(
            m, [np.array([a, b]) for a, b in zip(cell, rest, strict=True)]
        )
        return one, other

    cb, rb = parts(None)
    cc, rc = parts(t.days)
    if None in (cb.value, cc.value, rb.value, rc.value):
        return True
    sign = 1.0 if m.good == "down" else -1.0
    did = sign * ((cc.value - cb.value) - (rc.value - rb.value))  # type: ignore[operator]
    se = math.sqrt(sum(x.se2 for x in (cb, cc, rb, rc)))
    return se > 0 and did / se >= z_min


def _most_specific(
    best: dict[tuple[str, Cell], _Test],
    sums: dict[tuple[str, int | None, int], list[np.ndarray]],
    z_min: float,
) -> list[_Test]:
    """The cells that locate each change.

    Where the whole deployment is flagged, a journey or segment is reported only when it
    worsened significantly more than the rest (otherwise it just shares the general change);
    the whole is reported when no such cell locates it. A journey × channel cell is dropped
    when its journey or its channel alone is reported.
    """
    out: list[_Test] = []
    metrics = {k[0] for k in best}
    for metric in metrics:
        whole = best.get((metric, Cell(None, None)))
        parts = [t for (mid, c), t in best.items() if mid == metric and c != Cell(None, None)]
        if whole is not None:
            parts = [t for t in parts if _specific(t, sums, z_min)]
        keys = {(t.cell.journey, t.cell.segment) for t in parts}
        kept = [
            t
            for t in parts
            if not (
                t.cell.journey is not None
                and t.cell.segment is not None
                and ((t.cell.journey, None) in keys or (None, t.cell.segment) in keys)
            )
        ]
        if whole is not None and not kept:
            kept = [whole]
        out.extend(kept)
    return sorted(out, key=lambda t: -t.z)


def _finding(
    data: AnalysisData,
    t: _Test,
    params: DegradationParams,
    table: pa.Table,
    starts: np.ndarray,
    arrays: tuple[np.ndarray, np.ndarray],
) -> Finding:
    """``t``'s finding, its evidence and impact from ``table``: the conversations of the
    current period (started at ``starts``), with ``t``'s metric's ``arrays`` over them."""
    m = t.metric
    values, weights = arrays
    w = data.window
    cur_rows = in_window(
        starts, max(w.current_start, w.current_end - timedelta(days=t.days)), w.current_end
    )
    in_cell = cell_mask(table, t.cell) & cur_rows
    bad = in_cell & bad_rows(m, values, weights, t.base.value or 0.0)
    rows = np.flatnonzero(bad)
    rows = rows[np.argsort(starts[rows], kind="stable")]
    ids = table["interaction_id"].take(pa.array(rows, type=pa.int64()))
    end = data.window.current_end
    cell_rows = np.flatnonzero(in_cell)
    last = (
        datetime.fromtimestamp(int(starts[cell_rows].max()) / 1e9, UTC) if len(cell_rows) else end
    )
    where = _where(t.cell)
    base, cur = t.base.value or 0.0, t.cur.value or 0.0
    unit = "" if m.kind == "rate" else " (mean)"
    return Finding(
        detector="degradation",
        kind="degradation",
        title=f"{m.label.capitalize()}{unit} worse{where}: {fmt_change(base, cur, unit_of(m))}",
        scope=FindingScope(
            data.deployment.name, journey=t.cell.journey, segment=t.cell.segment, metric=m.metric
        ),
        severity=severity_of(t.effect, m.min_effect * params.effect_scale, t.z),
        first_seen=end - timedelta(days=t.days),
        last_seen=last,
        baseline=t.base,
        current=t.cur,
        evidence=evidence_sample(ids),
        impact=weekly_impact(table.take(pa.array(rows, type=pa.int64())), t.days),
        details={
            "test": "z, variance clustered by conversation" if m.kind == "rate" else "Welch",
            "z": round(t.z, 3),
            "p_value": t.p,
            "effect": round(t.effect, 4),
            "window_days": t.days,
            "fdr": params.fdr,
            "good": m.good,
        },
    )


def _where(cell: Cell) -> str:
    parts = []
    if cell.journey:
        parts.append(cell.journey)
    if cell.segment:
        parts.append(f"{cell.segment[0]}={cell.segment[1]}")
    return f" in {' · '.join(parts)}" if parts else ""
