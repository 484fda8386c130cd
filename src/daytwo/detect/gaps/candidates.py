"""Which user turns are candidates for a knowledge gap, and why (pure, over Arrow tables).

A user turn is a candidate when its answer fell back, when its answer had low confidence, when
it was sent again in other words right after a fallback (a rephrase), or when it was the last
thing the customer said before the conversation went to a person (escalation or transfer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.interactions.facts import LOW_CONFIDENCE, flag_array

TURN_COLUMNS = ("role", "text", "intent", "confidence", "fallback")
INTERACTION_COLUMNS = (
    "interaction_id",
    "started_at",
    "journey",
    "outcome",
    "first_agent_seq",
    "customer_ref",
)
HANDED_OVER = ("escalated", "transferred")
SIGNALS = ("fallback", "low_confidence", "rephrased", "escalated")


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidate utterances, one row per user turn, with the signals that made each one.

    ``answer_intent`` / ``answer_confidence`` are what the assistant reported on its answer
    (``None`` / NaN where it did not answer or did not say).
    """

    interaction_id: list[str]
    seq: np.ndarray
    text: list[str]
    started_at: np.ndarray  # datetime64[us], UTC
    journey: list[str | None]
    customer_ref: list[str | None]
    answer_intent: list[str | None]
    answer_confidence: np.ndarray
    signals: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.interaction_id)

    def take(self, index: np.ndarray) -> Candidates:
        idx = [int(i) for i in index]
        return Candidates(
            [self.interaction_id[i] for i in idx],
            self.seq[index],
            [self.text[i] for i in idx],
            self.started_at[index],
            [self.journey[i] for i in idx],
            [self.customer_ref[i] for i in idx],
            [self.answer_intent[i] for i in idx],
            self.answer_confidence[index],
            {k: v[index] for k, v in self.signals.items()},
        )


@dataclass(frozen=True, slots=True)
class ConfidentTurns:
    """User turns the assistant answered confidently, by the intent it recognised (with
    where each was said, where :func:`confident_turns` tells)."""

    text: list[str]
    intent: list[str]
    interaction_id: list[str] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)


def _shift_equal(values: pa.Array) -> np.ndarray:
    """``out[i]``: row ``i + 1`` has the same value as row ``i`` (last row: False)."""
    n = len(values)
    out = np.zeros(n, dtype=bool)
    if n > 1:
        out[:-1] = flag_array(pc.equal(values.slice(1), values.slice(0, n - 1)))
    return out


def _ordered(turns: pa.Table) -> pa.Table:
    return turns.sort_by([("interaction_id", "ascending"), ("seq", "ascending")])


