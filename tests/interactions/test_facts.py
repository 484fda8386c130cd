"""Per-interaction facts: hand-checked cases."""

from __future__ import annotations

from typing import Any

import orjson

from daytwo.ingest.decode import decode_json
from daytwo.interactions.facts import FACTS, add_facts


def _facts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    table = add_facts(decoded.batch).interactions
    return table.select([f.name for f in FACTS]).to_pylist()


def _rec(i: int, turns: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": f"x{i}",
        "deployment": "d",
        "started_at": "2026-03-02T09:00:00Z",
        "turns": [{"seq": k, **t} for k, t in enumerate(turns)],
        **extra,
    }


def test_counts_repeats_and_positions() -> None:
    turns = [
        {"role": "user", "text": "I want to cancel my card"},
        {
            "role": "assistant",
            "fallback": True,
            "confidence": 0.2,
            "latency_ms": 900,
            "tokens_in": 10,
            "tokens_out": 5,
            "cost": 0.001,
        },
        {"role": "user", "text": "cancel card please"},  # repeat: after a fallback
        {"role": "assistant", "confidence": 0.9, "latency_ms": 300, "error": "timeout"},
        {"role": "user", "text": "Cancel card, please!"},  # repeat: same words again
        {"role": "agent", "text": "Hi, I can help"},
    ]
    f = _facts(
        [
            _rec(
                0,
                turns,
                nps=9,
                assist_events=[
                    {"action": "shown"},
                    {"action": "accepted"},
                    {"action": "shown"},
                    {"action": "dismissed"},
                ],
            )
        ]
    )
    assert f == [
        {
            "n_user_turns": 3,
            "n_assistant_turns": 2,
            "n_fallback_turns": 1,
            "n_low_confidence_turns": 1,
            "n_error_turns": 1,
            "n_repeats": 2,
            "n_positive_turns": 0,
            "n_negative_turns": 0,
            "nps": 9.0,
            "first_fallback_seq": 1,
            "first_agent_seq": 5,
            "latency_ms_sum": 1200.0,
            "latency_ms_max": 900.0,
            "n_latency": 2,
            "tokens_in": 10,
            "tokens_out": 5,
            "ai_cost": 0.001,
            "n_assist_shown": 2,
            "n_assist_accepted": 1,
            "n_assist_edited": 0,
            "n_assist_dismissed": 1,
        }
    ]


def test_sentiment_words_count_only_customer_messages() -> None:
    turns = [
        {"role": "user", "text": "This is useless, I want to speak to a human"},
        {"role": "assistant", "text": "Thanks for your patience, great question"},
        {"role": "user", "text": "ok thanks, that worked"},
    ]
    f = _facts([_rec(0, turns, nps=11)])[0]
    assert (f["n_positive_turns"], f["n_negative_turns"]) == (1, 1)
    assert f["nps"] is None  # out of the 0-10 scale: ignored


def test_no_turns_and_turn_order_independence() -> None:
    ordered = [
        {"role": "user", "text": "a"},
        {"role": "assistant", "fallback": True},
        {"role": "user", "text": "b"},
    ]
    shuffled = _rec(1, ordered)
    shuffled["turns"] = [shuffled["turns"][2], shuffled["turns"][0], shuffled["turns"][1]]
    f = _facts([_rec(0, []), shuffled, _rec(2, ordered)])
    assert f[0]["n_user_turns"] == 0
    assert f[0]["first_fallback_seq"] is None
    assert f[0]["latency_ms_max"] is None
    assert f[1] == f[2]  # facts follow seq, not the order turns were sent in
    assert f[1]["n_repeats"] == 1


def test_repeats_never_cross_interactions() -> None:
    a = _rec(0, [{"role": "user", "text": "hello"}])
    b = _rec(1, [{"role": "user", "text": "hello"}])
    assert [x["n_repeats"] for x in _facts([a, b])] == [0, 0]


def test_repeats_ignore_punctuation_and_spacing_in_any_script() -> None:
    def repeats(first: str, second: str) -> int:
        turns = [
            {"role": "user", "text": first},
            {"role": "assistant", "text": "ok"},
            {"role": "user", "text": second},
        ]
        return int(_facts([_rec(0, turns)])[0]["n_repeats"])

    assert repeats("Où est ma carte ?", "où   est ma carte!!") == 1
    assert repeats("my card", "my         card") == 1  # a run of nine spaces
    assert repeats("my card", "my cart") == 0
    assert repeats("我的卡", "我的卡。") == 0  # a full-width stop is a character, not a mark
    assert repeats("...", "!!!") == 0  # nothing left to compare
