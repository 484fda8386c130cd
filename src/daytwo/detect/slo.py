"""SLO breach: a deployment's KPI against the target set for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cell_days import CELL_DAYS, JUDGED, day_cell_groups, period_sums, periods_of
from daytwo.detect.cells import (
    MONITORED_BY_ID,
    Summary,
    in_window,
    show_metric,
    started_ns,
    summarise,
)
from daytwo.detect.data import AnalysisData
from daytwo.detect.degradation import bad_rows
from daytwo.detect.findings import (
    Finding,
    FindingScope,
    Measure,
    Severity,
    evidence_sample,
    weekly_impact,
)
from daytwo.detect.registry import Needs, detector
from daytwo.detect.targets import TARGET_TURNS, target_misses, target_values
from daytwo.metrics import calc
from daytwo.metrics.catalog import REGISTRY


@dataclass(frozen=True, slots=True)
class SloParams:
    """A breach must hold over the whole current period and each of its last ``days`` days."""

    days: int = 3
    min_sample: int = 100


@detector(
    "slo_breach",
    name="SLO breach",
    params=SloParams(),
    # Turn-level targets (answer latency quantiles) read the answers' latencies.
    needs=Needs(reads=(CELL_DAYS, TARGET_TURNS)),
)
def detect_slo_breach(data: AnalysisData, params: SloParams) -> list[Finding]:
    """KPIs of the deployment that breach their targets.

    Each target of the deployment is checked over the current period (the last 7 days) with
    the metric catalog's rule (``metrics.calc.target_status``): a value on the wrong side of
    the target is *breached* when it is more than 10% away and its whole 95% interval is on
    the wrong side (a quantile has no interval: more than 10% away suffices). A finding needs
    the breach over the period *and* on each of its last 3 days, so one bad day is not a
    breach; the first of those days is when it was first seen. Every metric a target can be
    set on is checked: the metrics the detectors monitor per conversation with their own
    arrays, any other with its catalog definition (latency percentiles, availability, NPS,
    feature utilisation, ...); a target on anything else is refused when it is set.
    """
    t = data.interactions
    w = data.window
    if t.num_rows == 0:
        return []
    days = int(w.current_days)
    # The period's and each day's summaries from the engine's cells where the period is whole
    # days (an analysis's always is: the last 7 days), else from the rows.
    cells = data.read(CELL_DAYS) if days == w.current_days else None
    starts: np.ndarray | None = None
    out = []
    for metric, target in data.deployment.targets.items():
        m = MONITORED_BY_ID.get(metric)
        if m is None:
            out.extend(_catalog_breach(data, params, metric, float(target)))
            continue
        if cells is not None and m in JUDGED:
            whole = day_cell_groups(cells, journeys=False, segments=False)[0]
            # The period, then its days from the last one back: day d is the d-th 24 hours
            # before the end.
            spans = [(0, days - 1), *((d, d) for d in range(days))]
            series = [period_sums(m, cells, whole, periods_of(cells, [p]), 1)[0][0] for p in spans]
            s, by_day = series[0], series[1:]
        else:
            starts = started_ns(t) if starts is None else starts
            values, weights = m.arrays(t)
            s = summarise(m, values, weights, in_window(starts, w.current_start, w.current_end))
            by_day = [
                summarise(m, values, weights, in_window(starts, d0, d0 + timedelta(days=1)))
                for d in range(1, days + 1)
                for d0 in [w.current_end - timedelta(days=d)]
            ]
        if s.value is None or s.n < params.min_sample:
            continue
        if _status(m.kind, s, target, m.good) != "breached":
            continue
        onset = None
        for d, day in enumerate(by_day, start=1):
            if day.value is None or _status(m.kind, day, target, m.good) == "on_target":
                break
            onset = w.current_end - timedelta(days=d)
        if onset is None or (w.current_end - onset) < timedelta(days=params.days):
            continue
        # The conversations behind a finding, from the rows (one breach, not every metric).
        starts = started_ns(t) if starts is None else starts
        values, weights = m.arrays(t)
        period = in_window(starts, w.current_start, w.current_end)
        rows = np.flatnonzero(period & (weights > 0))
        bad = np.flatnonzero(period & bad_rows(m, values, weights, float(target)))
        evidence = t["interaction_id"].take(pa.array(bad, type=pa.int64()))
        affected = t.take(pa.array(rows, type=pa.int64()))
        label = m.label.capitalize()
        current = Measure(s.value, s.n)
        out.append(
            _breach(data, metric, label, float(target), m.good, current, onset, evidence, affected)
        )
    return out


def _breach(
    data: AnalysisData,
    metric_id: str,
    label: str,
    target: float,
    good: Literal["up", "down"],
    current: Measure,
    onset: datetime,
    evidence: pa.Array | pa.ChunkedArray,
    affected: pa.Table,
) -> Finding:
    """The finding of a sustained breach: ``evidence`` the conversations that show it, in time
    order; ``affected`` the conversations the target is about."""
    value = float(current.value or 0.0)
    gap = abs(value - target) / max(abs(target), 1e-9)
    return Finding(
        detector="slo_breach",
        kind="slo_breach",
        title=f"{label} breaches its target: {show_metric(metric_id, value)} vs "
        f"{show_metric(metric_id, target)}",
        scope=FindingScope(data.deployment.name, metric=metric_id),
        severity=Severity.high if gap >= 0.25 else Severity.medium,
        first_seen=onset,
        last_seen=data.window.current_end,
        baseline=Measure(target, 0),
        current=current,
        evidence=evidence_sample(evidence),
        impact=weekly_impact(affected, data.window.current_days),
        details={"target": target, "good": good, "relative_gap": round(gap, 4)},
    )


def _status(kind: str, s: Summary, target: float, good: Literal["up", "down"]) -> str:
    if kind == "rate":
        return calc.target_status(calc.ratio(s.num, s.den), target, good)
    return calc.target_status(calc.mean(s.value, s.n, s.var**0.5), target, good)


def _catalog_breach(
    data: AnalysisData, params: SloParams, metric_id: str, target: float
) -> list[Finding]:
    """A target on a catalog metric the detectors do not monitor per conversation."""
    metric = REGISTRY.get(metric_id)
    if metric is None or not metric.targetable or metric.good is None:
        return []  # refused when set; an old deployment's stray target is left alone
    values = target_values(metric, data)
    s = values.period
    if s.value is None or (s.n or 0) < params.min_sample:
        return []
    if calc.target_status(s, target, metric.good) != "breached":
        return []
    w = data.window
    onset = None
    for d, day in enumerate(values.days, start=1):
        if day.value is None or calc.target_status(day, target, metric.good) == "on_target":
            break
        onset = w.current_end - timedelta(days=d)
    if onset is None or (w.current_end - onset) < timedelta(days=params.days):
        return []
    missing = pa.array(target_misses(metric, data), type=pa.string())
    t = data.interactions
    affected = t.filter(pc.is_in(t["interaction_id"], value_set=missing))
    current = Measure(s.value, s.n or 0)
    return [_breach(data, metric_id, metric.name, target, metric.good, current, onset, missing,
                    affected)]  # fmt: skip
