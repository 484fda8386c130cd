"""Which user turns are gap candidates: golden cases, one per signal."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from daytwo.detect.gaps.candidates import confident_turns, find_candidates

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def tables(
    rows: list[tuple[str, int, str, str | None, str | None, float | None, bool | None]],
    outcomes: dict[str, str],
    agent_at: dict[str, int] | None = None,
) -> tuple[pa.Table, pa.Table]:
    turns = pa.table(
        {
            "interaction_id": [r[0] for r in rows],
            "seq": pa.array([r[1] for r in rows], pa.int32()),
            "role": [r[2] for r in rows],
            "text": [r[3] for r in rows],
            "intent": [r[4] for r in rows],
            "confidence": pa.array([r[5] for r in rows], pa.float64()),
            "fallback": pa.array([r[6] for r in rows], pa.bool_()),
        }
    )
    ids = sorted(outcomes)
    interactions = pa.table(
        {
            "interaction_id": ids,
            "started_at": pa.array([T0] * len(ids), pa.timestamp("us", tz="UTC")),
            "journey": ["billing"] * len(ids),
            "outcome": [outcomes[i] for i in ids],
            "first_agent_seq": pa.array([(agent_at or {}).get(i) for i in ids], pa.int32()),
            "customer_ref": [f"u-{i}" for i in ids],
        }
    )
    return turns, interactions


def test_each_signal_makes_a_candidate_and_a_good_answer_does_not() -> None:
    turns, inter = tables(
        [
            # a: fallback, then a rephrase that also falls back
            ("a", 0, "user", "pay with bitcoin", None, None, None),
            ("a", 1, "assistant", "Sorry?", "fallback", 0.1, True),
            ("a", 2, "user", "crypto payment", None, None, None),
            ("a", 3, "assistant", "Sorry?", "fallback", 0.1, True),
            # b: answered with low confidence
            ("b", 0, "user", "dog on train", None, None, None),
            ("b", 1, "assistant", "Here", "travel", 0.3, False),
            # c: answered well
            ("c", 0, "user", "reset password", None, None, None),
            ("c", 1, "assistant", "Done", "reset_password", 0.95, False),
            # d: answered well, then the customer went to an agent: last words before it count
            ("d", 0, "user", "refund status", None, None, None),
            ("d", 1, "assistant", "Here", "refund", 0.9, False),
            ("d", 2, "user", "that is not my question", None, None, None),
            ("d", 3, "assistant", "Transferring", "refund", 0.9, False),
            ("d", 4, "agent", "Hi, how can I help", None, None, None),
            ("d", 5, "user", "said to the agent", None, None, None),
        ],
        {"a": "abandoned", "b": "contained", "c": "contained", "d": "escalated"},
        {"d": 4},
    )
    cand = find_candidates(turns, inter)
    got = {
        (i, int(s)): {k for k, v in cand.signals.items() if v[n]}
        for n, (i, s) in enumerate(zip(cand.interaction_id, cand.seq, strict=True))
    }
    assert got == {
        ("a", 0): {"fallback", "low_confidence"},
        ("a", 2): {"fallback", "low_confidence", "rephrased"},
        ("b", 0): {"low_confidence"},
        ("d", 2): {"escalated"},
    }
    d = cand.interaction_id.index("d")
    assert cand.answer_intent[d] == "refund"
    assert cand.answer_confidence[d] == 0.9
    assert cand.text[d] == "that is not my question"
    assert cand.journey[d] == "billing"


def test_turns_out_of_order_and_blank_messages() -> None:
    turns, inter = tables(
        [
            ("a", 1, "assistant", "Sorry?", "fallback", 0.1, True),
            ("a", 0, "user", "   ", None, None, None),
            ("b", 1, "assistant", "Sorry?", "fallback", 0.1, True),
            ("b", 0, "user", "pay with bitcoin", None, None, None),
        ],
        {"a": "contained", "b": "contained"},
    )
    cand = find_candidates(turns, inter)
    assert cand.interaction_id == ["b"]
    assert cand.text == ["pay with bitcoin"]


def test_turns_of_other_interactions_are_ignored() -> None:
    turns, inter = tables(
        [("x", 0, "user", "hello", None, None, None), ("x", 1, "assistant", "?", None, 0.1, True)],
        {"y": "contained"},
    )
    assert len(find_candidates(turns, inter)) == 0


def test_confident_turns_show_what_known_intents_look_like() -> None:
    turns, inter = tables(
        [
            ("a", 0, "user", "reset password", None, None, None),
            ("a", 1, "assistant", "Done", "reset_password", 0.95, False),
            ("b", 0, "user", "new password", None, None, None),
            ("b", 1, "assistant", "Done", "reset_password", 0.91, False),
            ("c", 0, "user", "bitcoin", None, None, None),
            ("c", 1, "assistant", "Sorry", "fallback", 0.1, True),
        ],
        {"a": "contained", "b": "contained", "c": "contained"},
    )
    good = confident_turns(turns, inter, limit=1)
    assert good.text == ["reset password"]
    assert good.intent == ["reset_password"]
