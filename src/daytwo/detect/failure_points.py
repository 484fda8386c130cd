"""Failure points: the journey steps where fallbacks and hand-overs concentrate.

The steps are judged from counts the events engine computes (:data:`ANSWER_STEPS`: per day
before the end, journey and answer position, and per day, journey and intent), not from every
turn; only the few steps reported go back to the turns, for their evidence and impact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cells import in_window, started_ns
from daytwo.detect.data import (
    DAY_US,
    SPAN_END,
    SPAN_START,
    AnalysisData,
    EngineRead,
    days_before_end_sql,
)
from daytwo.detect.findings import (
    Finding,
    FindingScope,
    Measure,
    Severity,
    evidence_sample,
    weekly_impact,
)
from daytwo.detect.registry import Needs, detector
from daytwo.detect.stats import benjamini_hochberg, normal_sf, two_proportion_z
from daytwo.interactions.facts import flag_array

NONE = "(none)"
# The days the read covers: the analysis's current period.
STEP_DAYS = 7

_AGO = days_before_end_sql("i.started_at")
# Each answer of the assistant in a conversation of the span: its day before the end, its
# journey, its position among the conversation's answers, its intent, whether it fell back,
# and whether it is the conversation's last answer (then its outcome counts: known, handed).
_ANSWERS = (
    f"SELECT {_AGO} AS ago, t.interaction_id AS interaction_id, i.started_at AS started_at, "  # noqa: S608
    f"coalesce(CAST(i.journey AS VARCHAR), '{NONE}') AS journey, "
    "CAST(row_number() OVER (PARTITION BY t.interaction_id ORDER BY t.seq) AS BIGINT) "
    "AS position, "
    "row_number() OVER (PARTITION BY t.interaction_id ORDER BY t.seq DESC) AS from_last, "
    f"coalesce(CAST(t.intent AS VARCHAR), '{NONE}') AS intent, "
    "CASE WHEN t.fallback THEN 1 ELSE 0 END AS fell_back, i.outcome AS outcome "
    "FROM turns t JOIN interactions i ON t.interaction_id = i.interaction_id "
    "WHERE t.deployment = ? AND i.deployment = ? AND t.role = 'assistant' "
    f"AND i.started_at >= {SPAN_START} AND i.started_at < {SPAN_END}"
)
_LAST_KNOWN = "from_last = 1 AND outcome IS NOT NULL"
_SQL = (
    "SELECT ago, journey, "  # noqa: S608 - built from constants
    "CASE WHEN GROUPING(position) = 1 THEN 'intent' ELSE 'position' END AS by, "
    "position, intent, CAST(count(*) AS BIGINT) AS n, CAST(sum(fell_back) AS BIGINT) AS k, "
    f"CAST(sum(CASE WHEN {_LAST_KNOWN} THEN 1 ELSE 0 END) AS BIGINT) AS hn, "
    f"CAST(sum(CASE WHEN {_LAST_KNOWN} AND outcome IN ('escalated', 'transferred') "
    "THEN 1 ELSE 0 END) AS BIGINT) AS hk "
    f"FROM ({_ANSWERS}) a "
    "GROUP BY GROUPING SETS ((ago, journey, position), (ago, journey, intent))"
)

_HANDED_LAST = "from_last = 1 AND outcome IN ('escalated', 'transferred')"
# The answers a reported step's evidence is chosen from: every fallback, and every handed-over
# conversation's last answer, each with its conversation, journey, position and intent.
_EVIDENCE_SQL = (
    "SELECT interaction_id, started_at, journey, position, intent, "  # noqa: S608
    "CAST(fell_back AS BIGINT) AS fell_back, "
    f"CAST(CASE WHEN {_HANDED_LAST} THEN 1 ELSE 0 END AS BIGINT) AS handed "
    f"FROM ({_ANSWERS}) a WHERE fell_back = 1 OR ({_HANDED_LAST})"
)


@dataclass(frozen=True, slots=True)
class _Answers:
    """The assistant's answers of some conversations, in turn order: each one's interaction
    row, whether it fell back, its intent, its position in its conversation (1 the first),
    and whether it is the conversation's last."""

    rows: np.ndarray
    fallback: np.ndarray
    intent: np.ndarray
    position: np.ndarray
    last: np.ndarray


