"""SLO breach: a deployment's KPI against the target set for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import numpy as np
import pyarrow as pa

from daytwo.detect.cells import MONITORED_BY_ID, Summary, in_window, started_ns, summarise
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
from daytwo.detect.registry import detector
from daytwo.metrics import calc


@dataclass(frozen=True, slots=True)
class SloParams:
    """A breach must hold over the whole current period and each of its last ``days`` days."""

    days: int = 3
    min_sample: int = 100


@detector("slo_breach", name="SLO breach", params=SloParams())
def detect_slo_breach(data: AnalysisData, params: SloParams) -> list[Finding]:
    """KPIs of the deployment that breach their targets.

    Each target of the deployment on a monitored metric is checked over the current period
    (the last 7 days) with the metric catalog's rule (``metrics.calc.target_status``): a value
    on the wrong side of the target is *breached* when it is more than 10% away and its whole
    95% interval is on the wrong side. A finding needs the breach over the period *and* on
    each of its last 3 days, so one bad day is not a breach; the first of those days is when
    it was first seen.
    """
    t = data.interactions
    w = data.window
    if t.num_rows == 0:
        return []
    starts = started_ns(t)
    out = []
    for metric, target in data.deployment.targets.items():
        m = MONITORED_BY_ID.get(metric)
        if m is None:
            continue
        values, weights = m.arrays(t)
        period = in_window(starts, w.current_start, w.current_end)
        s = summarise(m, values, weights, period)
        if s.value is None or s.n < params.min_sample:
            continue
        if _status(m.kind, s, target, m.good) != "breached":
            continue
        onset = None
        for d in range(1, int(w.current_days) + 1):
            day0 = w.current_end - timedelta(days=d)
            day = summarise(m, values, weights, in_window(starts, day0, day0 + timedelta(days=1)))
            if day.value is None or _status(m.kind, day, target, m.good) == "on_target":
                break
            onset = day0
        if onset is None or (w.current_end - onset) < timedelta(days=params.days):
            continue
        rows = np.flatnonzero(period & (weights > 0))
        bad = np.flatnonzero(period & bad_rows(m, values, weights, float(target)))
        gap = abs(s.value - target) / max(abs(target), 1e-9)
        finding = Finding(
            detector="slo_breach",
            kind="slo_breach",
            title=f"{m.label.capitalize()} breaches its target: {s.value:.3g} vs {target:.3g}",
            scope=FindingScope(data.deployment.name, metric=metric),
            severity=Severity.high if gap >= 0.25 else Severity.medium,
            first_seen=onset,
            last_seen=w.current_end,
            baseline=Measure(float(target), 0),
            current=Measure(s.value, s.n),
            evidence=evidence_sample(t["interaction_id"].take(pa.array(bad, type=pa.int64()))),
            impact=weekly_impact(t.take(pa.array(rows, type=pa.int64())), w.current_days),
            details={"target": target, "good": m.good, "relative_gap": round(gap, 4)},
        )
        out.append(finding)
    return out


def _status(kind: str, s: Summary, target: float, good: Literal["up", "down"]) -> str:
    if kind == "rate":
        return calc.target_status(calc.ratio(s.num, s.den), target, good)
    return calc.target_status(calc.mean(s.value, s.n, s.var**0.5), target, good)
