"""What the backlog knows about a finding (:class:`FindingFacts`), and how a finding the
detectors recorded, or one an item keeps as a snapshot, becomes one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daytwo.backlog.calc import TREND_LABELS, Signal, bounded
from daytwo.backlog.service import json_ready
from daytwo.detect.schemas import FindingPublic
from daytwo.metrics.catalog import REGISTRY


@dataclass(frozen=True, slots=True)
class FindingFacts:
    """What the backlog needs to know about a finding."""

    id: str
    fingerprint: str
    kind: str
    deployment: str
    title: str
    severity: int  # 0 info .. 4 critical
    volume_per_week: float
    journey: str | None = None
    segment: tuple[str, str] | None = None
    metric: str | None = None
    confidence: float = 1.0
    trend: str = "stable"
    customers_per_week: float = 0.0
    agents_per_week: float = 0.0
    status: str = "open"  # open | resolved | regressed
    last_seen: datetime | None = None
    # Where the finding's conversations are, by journey (knowledge gaps: where its questions
    # landed), for joining the gaps that grow together.
    journeys: dict[str, int] = field(default_factory=dict)
    # The fingerprint of the broader finding that explains this one (its problem's root).
    root: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def signal(self) -> Signal:
        # A resolved finding affects nobody any more: it keeps its item, not its weight.
        gone = self.status == "resolved"
        # A finding's numbers come from data: bounded, so no data can make a score infinite.
        return Signal(
            volume_per_week=0.0 if gone else bounded(self.volume_per_week),
            severity=self.severity,
            confidence=min(1.0, max(0.0, self.confidence))
            if math.isfinite(self.confidence)
            else 0.0,
            trend=self.trend,
            customers_per_week=0.0 if gone else bounded(self.customers_per_week),
            agents_per_week=0.0 if gone else bounded(self.agents_per_week),
            metric=self.metric,
            kind=self.kind,
        )

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = json_ready(
            {
                "id": self.id,
                "kind": self.kind,
                "title": self.title,
                "deployment": self.deployment,
                "journey": self.journey,
                "segment": list(self.segment) if self.segment else None,
                "metric": self.metric,
                "severity": self.severity,
                "confidence": self.confidence,
                "trend": self.trend,
                "volume_per_week": self.volume_per_week,
                "customers_per_week": self.customers_per_week,
                "agents_per_week": self.agents_per_week,
                "status": self.status,
                "last_seen": self.last_seen,
                "journeys": self.journeys or None,
                "root": self.root,
            }
        )
        return snap


def facts_from_snapshot(fingerprint: str, snap: dict[str, Any]) -> FindingFacts:
    seg = snap.get("segment")
    return FindingFacts(
        id=str(snap["id"]),
        fingerprint=fingerprint,
        kind=str(snap["kind"]),
        deployment=str(snap["deployment"]),
        title=str(snap["title"]),
        severity=int(snap["severity"]),
        volume_per_week=float(snap["volume_per_week"]),
        journey=snap.get("journey"),
        segment=(str(seg[0]), str(seg[1])) if seg else None,
        metric=snap.get("metric"),
        confidence=float(snap.get("confidence", 1.0)),
        trend=str(snap.get("trend", "stable")),
        customers_per_week=float(snap.get("customers_per_week", 0.0)),
        agents_per_week=float(snap.get("agents_per_week", 0.0)),
        status=str(snap.get("status", "open")),
        journeys=journey_counts(snap.get("journeys")),
        root=snap.get("root"),
    )


def _bad_share_excess(
    metric: str | None, base: float | None, cur: float | None, good: str | None
) -> float:
    """The share of the bad occurrences now that the problem added over the baseline."""
    if metric is None or base is None or cur is None:
        return 1.0
    found = REGISTRY.get(metric)
    if found is None or found.unit != "rate":
        return 1.0
    direction = good or found.good
    bad_now, bad_before = (1 - cur, 1 - base) if direction == "up" else (cur, base)
    if bad_now <= 0:
        return 0.0
    return min(1.0, max(0.0, (bad_now - bad_before) / bad_now))


def facts_from_detect(f: FindingPublic) -> FindingFacts:
    """A recorded finding of the detectors as the backlog sees it.

    The affected volume is the bad interactions per week the detector counted, narrowed to the
    share the problem added over the baseline (for rates); confidence is ``1 - p`` where the
    detector tested, else 1; trend is the detector's own when it gives one.
    """
    details = dict(f.details)
    p_value = details.get("p_value")
    confidence = 1.0
    if isinstance(p_value, int | float) and 0 <= p_value <= 1:
        confidence = 1.0 - float(p_value)
    trend = str(details.get("trend", "stable"))
    seg = next(iter(f.scope.segment.items())) if f.scope.segment else None
    root = details.get("root")
    good = details.get("good")
    share = _bad_share_excess(
        f.scope.metric, f.baseline.value, f.current.value, good if isinstance(good, str) else None
    )
    return FindingFacts(
        id=str(f.id),
        fingerprint=f.fingerprint,
        kind=f.kind,
        deployment=f.scope.deployment,
        title=f.title,
        severity=int(f.severity_level),
        volume_per_week=f.impact.interactions_per_week * share,
        journey=f.scope.journey,
        segment=(str(seg[0]), str(seg[1])) if seg else None,
        metric=f.scope.metric,
        confidence=confidence,
        trend=trend if trend in TREND_LABELS else "stable",
        customers_per_week=f.impact.customers_per_week,
        agents_per_week=f.impact.agents_per_week,
        status=f.status,
        last_seen=f.last_seen,
        journeys=journey_counts(details.get("journeys")),
        root=str(root) if isinstance(root, str) and root else None,
        details={"detector": f.detector, "excess_share": share},
    )


def journey_counts(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int | float)}