def find_candidates(turns: pa.Table, interactions: pa.Table) -> Candidates:
    """Candidate user turns of ``interactions`` (see the module docstring)."""
    turns = _ordered(
        turns.filter(pc.is_in(turns["interaction_id"], interactions["interaction_id"]))
    )
    n = turns.num_rows
    iid = turns["interaction_id"].combine_chunks()
    role = turns["role"].combine_chunks()
    is_user = flag_array(pc.equal(role, "user"))
    is_assistant = flag_array(pc.equal(role, "assistant"))
    fallback = flag_array(turns["fallback"]) & is_assistant
    confidence = pc.fill_null(turns["confidence"], np.nan).to_numpy(zero_copy_only=False)
    low = (confidence < LOW_CONFIDENCE) & is_assistant
    same_next = _shift_equal(iid)

    answered = np.zeros(n, dtype=bool)  # user turn whose next turn is the assistant's answer
    answered[:-1] = is_user[:-1] & same_next[:-1] & is_assistant[1:] if n > 1 else False
    nxt = np.minimum(np.arange(n) + 1, max(n - 1, 0))
    answer_fallback = answered & fallback[nxt]
    answer_low = answered & low[nxt]
    rephrased = np.zeros(n, dtype=bool)
    if n > 1:
        rephrased[1:] = is_user[1:] & same_next[:-1] & fallback[:-1]

    row = pc.index_in(iid, value_set=interactions["interaction_id"].combine_chunks())
    row_np = row.to_numpy(zero_copy_only=False).astype(np.int64)
    outcome = interactions["outcome"].combine_chunks()
    handed = flag_array(pc.is_in(outcome, pa.array(HANDED_OVER)))[row_np]
    agent_seq = pc.fill_null(interactions["first_agent_seq"], 2**31 - 1).to_numpy(
        zero_copy_only=False
    )[row_np]
    seq = turns["seq"].to_numpy(zero_copy_only=False).astype(np.int64)
    before_agent = is_user & (seq < agent_seq)
    # The last user turn before the hand-over: the last such turn of its record.
    record = np.zeros(n, dtype=np.int64)
    if n > 1:
        record[1:] = np.cumsum(~same_next[:-1])
    last_before_agent = np.zeros(n, dtype=bool)
    at = np.flatnonzero(before_agent)
    if len(at):
        ends = np.ones(len(at), dtype=bool)
        ends[:-1] = record[at[1:]] != record[at[:-1]]
        last_before_agent[at[ends]] = True
    escalated = handed & last_before_agent

    text = turns["text"].combine_chunks()
    has_text = flag_array(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0))
    keep = is_user & has_text & (answer_fallback | answer_low | rephrased | escalated)
    idx = np.flatnonzero(keep)
    take = pa.array(idx, type=pa.int64())
    inter_rows = pa.array(row_np[idx], type=pa.int64())
    conf_next = np.where(answered, confidence[nxt], np.nan)[idx]
    intents = pc.take(turns["intent"], pa.array(nxt[idx], type=pa.int64())).to_pylist()
    return Candidates(
        interaction_id=[str(v) for v in pc.take(iid, take).to_pylist()],
        seq=seq[idx],
        text=[str(v) for v in pc.take(text, take).to_pylist()],
        started_at=pc.take(interactions["started_at"], inter_rows)
        .to_numpy(zero_copy_only=False)
        .astype("datetime64[us]"),
        journey=pc.take(interactions["journey"], inter_rows).to_pylist(),
        customer_ref=(
            pc.take(interactions["customer_ref"], inter_rows).to_pylist()
            if "customer_ref" in interactions.column_names
            else [None] * len(idx)
        ),
        answer_intent=[i if a else None for i, a in zip(intents, answered[idx], strict=True)],
        answer_confidence=conf_next,
        signals={
            "fallback": answer_fallback[idx],
            "low_confidence": answer_low[idx],
            "rephrased": rephrased[idx],
            "escalated": escalated[idx],
        },
    )


def confident_turns(turns: pa.Table, interactions: pa.Table, limit: int = 20) -> ConfidentTurns:
    """Up to ``limit`` user turns per intent that the assistant answered confidently and
    without a fallback: what each known intent looks like when it works."""
    turns = _ordered(
        turns.filter(pc.is_in(turns["interaction_id"], interactions["interaction_id"]))
    )
    n = turns.num_rows
    if n < 2:
        return ConfidentTurns([], [])
    role = turns["role"].combine_chunks()
    is_user = flag_array(pc.equal(role, "user"))
    is_assistant = flag_array(pc.equal(role, "assistant"))
    confidence = pc.fill_null(turns["confidence"], np.nan).to_numpy(zero_copy_only=False)
    fallback = flag_array(turns["fallback"])
    intent = turns["intent"].combine_chunks()
    has_intent = flag_array(pc.is_valid(intent))
    same_next = _shift_equal(turns["interaction_id"].combine_chunks())
    ok_answer = is_assistant & ~fallback & (confidence >= LOW_CONFIDENCE) & has_intent
    good = np.zeros(n, dtype=bool)
    good[:-1] = is_user[:-1] & same_next[:-1] & ok_answer[1:]
    idx = np.flatnonzero(good)
    names = pc.take(intent, pa.array(idx + 1, type=pa.int64())).to_pylist()
    texts = pc.take(turns["text"], pa.array(idx, type=pa.int64())).to_pylist()
    ids = pc.take(turns["interaction_id"], pa.array(idx, type=pa.int64())).to_pylist()
    seqs = pc.take(turns["seq"], pa.array(idx, type=pa.int64())).to_pylist()
    per: dict[str, int] = {}
    out = ConfidentTurns([], [], [], [])
    for name, text, iid, seq in zip(names, texts, ids, seqs, strict=True):
        if not text or per.get(name, 0) >= limit:
            continue
        per[name] = per.get(name, 0) + 1
        out.text.append(str(text))
        out.intent.append(str(name))
        out.interaction_id.append(str(iid))
        out.seq.append(int(seq))
    return out
