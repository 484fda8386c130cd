"""Golden cases of the workaround signals, each worked out by hand in its comment."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from daytwo.adoption.frames import _next_agent_message
from daytwo.adoption.signals import (
    SignalParams,
    excess_share,
    legacy_path,
    normalise,
    precision_recall,
    retyped,
    rewrite,
    similarities,
    similarity,
)

P = SignalParams()


def test_similarity_by_hand() -> None:
    # "ab" -> trigrams " ab", "ab "; "abc" -> " ab", "abc", "bc ": 1 shared of 4 distinct.
    assert similarity("ab", "abc") == pytest.approx(0.25)
    assert similarity("Your card was declined.", "your card WAS declined!") == 1.0
    assert similarity("", "anything") == 0.0
    assert similarity(None, "anything") == 0.0
    assert normalise("  I've   blocked -- the card!") == "i ve blocked the card"
    # A retyped answer stays well above the threshold, an unrelated line far below it.
    s = "I have blocked the card and ordered a replacement; it arrives in 5 working days."
    assert (
        similarity(s, "i have blocked the card and ordered a replacement, arrives in 5 days") > 0.6
    )
    assert similarity(s, "Let me check that for you.") < 0.2
    assert similarities(["ab", "ab"], ["abc", "abc"]).tolist() == [0.25, 0.25]


def test_excess_share_flags_the_agent_far_above_the_floor() -> None:
    # Agent 0: 8 hits of 10; agents 1 and 2: 1 of 20 each. Floor = 10 / 50 = 0.2.
    # Agent 0: P(X >= 8 | 10, 0.2) = 7.8e-5 -> flagged; agents 1-2: share 0.05 < 0.25.
    agent = [0] * 10 + [1] * 20 + [2] * 20
    hit = [k < 8 for k in range(10)] + [k == 0 for k in range(20)] * 2
    s = excess_share("retyped", agent, hit, 3, P)
    assert s.p[0] == pytest.approx(stats.binom.sf(7, 10, 0.2))
    assert s.p[0] == pytest.approx(7.79e-5, rel=0.01)
    assert s.flagged.tolist() == [True, False, False]
    assert s.expected.tolist() == [2.0, 4.0, 4.0]
    assert s.share.tolist() == [0.8, 0.05, 0.05]


def test_too_few_events_never_flag() -> None:
    # 3 hits of 3: a share of 1, but 3 < 10 events and 3 < 4 hits.
    s = excess_share(
        "retyped", [0, 0, 0, 1, 1, 1, 1], [True, True, True, False, False, False, False], 2, P
    )
    assert not s.flagged.any()


def test_retyped_and_rewrite_read_the_texts() -> None:
    answer = "I have frozen the card and opened a fraud case."
    retyped_line = "ok i have frozen the card and opened a fraud case"
    other = "Let me check that for you."
    # Agent 0 retypes 6 of 10 dismissals; agent 1 none of 20.
    agent = [0] * 10 + [1] * 20
    nxt = [retyped_line] * 6 + [other] * 4 + [other] * 20
    r = retyped(agent, [answer] * 30, nxt, 2, P)
    assert r.hits.tolist() == [6.0, 0.0]
    assert r.flagged.tolist() == [True, False]
    # Rewrite: agent 1 sends something else after 12 of 20 accepted suggestions, agent 0 after
    # none of 30. Floor 12 / 50 = 0.24; P(X >= 12 | 20, 0.24) = 0.0015 -> flagged.
    agent = [0] * 30 + [1] * 20
    sent = [answer] * 30 + [other] * 12 + [answer] * 8
    w = rewrite(agent, [answer] * 50, sent, 2, P)
    assert w.p[1] == pytest.approx(stats.binom.sf(11, 20, 0.24))
    assert w.hits.tolist() == [0.0, 12.0]
    assert w.flagged.tolist() == [False, True]


def test_legacy_path_is_judged_against_the_journey_mix() -> None:
    # Journey 0 (easy): the floor goes legacy 1 in 10; journey 1 (hard): 5 in 10.
    # Agent 0 takes only hard journeys: 20 conversations, 10 legacy, expected 20 * rate(1).
    # Agent 1 takes easy ones: 20 conversations, 12 legacy, expected 20 * rate(0).
    # Agents 2-3 fill the floor: journey 0: 60 conversations, 0 legacy; journey 1: 20, 10.
    agent = [0] * 20 + [1] * 20 + [2] * 60 + [3] * 20
    journey = [1] * 20 + [0] * 20 + [0] * 60 + [1] * 20
    legacy = [k < 10 for k in range(20)] + [k < 12 for k in range(20)] + [False] * 60
    legacy += [k < 10 for k in range(20)]
    s = legacy_path(agent, journey, legacy, 4, P)
    # rate(0) = 12 / 80 = 0.15, rate(1) = 20 / 40 = 0.5.
    assert s.expected.tolist() == pytest.approx([10.0, 3.0, 9.0, 10.0])
    assert s.p[1] == pytest.approx(stats.poisson.sf(11, 3.0))
    assert s.flagged.tolist() == [False, True, False, False]


def test_precision_and_recall() -> None:
    assert precision_recall({"a", "b", "c"}, {"a", "b", "d", "e"}) == (2 / 3, 0.5)
    assert precision_recall(set(), set()) == (1.0, 1.0)


def test_the_next_agent_message_by_hand() -> None:
    """Each event's next message is the first agent turn of its conversation at or after it:
    none after the last one, none in a conversation without one, and a message without text
    stays without text."""
    at = [datetime(2026, 1, 1, 9, m, tzinfo=UTC) for m in range(6)]
    turns = pa.table(
        {
            "interaction_id": ["a", "a", "a", "b", "b", "c"],
            "role": ["agent", "user", "agent", "user", "agent", "user"],
            "ts": at,
            "text": ["first", "hi", "second", "hello", None, "bye"],
        }
    )
    ids = np.array(["a", "a", "a", "b", "c", "z"], dtype=object)
    events = pa.array([at[0], at[1], at[3], at[0], at[0], at[0]])
    assert _next_agent_message(turns, ids, events) == ["first", "second", None, None, None, None]
