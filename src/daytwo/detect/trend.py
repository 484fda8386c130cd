"""Trend and plateau: sustained decline over weeks, or no progress towards a missed target."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

import numpy as np

from daytwo.detect.cell_days import (
    CELL_DAYS,
    JUDGED,
    day_cell_groups,
    period_sums,
    periods_of,
)
from daytwo.detect.cells import (
    MONITORED_BY_ID,
    Cell,
    Monitored,
    Summary,
    cell_mask,
    in_window,
    show,
    started_ns,
    summarise,
    unit_of,
)
from daytwo.detect.data import AnalysisData
from daytwo.detect.degradation import bad_rows, worse_by
from daytwo.detect.findings import Finding, FindingScope, Measure, Severity, evidence_sample
from daytwo.detect.registry import Needs, detector
from daytwo.detect.stats import benjamini_hochberg, normal_sf
from daytwo.metrics import calc
from daytwo.units import fmt_change


@dataclass(frozen=True, slots=True)
class TrendParams:
    """Weeks looked at, the run of worsening weeks a trend needs, and its test."""

    weeks: int = 6
    monotone_weeks: int = 4
    min_week_n: int = 100
    fdr: float = 0.01
    # A plateau: the target missed (breached) in each of this many weeks, without improving.
    plateau_weeks: int = 4
    improving_z: float = 2.0


def _variance(m: Monitored, s: Summary) -> float:
    if s.value is None or s.n <= 0:
        return math.inf
    return max(s.se2, 1e-9)


def wls_slope(values: list[float], variances: list[float]) -> tuple[float, float]:
    """Weighted least-squares slope per step of ``values`` (weights 1/variance) and its z."""
    x = np.arange(len(values), dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    w = 1.0 / np.asarray(variances, dtype=np.float64)
    xm = float((w * x).sum() / w.sum())
    ym = float((w * y).sum() / w.sum())
    sxx = float((w * (x - xm) ** 2).sum())
    if sxx <= 0:
        return 0.0, 0.0
    slope = float((w * (x - xm) * (y - ym)).sum() / sxx)
    return slope, slope / math.sqrt(1.0 / sxx)


@detector("trend", name="Trend and plateau", params=TrendParams(), needs=Needs(reads=(CELL_DAYS,)))
def detect_trend(data: AnalysisData, params: TrendParams) -> list[Finding]:
    """Metrics in sustained decline over weeks, and missed targets that are not improving.

    *Trend*: the last 6 weeks (7-day periods ending at the end of the analysis, all after the
    start of the baseline window: launch and pilot weeks are no trend) of each monitored
    metric, for the deployment, each journey and each segment value. A trend needs the last
    4 week-over-week changes all in the bad direction, a total change of at least the
    metric's smallest material effect, and a weighted least-squares slope (weights: the
    inverse variance of each week's value, clustered by conversation for rates) significant
    after Benjamini-Hochberg at 1% across all cells. *Plateau*: a deployment KPI that
    breached its target in each of the last 4 weeks while its slope shows no significant
    improvement (z < 2).
    """
    end = data.window.current_end
    # Only the deployment's steady state: every week after the baseline window's start (the
    # launch weeks and a pilot before them are no trend).
    if end - timedelta(weeks=params.weeks) < data.window.baseline_start:
        return []
    cells = data.read(CELL_DAYS)
    if cells.num_rows == 0:
        return []
    # Each row's week (oldest first): week j before the end holds days 7j to 7j + 6 before it.
    period = periods_of(cells, [(7 * j, 7 * j + 6) for j in reversed(range(params.weeks))])
    groups = day_cell_groups(cells, segments=True)

    def evidence(m: Monitored, cell: Cell, reference: float) -> tuple[str, ...]:
        # The conversations of the cell in the last week that show the problem, in time order.
        t = data.interactions
        starts = started_ns(t)
        values, weights = m.arrays(t)
        last_week = in_window(starts, end - timedelta(weeks=1), end)
        mask = last_week & cell_mask(t, cell) & bad_rows(m, values, weights, reference)
        rows = np.flatnonzero(mask)
        ids = t["interaction_id"]
        return evidence_sample(ids.take(rows[np.argsort(starts[rows], kind="stable")]))

    tests = []
    whole: dict[str, list[Summary]] = {}
    for metric in JUDGED:
        for group in groups:
            weekly = period_sums(metric, cells, group, period, params.weeks)
            if group.cells == (Cell(None, None),):
                whole[metric.metric] = weekly[0]
            for cell, series in zip(group.cells, weekly, strict=True):
                if any(s.value is None or s.n < params.min_week_n for s in series):
                    continue
                vals = [float(s.value) for s in series]  # type: ignore[arg-type]
                run = vals[-(params.monotone_weeks + 1) :]
                steps = [worse_by(metric, a, b) for a, b in pairwise(run)]
                if not all(step > 0 for step in steps):
                    continue
                total = worse_by(metric, run[0], run[-1])
                if total < metric.min_effect:
                    continue
                slope, z = wls_slope(vals, [_variance(metric, s) for s in series])
                z_bad = z if metric.good == "down" else -z
                tests.append((metric, cell, series, run, total, slope, z_bad))
    out: list[Finding] = []
    if tests:
        found = benjamini_hochberg([normal_sf(x[-1]) for x in tests], params.fdr)
        for (metric, cell, series, run, total, slope, z), hit in zip(tests, found, strict=True):
            if not hit:
                continue
            n_run = len(run) - 1
            out.append(
                Finding(
                    detector="trend",
                    kind="trend",
                    title=f"{metric.label.capitalize()} worse for {n_run} weeks running"
                    f"{_where(cell)}: {fmt_change(run[0], run[-1], unit_of(metric))}",
                    scope=FindingScope(
                        data.deployment.name, cell.journey, cell.segment, metric.metric
                    ),
                    severity=Severity.medium if z >= 5 else Severity.low,
                    first_seen=end - timedelta(weeks=n_run),
                    last_seen=end,
                    baseline=Measure(run[0], series[-len(run)].n),
                    current=Measure(run[-1], series[-1].n),
                    evidence=evidence(metric, cell, run[0]),
                    details={
                        "weekly": [round(float(s.value or 0), 4) for s in series],
                        "slope_per_week": round(slope, 5),
                        "z": round(z, 2),
                        "total_change": round(total, 4),
                    },
                )
            )
    out += _plateaus(data, params, whole, evidence)
    return out


def _plateaus(
    data: AnalysisData,
    params: TrendParams,
    whole: dict[str, list[Summary]],
    evidence: Callable[[Monitored, Cell, float], tuple[str, ...]],
) -> list[Finding]:
    end = data.window.current_end
    out = []
    for metric_id, target in data.deployment.targets.items():
        m = MONITORED_BY_ID.get(metric_id)
        if m is None:
            continue
        if metric_id in whole:  # the deployment's last weeks, from the engine's cells
            series = whole[metric_id][-params.plateau_weeks :]
        else:  # a metric not judged per cell (suggestion acceptance): from the rows
            t = data.interactions
            starts = started_ns(t)
            values, weights = m.arrays(t)
            series = [
                summarise(
                    m,
                    values,
                    weights,
                    in_window(starts, end - timedelta(weeks=k + 1), end - timedelta(weeks=k)),
                )
                for k in reversed(range(params.plateau_weeks))
            ]
        if any(s.value is None or s.n < params.min_week_n for s in series):
            continue
        statuses = [_status(m, s, target) for s in series]
        if any(st != "breached" for st in statuses):
            continue
        _, z = wls_slope([float(s.value or 0) for s in series], [_variance(m, s) for s in series])
        improving = z if m.good == "up" else -z
        if improving >= params.improving_z:
            continue
        last = series[-1]
        out.append(
            Finding(
                detector="trend",
                kind="plateau",
                title=f"{m.label.capitalize()} has missed its target ({show(m, target)}) for "
                f"{len(series)} weeks without improving: now {show(m, last.value)}",
                scope=FindingScope(data.deployment.name, metric=metric_id),
                severity=Severity.low,
                first_seen=end - timedelta(weeks=len(series)),
                last_seen=end,
                baseline=Measure(float(target), 0),
                current=Measure(last.value, last.n),
                evidence=evidence(m, Cell(None, None), float(target)),
                details={
                    "weekly": [round(float(s.value or 0), 4) for s in series],
                    "improvement_z": round(improving, 2),
                    "target": target,
                },
            )
        )
    return out


def _status(m: Monitored, s: Summary, target: float) -> str:
    if m.kind == "rate":
        return calc.target_status(calc.ratio(s.num, s.den), target, m.good)
    return calc.target_status(calc.mean(s.value, s.n, math.sqrt(s.var)), target, m.good)


def _where(cell: Cell) -> str:
    parts = [p for p in (cell.journey, "=".join(cell.segment) if cell.segment else None) if p]
    return f" in {' · '.join(parts)}" if parts else ""
