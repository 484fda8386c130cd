"""Degradation vs baseline: which metrics got worse, in which journey and segment."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from daytwo.detect.cells import (
    MONITORED,
    Arrays,
    Cell,
    CellGroup,
    Monitored,
    Summary,
    cell_groups,
    group_summaries,
    in_window,
    started_ns,
    summarise,
    unit_of,
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
from daytwo.detect.registry import detector
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
    group: CellGroup
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


@detector("degradation", name="Degradation vs baseline", params=DegradationParams())
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
    table = data.interactions
    w = data.window
    if table.num_rows == 0:
        return []
    starts = started_ns(table)
    base_rows = in_window(starts, w.baseline_start, w.baseline_end)
    windows = [
        (
            d,
            in_window(
                starts, max(w.current_start, w.current_end - timedelta(days=d)), w.current_end
            ),
        )
        for d in params.windows_days
        if timedelta(days=d) <= w.current_end - w.current_start
    ]
    if not base_rows.any() or not windows:
        return []
    groups = cell_groups(table, crossed=params.crossed)
    judged = [m for m in MONITORED if m.cells]
    arrays = {m.metric: m.arrays(table) for m in judged}
    # Each window's rows taken out once (the baseline and the 1, 3 and 7 days are a small part
    # of the weeks read): every cell then sums the same rows in the same order as over the
    # whole table's mask, so the figures are identical, for a pass over the window's rows only.
    base_view = _View.of(base_rows, groups)
    views = {d: _View.of(rows, groups) for d, rows in windows}
    tests: list[_Test] = []
    for m in judged:
        values, weights = arrays[m.metric]
        if weights[base_rows].sum() < params.min_baseline:
            continue
        min_effect = m.min_effect * params.effect_scale
        base_arrays = base_view.arrays(values, weights)
        current_arrays = {d: view.arrays(values, weights) for d, view in views.items()}
        for g, group in enumerate(groups):
            base = base_view.summaries(m, base_arrays, g)
            current = {d: view.summaries(m, current_arrays[d], g) for d, view in views.items()}
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
                            normal_sf(z), effect, effect >= min_effect, group, i,
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
    windows_by_days = dict(windows)
    kept = _most_specific(best, arrays, base_view, views, params.specific_z)
    return [
        _finding(data, t, params, arrays[t.metric.metric], starts, windows_by_days[t.days])
        for t in kept
    ]


@dataclass(frozen=True, slots=True)
class _View:
    """The rows of one window (in table order) and each cell group over them."""

    rows: np.ndarray  # row numbers in the table, ascending
    groups: tuple[CellGroup, ...]  # each cell group, its codes cut to ``rows``
    every: np.ndarray  # all True, one per row of the window

    @staticmethod
    def of(mask: np.ndarray, groups: list[CellGroup]) -> _View:
        rows = np.flatnonzero(mask)
        cut = tuple(CellGroup(g.cells, g.codes[rows]) for g in groups)
        return _View(rows, cut, np.ones(len(rows), dtype=bool))

    def arrays(self, values: np.ndarray, weights: np.ndarray) -> Arrays:
        return values[self.rows], weights[self.rows]

    def summaries(self, m: Monitored, arrays: Arrays, g: int) -> list[Summary]:
        """:func:`group_summaries` of cell group ``g`` over the window's rows: the same rows
        in the same order as the whole table's mask, so the same sums."""
        return group_summaries(m, arrays[0], arrays[1], self.groups[g], self.every)


def change_z(before: Summary, after: Summary) -> float:
    """z of ``after - before`` from each value's own variance (clustered for rates)."""
    se = math.sqrt(before.se2 + after.se2)
    if se <= 0 or before.value is None or after.value is None:
        return 0.0
    return (after.value - before.value) / se


def _specific(t: _Test, arrays: Arrays, base: _View, cur: _View, z_min: float) -> bool:
    """Whether the cell worsened more than the rest of the deployment (difference in
    differences, one-sided z >= ``z_min``): only then is the cell, not the whole, the place."""
    m = t.metric
    values, weights = arrays
    # Over each window's own rows (the same rows, in the same order, as masks over the table).
    bv, bw = base.arrays(values, weights)
    cv, cw = cur.arrays(values, weights)
    cell_base = t.group.codes[base.rows] == t.index
    cell_cur = t.group.codes[cur.rows] == t.index
    cb = summarise(m, bv, bw, cell_base)
    cc = summarise(m, cv, cw, cell_cur)
    rb = summarise(m, bv, bw, ~cell_base)
    rc = summarise(m, cv, cw, ~cell_cur)
    if None in (cb.value, cc.value, rb.value, rc.value):
        return True
    sign = 1.0 if m.good == "down" else -1.0
    did = sign * ((cc.value - cb.value) - (rc.value - rb.value))  # type: ignore[operator]
    se = math.sqrt(sum(x.se2 for x in (cb, cc, rb, rc)))
    return se > 0 and did / se >= z_min


def _most_specific(
    best: dict[tuple[str, Cell], _Test],
    arrays: dict[str, Arrays],
    base: _View,
    windows: dict[int, _View],
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
            parts = [t for t in parts if _specific(t, arrays[metric], base, windows[t.days], z_min)]
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
    arrays: Arrays,
    starts: np.ndarray,
    cur_rows: np.ndarray,
) -> Finding:
    m = t.metric
    table = data.interactions
    values, weights = arrays
    in_cell = t.group.mask(t.index) & cur_rows
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