def _answers(t: pa.Table, turns: pa.Table, chosen: np.ndarray) -> _Answers:
    """The answers of the conversations of ``t`` in ``chosen`` (turns are ordered by
    interaction and ``seq``)."""
    ids = t["interaction_id"].filter(pa.array(chosen))
    mine = turns.filter(pc.is_in(turns["interaction_id"], value_set=ids.combine_chunks()))
    row_of = np.asarray(
        pc.fill_null(pc.index_in(mine["interaction_id"], t["interaction_id"]), -1).to_numpy(
            zero_copy_only=False
        )
    )
    idx = np.flatnonzero((row_of >= 0) & flag_array(pc.equal(mine["role"], "assistant")))
    rows = row_of[idx]
    intent = np.asarray(
        pc.fill_null(mine["intent"], NONE).to_numpy(zero_copy_only=False), dtype=object
    )[idx]
    new_conv = np.ones(len(rows), dtype=bool)
    new_conv[1:] = rows[1:] != rows[:-1]
    starts_at = np.maximum.accumulate(np.where(new_conv, np.arange(len(rows)), 0))
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = rows[:-1] != rows[1:]
    return _Answers(
        rows, flag_array(mine["fallback"])[idx], intent, np.arange(len(rows)) - starts_at + 1, last
    )


