"""Knowledge gaps as findings: the gaps that are new or growing this week (pure).

The calculation of the ``knowledge_gap`` detector (registered in ``detector.py``), so that
``daytwo analyze`` reports the gaps worth a look next to every other problem. The full list of
gaps, with ids kept across runs, lives in the gaps tables (``daytwo gaps``, ``/api/v1/gaps``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.data import AnalysisData
from daytwo.detect.findings import (
    Finding,
    FindingScope,
    Measure,
    Severity,
    evidence_sample,
    weekly_impact,
)
from daytwo.detect.gaps.calc import Gap, GapParams
from daytwo.detect.gaps.candidates import confident_turns, find_candidates
from daytwo.detect.gaps.cluster import ClusterParams
from daytwo.detect.gaps.encoders import DEFAULT_ENCODER, get_encoder
from daytwo.detect.gaps.service import detect_gaps


@dataclass(frozen=True, slots=True)
class KnowledgeGapParams:
    """When a gap is worth a finding: enough utterances a week, and new or growing."""

    encoder: str = DEFAULT_ENCODER
    gaps: GapParams = field(default_factory=GapParams)
    min_per_week: float = 10.0
    min_growth: float = 1.0  # current weekly rate at least (1 + this) x the baseline rate
    journey_share: float = 0.8  # scope the finding to a journey holding this share of it
    examples: int = 5


def _since(ts: np.ndarray, start: datetime, end: datetime) -> np.ndarray:
    lo = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "us")
    hi = np.datetime64(end.astimezone(UTC).replace(tzinfo=None), "us")
    mask: np.ndarray = (ts >= lo) & (ts < hi)
    return mask


def knowledge_gap_findings(data: AnalysisData, params: KnowledgeGapParams) -> list[Finding]:
    """Clusters of what customers asked that the assistant could not handle, new or growing.

    The customer messages that fell back, had a low-confidence answer, were rephrased or were
    the last words before an escalation are embedded offline and clustered (see
    :mod:`daytwo.detect.gaps.cluster`); each cluster is labelled by its distinctive words and
    typed as a new intent, missing knowledge or misrouting of a known intent. A gap becomes a
    finding when the current period holds at least 10 of its utterances a week and its weekly
    rate is at least double the baseline's (or it was absent then). Severity grows with the
    weekly volume; the fingerprint is the gap's two leading keywords, so the same topic seen
    again updates its finding.
    """
    window = data.window
    interactions = data.interactions
    cand = find_candidates(data.turns, interactions)
    if len(cand) < (params.gaps.cluster or ClusterParams()).min_gap_size:
        return []
    good = confident_turns(data.turns, interactions)
    gaps, _ = detect_gaps(
        cand,
        get_encoder(params.encoder),
        data.deployment.name,
        window.current_end,
        confident=(good.text, good.intent),
        params=params.gaps,
    )
    out: list[Finding] = []
    for gap in gaps:
        finding = _finding(data, cand.started_at, cand.interaction_id, gap, params)
        if finding is not None:
            out.append(finding)
    return out


def _finding(
    data: AnalysisData,
    started: np.ndarray,
    interaction_ids: list[str],
    gap: Gap,
    params: KnowledgeGapParams,
) -> Finding | None:
    window = data.window
    when = started[gap.members]
    current = _since(when, window.current_start, window.current_end)
    baseline = _since(when, window.baseline_start, window.baseline_end)
    per_week_now = float(current.sum()) / (window.current_days / 7)
    per_week_before = float(baseline.sum()) / (window.baseline_days / 7)
    if per_week_now < params.min_per_week:
        return None
    if per_week_before > 0 and per_week_now < (1 + params.min_growth) * per_week_before:
        return None
    rows = gap.members[current]
    ids = [interaction_ids[int(r)] for r in rows]
    affected = data.interactions.filter(
        pc.is_in(data.interactions["interaction_id"], pa.array(ids))
    )
    top_journey, top_n = next(iter(gap.journeys.items()))
    journey = (
        top_journey
        if top_journey != "(none)" and top_n >= params.journey_share * gap.volume
        else None
    )
    severity = (
        Severity.high
        if per_week_now >= 20 * params.min_per_week
        else Severity.medium
        if per_week_now >= 5 * params.min_per_week
        else Severity.low
    )
    return Finding(
        detector="knowledge_gap",
        kind="knowledge_gap",
        title=f"Knowledge gap: {gap.label} ({gap.kind.replace('_', ' ')})",
        scope=FindingScope(data.deployment.name, journey=journey),
        severity=severity,
        first_seen=gap.first_seen,
        last_seen=gap.last_seen,
        baseline=Measure(per_week_before, int(baseline.sum())),
        current=Measure(per_week_now, int(current.sum())),
        evidence=evidence_sample(sorted(set(ids))),
        impact=weekly_impact(affected, window.current_days),
        key=(" ".join(sorted(gap.keywords[:2])) or gap.id,),
        details={
            "label": gap.label,
            "keywords": list(gap.keywords),
            "gap_kind": gap.kind,
            "intent": gap.intent,
            "why": gap.kind_reason,
            "volume": gap.volume,
            "journeys": dict(gap.journeys),
        },
    )
