"""Failure points: the journey steps where fallbacks and hand-overs concentrate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cells import in_window, started_ns
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
from daytwo.detect.stats import benjamini_hochberg, normal_sf, two_proportion_z
from daytwo.interactions.facts import flag_array


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
    rows: np.ndarray  # interaction rows that show it


@detector(
    "failure_points",
    name="Failure points",
    params=FailurePointParams(),
    needs=Needs(turn_columns=("role", "fallback", "intent")),
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
    t = data.interactions
    turns = data.turns
    w = data.window
    if t.num_rows == 0 or turns.num_rows == 0:
        return []
    starts = started_ns(t)
    cur = in_window(starts, w.current_start, w.current_end)
    row_of = np.asarray(
        pc.fill_null(pc.index_in(turns["interaction_id"], t["interaction_id"]), -1).to_numpy(
            zero_copy_only=False
        )
    )
    in_cur = (row_of >= 0) & cur[np.maximum(row_of, 0)]
    answers = in_cur & flag_array(pc.equal(turns["role"], "assistant"))
    idx = np.flatnonzero(answers)
    if len(idx) == 0:
        return []
    rows = row_of[idx]
    fallback = flag_array(turns["fallback"])[idx]
    intent = np.asarray(
        pc.fill_null(turns["intent"], "(none)").to_numpy(zero_copy_only=False), dtype=object
    )[idx]
    journey_all = np.asarray(
        pc.fill_null(t["journey"], "(none)").to_numpy(zero_copy_only=False), dtype=object
    )
    journey = journey_all[rows]
    # Position of each answer within its conversation (turns are ordered by id and seq).
    new_conv = np.ones(len(rows), dtype=bool)
    new_conv[1:] = rows[1:] != rows[:-1]
    starts_at = np.maximum.accumulate(np.where(new_conv, np.arange(len(rows)), 0))
    position = np.minimum(np.arange(len(rows)) - starts_at + 1, params.max_position)
    last_answer = np.ones(len(rows), dtype=bool)
    last_answer[:-1] = rows[:-1] != rows[1:]
    outcome = t["outcome"]
    handed = flag_array(pc.is_in(outcome, pa.array(["escalated", "transferred"])))
    known = flag_array(pc.is_valid(outcome))

    # Intents and journeys as numbers in the order of their names (np.unique's order), so each
    # step's rows are an integer comparison.
    intent_names, intent_code = np.unique(intent, return_inverse=True)
    journey_names, journey_code = np.unique(journey, return_inverse=True)
    # An intent that only ever labels fallbacks (a "fallback" intent) is the symptom, not a step.
    n_intents = len(intent_names)
    all_fallback = np.bincount(intent_code, weights=fallback, minlength=n_intents) == np.bincount(
        intent_code, minlength=n_intents
    )
    fallback_only = {str(v) for v, a in zip(intent_names, all_fallback, strict=True) if a} | {
        "(none)"
    }
    steps: list[_Step] = []
    for jc, j in enumerate(journey_names):
        in_j = journey_code == jc
        jk, jn = int(fallback[in_j].sum()), int(in_j.sum())
        for by, labels in (("position", position), ("intent", intent_code)):
            for v in np.unique(labels[in_j]):
                name = intent_names[v] if by == "intent" else v
                if by == "intent" and str(name) in fallback_only:
                    continue
                sel = in_j & (labels == v)
                k, n = int(fallback[sel].sum()), int(sel.sum())
                steps.append(_step(j, "fallback", by, _label(by, name, params), k, n, jk - k,
                                   jn - n, rows[sel & fallback]))  # fmt: skip
        # Hand-overs by the intent of the conversation's last answer.
        last = in_j & last_answer & known[rows]
        conv_rows = rows[last]
        hk, hn = int(handed[conv_rows].sum()), len(conv_rows)
        for c in np.unique(intent_code[last]):
            v = intent_names[c]
            if str(v) in fallback_only:
                continue
            sel = last & (intent_code == c)
            r = rows[sel]
            k, n = int(handed[r].sum()), len(r)
            steps.append(_step(j, "handover", "intent", str(v), k, n, hk - k, hn - n,
                               r[handed[r]]))  # fmt: skip
    tested = [
        s
        for s in steps
        if s.n >= params.min_answers and s.journey_n >= params.min_answers and s.k > 0
    ]
    if not tested:
        return []
    found = benjamini_hochberg([normal_sf(s.z) for s in tested], params.fdr)
    out = []
    for s, hit in zip(tested, found, strict=True):
        rate, rest = s.k / s.n, s.journey_k / s.journey_n
        lift = rate / rest if rest > 0 else float("inf")
        if not hit or lift < params.min_lift or rate - rest < params.min_excess:
            continue
        what = "fallbacks" if s.signal == "fallback" else "hand-overs"
        at = f"answer {s.value}" if s.by == "position" else f"intent {s.value}"
        ev_rows = np.unique(s.rows)
        ev_rows = ev_rows[np.argsort(starts[ev_rows], kind="stable")]
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


def _label(by: str, value: object, params: FailurePointParams) -> str:
    if by == "position" and int(str(value)) >= params.max_position:
        return f"{params.max_position}+"
    return str(value)


def _step(
    journey: str, signal: str, by: str, value: str, k: int, n: int, rk: int, rn: int,
    rows: np.ndarray,
) -> _Step:  # fmt: skip
    z = two_proportion_z(rk, rn, k, n) if rn > 0 else 0.0
    return _Step(str(journey), signal, by, value, k, n, rk, rn, z, rows)