def _from_rows(data: AnalysisData) -> pa.Table:
    """The read from an analysis's raw interactions and turns (its last :data:`STEP_DAYS`)."""
    t = data.interactions
    end = data.window.current_end
    starts = started_ns(t)
    a = _answers(t, data.turns, in_window(starts, end - timedelta(days=STEP_DAYS), end))
    end_us = int(end.timestamp() * 1_000_000)
    outcome = t["outcome"]
    handed = flag_array(pc.is_in(outcome, pa.array(["escalated", "transferred"])))[a.rows]
    known = a.last & flag_array(pc.is_valid(outcome))[a.rows]
    journey = pc.fill_null(pc.cast(t["journey"], pa.string()), NONE).take(pa.array(a.rows))
    answers = pa.table(
        {
            "ago": (end_us - starts[a.rows] // 1000 - 1) // DAY_US,
            "journey": journey,
            "position": a.position.astype(np.int64),
            "intent": pa.array(a.intent.tolist(), pa.string()),
            "n": np.ones(len(a.rows), dtype=np.int64),
            "k": a.fallback.astype(np.int64),
            "hn": known.astype(np.int64),
            "hk": (known & handed).astype(np.int64),
        }
    )
    sums = [(c, "sum") for c in ("n", "k", "hn", "hk")]
    parts = []
    for by, other in (("position", "intent"), ("intent", "position")):
        grouped = answers.group_by(["ago", "journey", by], use_threads=False).aggregate(sums)
        grouped = grouped.rename_columns([c.removesuffix("_sum") for c in grouped.column_names])
        grouped = grouped.append_column("by", pa.array([by] * grouped.num_rows, pa.string()))
        grouped = grouped.append_column(other, pa.nulls(grouped.num_rows, answers[other].type))
        parts.append(
            grouped.select(["ago", "journey", "by", "position", "intent", "n", "k", "hn", "hk"])
        )
    return pa.concat_tables(parts)


ANSWER_STEPS = EngineRead("answer_steps", _SQL, "ago", _from_rows, days=STEP_DAYS)
"""The assistant's answers of the last :data:`STEP_DAYS` days, per day before the end ×
journey × position in the conversation, and × intent: how many, how many fell back, and of
the conversations' last answers with a known outcome, how many and how many handed over."""


def _evidence_from_rows(data: AnalysisData) -> pa.Table:
    """:data:`STEP_EVIDENCE` from an analysis's raw interactions and turns."""
    t = data.interactions
    end = data.window.current_end
    a = _answers(t, data.turns, in_window(started_ns(t), end - timedelta(days=STEP_DAYS), end))
    handed = (
        a.last & flag_array(pc.is_in(t["outcome"], pa.array(["escalated", "transferred"])))[a.rows]
    )
    keep = a.fallback | handed
    rows = pa.array(a.rows[keep], type=pa.int64())
    return pa.table(
        {
            "interaction_id": pc.cast(t["interaction_id"], pa.string()).take(rows),
            "started_at": pc.cast(t["started_at"], pa.timestamp("us", tz="UTC")).take(rows),
            "journey": pc.fill_null(pc.cast(t["journey"], pa.string()), NONE).take(rows),
            "position": a.position[keep].astype(np.int64),
            "intent": pa.array(a.intent[keep].tolist(), pa.string()),
            "fell_back": a.fallback[keep].astype(np.int64),
            "handed": handed[keep].astype(np.int64),
        }
    )


STEP_EVIDENCE = EngineRead(
    "failure_point_evidence", _EVIDENCE_SQL, "started_at", _evidence_from_rows, days=STEP_DAYS
)
"""The assistant's answers of the last :data:`STEP_DAYS` days that a reported step's evidence
can come from: each fallback, and each handed-over (escalated or transferred) conversation's
last answer; with the conversation's id, start and journey, the answer's position and intent,
and which of the two it is (``fell_back``, ``handed``, 0 or 1)."""


@dataclass(frozen=True, slots=True)
class FailurePointParams:
    """A step needs this many answers, this lift over its journey and this excess rate."""

    min_answers: int = 100
    min_lift: float = 2.0
    min_excess: float = 0.10
    fdr: float = 0.01
    max_position: int = 4


@dataclass(frozen=True, slots=True)
class _Step:
    journey: str
    signal: str  # "fallback" (per answer) or "handover" (per conversation, by last intent)
    by: str  # "position" or "intent"
    value: str
    k: int
    n: int
    journey_k: int
    journey_n: int
    z: float
    at: int | str  # the position or the intent it counts


@detector(
    "failure_points",
    name="Failure points",
    params=FailurePointParams(),
    needs=Needs(reads=(ANSWER_STEPS, STEP_EVIDENCE)),
)
def detect_failure_points(data: AnalysisData, params: FailurePointParams) -> list[Finding]:
    """Turn positions and intents where a journey's fallbacks or hand-overs concentrate.

    In the current period, for each journey: the fallback rate of the assistant's answers at
    each position (1st answer, 2nd, 3rd, 4th and later) and for each recognised intent, and the
    hand-over rate (escalated or transferred) of conversations by the intent of their last
    answer. A step is reported when its rate is at least twice the rest of the journey's
    (its *lift*) and 10 points above it, on at least 100 answers or conversations, with a
    one-sided two-proportion test surviving Benjamini-Hochberg at 1% across all steps.
    """
    w = data.window
    read = data.read(ANSWER_STEPS)
    # The current period: its whole days before the end.
    read = read.filter(pc.less(read["ago"], pa.scalar(math.ceil(w.current_days), pa.int64())))
    if read.num_rows == 0:
        return []
    # Counts per (journey, position capped) and per (journey, intent), summed over the days.
    by_position: dict[tuple[str, int], list[int]] = {}
    by_intent: dict[tuple[str, str], list[int]] = {}
    for journey, by, position, intent, n, k, hn, hk in zip(
        *(
            read[c].to_pylist()
            for c in ("journey", "by", "position", "intent", "n", "k", "hn", "hk")
        ),
        strict=True,
    ):
        if by == "position":
            sums = by_position.setdefault((journey, min(position, params.max_position)), [0, 0])
            sums[0] += k
            sums[1] += n
        else:
            sums = by_intent.setdefault((journey, intent), [0, 0, 0, 0])
            for c, x in enumerate((k, n, hk, hn)):
                sums[c] += x
    # An intent that only ever labels fallbacks (a "fallback" intent) is the symptom, not a step.
    per_intent: dict[str, list[int]] = {}
    for (_, intent), (k, n, _, _) in by_intent.items():
        sums = per_intent.setdefault(intent, [0, 0])
        sums[0] += k
        sums[1] += n
    fallback_only = {i for i, (k, n) in per_intent.items() if k == n} | {NONE}
    steps: list[_Step] = []
    for j in sorted({j for j, _ in by_position}):
        positions = sorted((p, kn) for (jj, p), kn in by_position.items() if jj == j)
        intents = sorted((i, s) for (jj, i), s in by_intent.items() if jj == j)
        jk, jn = sum(kn[0] for _, kn in positions), sum(kn[1] for _, kn in positions)
        for p, (k, n) in positions:
            steps.append(_step(j, "fallback", "position", _label(p, params), k, n, jk, jn, p))
        for name, (k, n, _, _) in intents:
            if name not in fallback_only:
                steps.append(_step(j, "fallback", "intent", name, k, n, jk, jn, name))
        # Hand-overs by the intent of the conversation's last answer.
        hk, hn = sum(s[2] for _, s in intents), sum(s[3] for _, s in intents)
        for name, (_, _, k, n) in intents:
            if n and name not in fallback_only:
                steps.append(_step(j, "handover", "intent", name, k, n, hk, hn, name))
    tested = [
        s
        for s in steps
        if s.n >= params.min_answers and s.journey_n >= params.min_answers and s.k > 0
    ]
    if not tested:
        return []
    found = benjamini_hochberg([normal_sf(s.z) for s in tested], params.fdr)
    out = []
    t = data.interactions
    for s, hit in zip(tested, found, strict=True):
        rate, rest = s.k / s.n, s.journey_k / s.journey_n
        lift = rate / rest if rest > 0 else float("inf")
        if not hit or lift < params.min_lift or rate - rest < params.min_excess:
            continue
        what = "fallbacks" if s.signal == "fallback" else "hand-overs"
        at = f"answer {s.value}" if s.by == "position" else f"intent {s.value}"
        ev_rows = _showing(data, s, params)
        out.append(
            Finding(
                detector="failure_points",
                kind="failure_point",
                title=f"{what.capitalize()} concentrate at {at} of {s.journey}: {rate:.0%} vs "
                f"{rest:.0%} elsewhere in the journey ({lift:.1f}x)",
                scope=FindingScope(data.deployment.name, journey=s.journey),
                severity=Severity.medium if lift >= 3 else Severity.low,
                first_seen=w.current_start,
                last_seen=w.current_end,
                baseline=Measure(rest, s.journey_n),
                current=Measure(rate, s.n),
                evidence=evidence_sample(t["interaction_id"].take(pa.array(ev_rows))),
                impact=weekly_impact(t.take(pa.array(ev_rows)), w.current_days),
                key=(s.signal, s.by, s.value),
                details={"lift": round(lift, 2), "z": round(s.z, 2), "signal": s.signal},
            )
        )
    return out


def _showing(data: AnalysisData, s: _Step, params: FailurePointParams) -> np.ndarray:
    """The rows of the interactions that show a reported step (its journey's answers in the
    current period, from :data:`STEP_EVIDENCE`), in time order."""
    t = data.interactions
    w = data.window
    ev = data.read(STEP_EVIDENCE)
    at = ev["started_at"]
    keep = pc.and_(
        pc.equal(ev["journey"], s.journey),
        pc.and_(
            pc.greater_equal(at, pa.scalar(w.current_start)), pc.less(at, pa.scalar(w.current_end))
        ),
    )
    ev = ev.filter(keep)
    intent = pc.cast(ev["intent"], pa.string())
    if s.signal == "fallback":
        if s.by == "position":
            label = pc.min_element_wise(ev["position"], pa.scalar(params.max_position, pa.int64()))
            hit = pc.equal(label, pa.scalar(int(s.at), pa.int64()))
        else:
            hit = pc.equal(intent, str(s.at))
        hit = pc.and_(hit, pc.equal(ev["fell_back"], 1))
    else:
        hit = pc.and_(pc.equal(intent, str(s.at)), pc.equal(ev["handed"], 1))
    ids = pc.cast(ev["interaction_id"], pa.string()).filter(hit)
    row = pc.index_in(ids, pc.cast(t["interaction_id"], pa.string()))
    rows = np.unique(np.asarray(pc.drop_null(row).to_numpy(zero_copy_only=False), dtype=np.int64))
    # In time order whatever the interactions' order (a read's is already; a table built by
    # hand need not be).
    return rows[np.argsort(started_ns(t)[rows], kind="stable")]


def _label(position: int, params: FailurePointParams) -> str:
    if position >= params.max_position:
        return f"{params.max_position}+"
    return str(position)


def _step(
    journey: str, signal: str, by: str, value: str, k: int, n: int, jk: int, jn: int,
    at: int | str,
) -> _Step:  # fmt: skip
    """A step of ``k`` of ``n``, against the rest of its journey (``jk`` of ``jn`` in all)."""
    rk, rn = jk - k, jn - n
    z = two_proportion_z(rk, rn, k, n) if rn > 0 else 0.0
    return _Step(journey, signal, by, value, k, n, rk, rn, z, at)
