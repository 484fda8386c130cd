"""Silent failures: conversations that went wrong without an error or a complaint."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

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
from daytwo.detect.validators import transcripts, validators
from daytwo.interactions.facts import LOW_CONFIDENCE, flag_array

WORD = re.compile(r"[a-z0-9']+")

SIGNALS = {
    "rephrase_after_answer": "customers rephrase right after an answer",
    "answer_loop": "the assistant repeats the same answer",
    "escalation_after_resolved": "hand-overs after a confident answer",
    "negative_after_resolved": "negative feedback on contained conversations",
    "abandon_after_answer": "customers leave right after an answer",
}


@dataclass(frozen=True, slots=True)
class SilentParams:
    """Tests per signal and journey against the baseline; validator sampling and threshold."""

    min_sample: int = 100
    min_effect: float = 0.03
    fdr: float = 0.01
    similarity: float = 0.5
    validator_sample: int = 50
    validator_fail_share: float = 0.2
    validator_min_failed: int = 5


def signals(interactions: pa.Table, turns: pa.Table, similarity: float) -> dict[str, np.ndarray]:
    """Per interaction, whether each silent-failure signal shows (one boolean array each)."""
    n = interactions.num_rows
    out = {name: np.zeros(n, dtype=bool) for name in SIGNALS}
    if n == 0:
        return out
    outcome = interactions["outcome"]
    contained = flag_array(pc.equal(outcome, "contained"))
    handed = flag_array(pc.is_in(outcome, pa.array(["escalated", "transferred"])))
    abandoned = flag_array(pc.equal(outcome, "abandoned"))
    csat = interactions["csat"].to_numpy(zero_copy_only=False).astype(np.float64)
    negative = np.asarray(
        pc.fill_null(interactions["n_negative_turns"], 0).to_numpy(zero_copy_only=False)
    )
    out["negative_after_resolved"] = contained & ((csat <= 2) | (negative > 0))
    if turns.num_rows == 0:
        return out
    rows = np.asarray(
        pc.fill_null(
            pc.index_in(turns["interaction_id"], interactions["interaction_id"]), -1
        ).to_numpy(zero_copy_only=False)
    )
    keep = rows >= 0
    # The roles as flags, compared in Arrow: not every turn's role as a Python string.
    is_user = flag_array(pc.equal(turns["role"], "user"))
    is_assistant = flag_array(pc.equal(turns["role"], "assistant"))
    fallback = flag_array(turns["fallback"])
    confidence = pc.fill_null(turns["confidence"], 0.0).to_numpy(zero_copy_only=False)
    is_answer = is_assistant & ~fallback
    same_prev = np.zeros(len(rows), dtype=bool)
    same_prev[1:] = (rows[1:] == rows[:-1]) & keep[1:]
    # Rephrase: user, answer (not a fallback), user again saying nearly the same thing.
    idx = np.flatnonzero(
        is_user[2:] & is_answer[1:-1] & is_user[:-2] & same_prev[2:]
        & same_prev[1:-1]
    ) + 2  # fmt: skip
    if len(idx):
        # Only the messages compared are taken out of Arrow (not every turn's text).
        before = turns["text"].take(pa.array(idx - 2, type=pa.int64())).to_pylist()
        after = turns["text"].take(pa.array(idx, type=pa.int64())).to_pylist()
        for i, x, y in zip(idx.tolist(), before, after, strict=True):
            if _rephrased(x or "", y or "", similarity):
                out["rephrase_after_answer"][rows[i]] = True
    # Answer loop: the same (non-fallback) answer text twice in one conversation.
    answers = np.flatnonzero(is_answer & keep)
    if len(answers):
        pairs = pa.table(
            {
                "row": pa.array(rows[answers]),
                "text": turns["text"].take(pa.array(answers, type=pa.int64())),
            }
        ).filter(pc.is_valid(pc.field("text")))
        counts = pairs.group_by(["row", "text"]).aggregate([("text", "count")])
        looped = counts.filter(pc.greater(counts["text_count"], 1))["row"].to_numpy()
        out["answer_loop"][np.unique(looped)] = True
    # The last turn of each conversation; and its last assistant turn.
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = rows[:-1] != rows[1:]
    last_idx = np.flatnonzero(last & keep)
    ended_on_answer = np.zeros(n, dtype=bool)
    ended_on_answer[rows[last_idx]] = is_answer[last_idx]
    out["abandon_after_answer"] = abandoned & ended_on_answer
    confident = is_answer & (confidence >= LOW_CONFIDENCE)
    said = np.flatnonzero(is_assistant & keep)
    final = said[np.r_[rows[said][1:] != rows[said][:-1], True]] if len(said) else said
    final_confident = np.zeros(n, dtype=bool)
    final_confident[rows[final]] = confident[final]
    # The bot's final word was a confident answer (it deemed the request resolved), yet the
    # conversation was handed over.
    out["escalation_after_resolved"] = handed & final_confident
    return out


@lru_cache(maxsize=1 << 16)
def _words(text: str) -> frozenset[str]:
    return frozenset(WORD.findall(text.lower()))


@lru_cache(maxsize=1 << 16)
def _rephrased(before: str, after: str, similarity: float) -> bool:
    """Whether ``after`` shares at least ``similarity`` of the words of both messages (Jaccard);
    remembered, since the same pairs of messages recur from look to look."""
    a, b = _words(before), _words(after)
    return bool(a and b and len(a & b) / len(a | b) >= similarity)


@detector(
    "silent_failures",
    name="Silent failures",
    params=SilentParams(),
    needs=Needs(turn_columns=("role", "text", "fallback", "confidence")),
)
def detect_silent_failures(data: AnalysisData, params: SilentParams) -> list[Finding]:
    """Conversations that fail without an error: signals that rose, and validator verdicts.

    Signals, per conversation: the customer *rephrases* right after an answer (the next
    message shares at least half its words with the one before the answer); an *answer loop*
    (the same non-fallback answer twice); a *hand-over after a confident answer* (the last
    answer was no fallback, with confidence of at least 0.5, yet the conversation was
    escalated); *negative feedback* on a contained conversation (CSAT of 2 or less, or a
    negative message); *abandonment right after an answer*. Each signal's rate in the current
    period is compared with the baseline, for the deployment and each journey (one-sided
    two-proportion test, at least 100 conversations, 3 points worse, Benjamini-Hochberg at
    1%). Registered validators (see ``validators.py``; the LLM judge when configured) judge a
    sample of 50 contained conversations of the current period; a validator that fails at
    least 20% of them (and 5 or more) is reported.
    """
    t = data.interactions
    w = data.window
    if t.num_rows == 0:
        return []
    starts = started_ns(t)
    base = in_window(starts, w.baseline_start, w.baseline_end)
    cur = in_window(starts, w.current_start, w.current_end)
    flags = signals(t, data.turns, params.similarity)
    encoded = pc.dictionary_encode(pc.fill_null(t["journey"], "")).combine_chunks()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    names = [str(j) for j in encoded.dictionary.to_pylist()]
    cells: list[tuple[str | None, np.ndarray]] = [(None, np.ones(t.num_rows, dtype=bool))]
    for j in sorted(names):  # in the order of the journeys' names
        mask = codes == names.index(j)
        if j and not mask.all():
            cells.append((j, mask))
    tests = []
    for name, flag in flags.items():
        for journey, mask in cells:
            nb, nc = int((mask & base).sum()), int((mask & cur).sum())
            if nb < params.min_sample or nc < params.min_sample:
                continue
            kb, kc = int((flag & mask & base).sum()), int((flag & mask & cur).sum())
            z = two_proportion_z(kb, nb, kc, nc)
            tests.append((name, journey, mask, kb, nb, kc, nc, z))
    out: list[Finding] = []
    if tests:
        found = benjamini_hochberg([normal_sf(x[-1]) for x in tests], params.fdr)
        hits = [x for x, hit in zip(tests, found, strict=True)
                if hit and x[5] / x[6] - x[3] / x[4] >= params.min_effect]  # fmt: skip
        whole = {x[0] for x in hits if x[1] is None}
        for name, journey, mask, kb, nb, kc, nc, z in hits:
            if journey is None and any(h[0] == name and h[1] is not None for h in hits):
                continue  # the journeys say where
            if journey is not None and name in whole and len([h for h in hits if h[0] == name]) > 3:
                continue  # everywhere at once: the deployment-wide finding says it
            rows = np.flatnonzero(flags[name] & mask & cur)
            rows = rows[np.argsort(starts[rows], kind="stable")]
            where = f" in {journey}" if journey else ""
            out.append(
                Finding(
                    detector="silent_failures",
                    kind="silent_failure",
                    title=f"More {SIGNALS[name]}{where}: {kb / nb:.1%} → {kc / nc:.1%}",
                    scope=FindingScope(data.deployment.name, journey=journey),
                    severity=Severity.medium if kc / nc - kb / nb >= 0.1 else Severity.low,
                    first_seen=w.current_start,
                    last_seen=w.current_end,
                    baseline=Measure(kb / nb, nb),
                    current=Measure(kc / nc, nc),
                    evidence=evidence_sample(
                        t["interaction_id"].take(pa.array(rows, type=pa.int64()))
                    ),
                    impact=weekly_impact(t.take(pa.array(rows, type=pa.int64())), w.current_days),
                    key=(name,),
                    details={"signal": name, "z": round(z, 2)},
                )
            )
    out += _validated(data, params, cur)
    return out


def _validated(data: AnalysisData, params: SilentParams, cur: np.ndarray) -> list[Finding]:
    active = validators()
    if not active or data.turns.num_rows == 0 or "text" not in data.turns.column_names:
        return []
    t = data.interactions
    contained = np.flatnonzero(cur & flag_array(pc.equal(t["outcome"], "contained")))
    if len(contained) == 0:
        return []
    k = min(params.validator_sample, len(contained))
    sample = contained[np.linspace(0, len(contained) - 1, k).round().astype(int)]
    batch = transcripts(t, data.turns, sample)
    w = data.window
    out = []
    for v in active:
        verdicts = v.validate(batch)
        failed = [x for x in verdicts if x.failed]
        if not verdicts:
            continue
        share = len(failed) / len(verdicts)
        if len(failed) < params.validator_min_failed or share < params.validator_fail_share:
            continue
        out.append(
            Finding(
                detector="silent_failures",
                kind="silent_failure",
                title=f"Validator {v.name} fails {share:.0%} of contained conversations "
                f"({len(failed)} of {len(verdicts)} judged)",
                scope=FindingScope(data.deployment.name),
                severity=Severity.medium if share >= 0.4 else Severity.low,
                first_seen=w.current_start,
                last_seen=w.current_end,
                current=Measure(share, len(verdicts)),
                evidence=tuple(x.interaction_id for x in failed[:20]),
                key=("validator", v.name),
                details={"validator": v.name, "reasons": [x.reason for x in failed[:5]]},
            )
        )
    return out
