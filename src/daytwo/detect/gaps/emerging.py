"""Knowledge gaps as findings: the gaps that are new or growing this week (pure).

The calculation of the ``knowledge_gap`` detector (registered in ``detector.py``), so that
``daytwo analyze`` reports the gaps worth a look next to every other problem. The full list of
gaps, with ids kept across runs, lives in the gaps tables (``daytwo gaps``, ``/api/v1/gaps``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.data import AnalysisData, Window
from daytwo.detect.findings import (
    Finding,
    FindingScope,
    Measure,
    Severity,
    evidence_sample,
    weekly_impact,
)
from daytwo.detect.gaps.calc import Gap, GapParams, kind_phrase
from daytwo.detect.gaps.cluster import ClusterParams
from daytwo.detect.gaps.encoders import DEFAULT_ENCODER, get_encoder
from daytwo.detect.gaps.reads import candidates, confident
from daytwo.detect.gaps.service import detect_gaps
from daytwo.detect.stats import benjamini_hochberg, two_poisson_rates_sf


@dataclass(frozen=True, slots=True)
class KnowledgeGapParams:
    """When a gap is worth a finding: enough utterances a week, and new or growing."""

    encoder: str = DEFAULT_ENCODER
    gaps: GapParams = field(default_factory=GapParams)
    min_per_week: float = 10.0
    min_growth: float = 1.0  # current weekly rate at least (1 + this) x the baseline rate
    # False-discovery rate over the gaps' growth tests: a gap is "growing" only when its
    # current count is more than chance would put in the current window.
    fdr: float = 0.01
    journey_share: float = 0.8  # scope the finding to a journey holding this share of it
    examples: int = 5


def _since(ts: np.ndarray, start: datetime, end: datetime) -> np.ndarray:
    lo = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "us")
    hi = np.datetime64(end.astimezone(UTC).replace(tzinfo=None), "us")
    mask: np.ndarray = (ts >= lo) & (ts < hi)
    return mask


def knowledge_gap_findings(data: AnalysisData, params: KnowledgeGapParams) -> list[Finding]:
    """The findings of the ``knowledge_gap`` detector: see
    :func:`daytwo.detect.gaps.detector.detect_knowledge_gaps`, which says what and how."""
    window = data.window
    # The candidates and the confidently answered turns of the windows come from the engine
    # (``reads.py``), not from every turn.
    cand = candidates(data)
    if len(cand) < (params.gaps.cluster or ClusterParams()).min_gap_size:
        return []
    good = confident(data)
    gaps = detect_gaps(
        cand,
        get_encoder(params.encoder),
        data.deployment.name,
        window.current_end,
        confident=(good.text, good.intent),
        params=params.gaps,
    ).gaps
    # The growth test counts conversations, not utterances: one customer rephrasing a question
    # four times is one occurrence. Every gap with enough conversations to reach the weekly
    # minimum is tested (the total does not depend on how it splits between the windows, so
    # choosing by it keeps the test fair), and false discoveries are controlled over all of
    # them; the weekly minimum and growth are required on top.
    weeks_now = window.current_days / 7
    conversation = np.asarray(cand.interaction_id, dtype=object)
    tested: list[tuple[Gap, float, bool]] = []
    # Off-topic gaps are tested too: a surge of questions the assistant is not for is a signal
    # of its own (its title says off-topic).
    for gap in gaps:
        current, baseline = _in_windows(window, cand.started_at, gap)
        now = len(set(conversation[gap.members[current]].tolist()))
        before = len(set(conversation[gap.members[baseline]].tolist()))
        if now + before < params.min_per_week * weeks_now:
            continue
        p_value = growth_p_value(now, before, window.current_days, window.baseline_days)
        per_week_now, per_week_before = _per_week(window, current, baseline)
        large = per_week_now >= params.min_per_week and (
            per_week_before == 0 or per_week_now >= (1 + params.min_growth) * per_week_before
        )
        tested.append((gap, p_value, large))
    growing = benjamini_hochberg([p for _, p, _ in tested], params.fdr)
    return [
        _finding(data, cand.started_at, cand.interaction_id, gap, params, p)
        for (gap, p, large), grows in zip(tested, growing, strict=True)
        if grows and large
    ]


def emerged(started: np.ndarray, conversations: np.ndarray, per_week: float) -> datetime:
    """When a gap's questions began to come as a gap worth a finding: its first question from
    which they keep coming at the gap's daily share of ``per_week`` (at least two
    conversations a day): every span of whole days from it, through the next seven (fewer
    where the gap's last question comes sooner), holds at least that share for each of its
    days, and the next seven days hold at least ``per_week`` conversations of it. Where no
    question is followed so (a slow rise), the first question from which the next day alone
    holds the daily share and the next seven days ``per_week``; else its earliest question.

    A gap's earliest question is not its start: the clustering joins to it the odd question
    that was asked now and then long before (one "can I use direct deposit for my tax refund"
    a month before a payroll launch brought hundreds), and an owner dates the problem from the
    day the questions came in numbers. Nor is an odd question a few days before the launch:
    the seven days after it hold the launch's first days, so a week's count alone would date
    the problem from it; nor two odd questions on one day ("can I deposit a check", "how do
    you get a safe deposit box" three days before a payroll launch), which hold a day's share
    but not the next days'. Asking that the questions keep that pace day after day dates a
    problem at most a day before its questions came in numbers."""
    order = np.argsort(started, kind="stable")
    when = started[order]
    asked = conversations[order]
    one_day = np.timedelta64(1, "D")
    week = np.searchsorted(when, when + 7 * one_day, side="left")
    per_day = max(2, math.ceil(per_week / 7))

    def distinct(i: int, end: int) -> int:
        return len(set(asked[i:end].tolist()))

    def in_numbers(i: int) -> bool:
        day = int(np.searchsorted(when, when[i] + one_day, side="left"))
        return (
            day - i >= per_day
            and week[i] - i >= per_week
            and distinct(i, day) >= per_day
            and distinct(i, int(week[i])) >= per_week
        )

    def keeps_pace(i: int) -> bool:
        days = min(7, int((when[-1] - when[i]) // one_day))
        for k in range(2, days + 1):
            end = int(np.searchsorted(when, when[i] + k * one_day, side="left"))
            if end - i < per_day * k or distinct(i, end) < per_day * k:
                return False
        return True

    first: int | None = None
    for i in range(len(when)):
        if in_numbers(i):
            if keeps_pace(i):
                first = i
                break
            first = i if first is None else first
    first = first or 0
    micros = int(when[first].astype("datetime64[us]").astype(np.int64))
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def growth_p_value(current: int, baseline: int, current_days: float, baseline_days: float) -> float:
    """How likely ``current`` or more of the gap's utterances fall in the current window by
    chance, if its rate had not changed: given the ``current + baseline`` utterances of both
    windows, each lands in the current one with the chance of its share of the days (the
    conditional test of two Poisson rates)."""
    if current_days <= 0:
        return 1.0
    return two_poisson_rates_sf(current, baseline, current_days / (current_days + baseline_days))


def _in_windows(window: Window, started: np.ndarray, gap: Gap) -> tuple[np.ndarray, np.ndarray]:
    """Which of the gap's members fall in the current window, and which in the baseline."""
    when = started[gap.members]
    return (
        _since(when, window.current_start, window.current_end),
        _since(when, window.baseline_start, window.baseline_end),
    )


def _per_week(window: Window, current: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """The gap's utterances per week in the current window and in the baseline."""
    return (
        float(current.sum()) / (window.current_days / 7),
        float(baseline.sum()) / (window.baseline_days / 7),
    )


def _finding(
    data: AnalysisData,
    started: np.ndarray,
    interaction_ids: list[str],
    gap: Gap,
    params: KnowledgeGapParams,
    p_value: float,
) -> Finding:
    window = data.window
    current, baseline = _in_windows(window, started, gap)
    per_week_now, per_week_before = _per_week(window, current, baseline)
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
        title=f"Knowledge gap: “{gap.label}” ({kind_phrase(gap.kind, gap.intent)})",
        scope=FindingScope(data.deployment.name, journey=journey),
        severity=severity,
        first_seen=emerged(
            started[gap.members],
            np.array([interaction_ids[int(r)] for r in gap.members], dtype=object),
            params.min_per_week,
        ),
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
            "p_value": p_value,
        },
        members=frozenset(interaction_ids[int(r)] for r in gap.members),
    )
