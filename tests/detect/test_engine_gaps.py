"""The knowledge gaps' candidates and confidently answered turns come from reads the events
engine computes, not from every turn of the windows. On both engines the reads are what their
twins work out of the raw turns, the detector gets exactly the candidates and confident turns
the raw turns give (so the same gaps), and a look cut out of a longer history reads what it
reads alone."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from daytwo.detect.data import AnalysisData, DeploymentInfo, Window
from daytwo.detect.gaps.candidates import (
    TURN_COLUMNS,
    Candidates,
    ConfidentTurns,
    confident_turns,
    find_candidates,
)
from daytwo.detect.gaps.reads import (
    CANDIDATES,
    CONFIDENT,
    _in_windows,
    candidates,
    candidates_of,
    confident,
    confident_of,
    with_text,
)
from daytwo.detect.gaps.service import load_window
from daytwo.detect.registry import get_detector
from daytwo.detect.runner import engine_read, load_data, look_at, read_history
from daytwo.store.events import EventStore
from tests.conftest import ENGINES
from tests.detect.tables import END, WINDOW, comparable_rows, replay_looks, store_weeks

INFO = DeploymentInfo("gappy")
GAPS = get_detector("knowledge_gap")
# The raw-row twin needs every turn of the windows.
NEEDS = [GAPS.needs, replace(GAPS.needs, turn_columns=TURN_COLUMNS, reads=())]
ASKED = ["where is my parcel", "cancel my order please", "I want a refund", "card blocked"]
INTENTS = ["parcel", "cancel", "refund", "card"]


def _record(i: int, started: datetime, rnd: random.Random) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    if rnd.random() < 0.1:  # the assistant speaks first
        turns.append({"role": "assistant", "text": "Hello!"})
    for _ in range(rnd.randint(1, 3)):
        k = rnd.randrange(len(ASKED))
        asked: str | None = f"{ASKED[k]} {rnd.randint(0, 50)}"
        if rnd.random() < 0.05:
            asked = rnd.choice([None, "", "   "])  # no text, or a blank one
        turns.append({"role": "user", "text": asked})
        if rnd.random() < 0.1:
            continue  # a question without an answer
        answer: dict[str, Any] = {"role": "assistant", "text": "Sure"}
        luck = rnd.random()
        if luck < 0.15:
            answer |= {"fallback": True, "intent": "fallback", "confidence": 0.2}
        elif luck < 0.25:
            answer |= {"intent": INTENTS[k], "confidence": 0.3}  # a low-confidence answer
        elif luck < 0.3:
            answer |= {"intent": INTENTS[k]}  # no confidence said
        else:
            answer |= {"intent": INTENTS[k], "confidence": 0.9}
        turns.append(answer)
    outcome = "contained"
    if rnd.random() < 0.2:
        outcome = rnd.choice(["escalated", "transferred"])
        turns.append({"role": "agent", "text": "A person here"})
        if rnd.random() < 0.5:
            turns.append({"role": "user", "text": "after the agent came"})
    ts = started.isoformat()
    return {
        "id": f"g{rnd.randint(0, 10**6):07d}-{i:05d}", "deployment": INFO.name,
        "started_at": ts, "channel": "chat", "outcome": outcome,
        "journey": rnd.choice(["orders", None]), "customer_ref": f"u{rnd.randint(0, 300)}",
        "turns": [{"seq": n, "ts": ts, **t} for n, t in enumerate(turns)],
    }  # fmt: skip


def _raw(data: AnalysisData) -> tuple[Candidates, ConfidentTurns]:
    """What the detector took from the windows' raw turns before the engine read them."""
    inter = data.interactions.filter(_in_windows(data.interactions["started_at"], data.window))
    return find_candidates(data.turns, inter), confident_turns(data.turns, inter)


def _same_candidates(a: Candidates, b: Candidates) -> None:
    assert a.interaction_id == b.interaction_id
    assert a.seq.tolist() == b.seq.tolist()
    assert a.text == b.text
    assert a.started_at.tolist() == b.started_at.tolist()
    assert a.journey == b.journey
    assert a.customer_ref == b.customer_ref
    assert a.answer_intent == b.answer_intent
    assert np.array_equal(a.answer_confidence, b.answer_confidence, equal_nan=True)
    assert {k: v.tolist() for k, v in a.signals.items()} == {
        k: v.tolist() for k, v in b.signals.items()
    }


def _in_window_rows(table: pa.Table, window: Window) -> pa.Table:
    return table.filter(_in_windows(table["started_at"], window))


@pytest.mark.parametrize("engine", ENGINES)
def test_gap_candidates_come_from_the_engine_as_the_turns_give_them(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    store_weeks(events, _record, END, seed=7)
    assert GAPS.needs.turn_columns == ()  # no turn is read for the gaps
    data = load_data(events, INFO, WINDOW, NEEDS)
    for read in (CANDIDATES, CONFIDENT):
        engine = _in_window_rows(data.reads[read.name], WINDOW)
        if read is CANDIDATES:  # blank texts are left out after the read
            engine = with_text(engine)
        twin = read.from_rows(data)
        assert engine.column_names == twin.column_names
        assert comparable_rows(engine.cast(twin.schema, safe=False)) == comparable_rows(twin)

    cand, good = candidates(data), confident(data)
    raw_cand, raw_good = _raw(data)
    _same_candidates(cand, raw_cand)
    assert (good.text, good.intent) == (raw_good.text, raw_good.intent)
    # Every signal is there, blank texts are not, and some intent has more than its 20
    # confident turns in a day (the engine keeps the first 20 of each).
    assert all(v.any() for v in cand.signals.values())
    assert all(t.strip() for t in cand.text)
    assert len(good.text) == 20 * len(INTENTS)
    inter = data.interactions.filter(_in_windows(data.interactions["started_at"], WINDOW))
    every = confident_turns(data.turns, inter, limit=10**6).text
    assert len(good.text) < _in_window_rows(data.reads[CONFIDENT.name], WINDOW).num_rows
    assert _in_window_rows(data.reads[CONFIDENT.name], WINDOW).num_rows < len(every)
    # The same from the twins (hand-built data reads them).
    bare = replace(data, reads={})
    _same_candidates(candidates(bare), raw_cand)
    assert confident(bare).text == raw_good.text

    # A look cut out of a replay's history (looks ending three days apart) reads what it
    # reads alone.
    looks = replay_looks()
    history = read_history(events, INFO, looks, NEEDS)
    for look in looks:
        assert history.covers(look, NEEDS)
        cut, alone = look_at(history, look), load_data(events, INFO, look, NEEDS)
        _same_candidates(candidates(cut), candidates(alone))
        assert confident(cut) == confident(alone)
        _same_candidates(candidates(alone), _raw(alone)[0])
        assert confident(alone).text == _raw(alone)[1].text

    # The gaps' refresh reads one span (its window of days) the same way.
    start = END - timedelta(days=28)
    interactions, turns = load_window(events, INFO.name, start, END)
    span_cand = candidates_of(engine_read(events, INFO.name, CANDIDATES, start, END))
    _same_candidates(span_cand, find_candidates(turns, interactions))
    span_good = confident_of(engine_read(events, INFO.name, CONFIDENT, start, END))
    assert span_good == replace(confident_turns(turns, interactions), interaction_id=[], seq=[])


def test_the_candidates_hold_one_string_per_distinct_value() -> None:
    # Candidates repeat their conversation, journey, intent and wording: each distinct value
    # is one Python string, in the lists as many times as it occurs (nulls kept where a
    # column has them), over a read of several chunks.
    def chunks(*parts: list[str | None]) -> pa.ChunkedArray:
        return pa.chunked_array([pa.array(p, pa.string()) for p in parts])

    n = 5
    table = pa.table(
        {
            "interaction_id": chunks(["b", "a", "a"], ["b", "c"]),
            "seq": pa.array([2, 1, 3, 4, 1], pa.int64()),
            "text": chunks(["where is my card", "hi", "hi"], ["where is my card", " "]),
            "started_at": pa.array([0] * n, pa.timestamp("us", tz="UTC")),
            "journey": chunks(["cards", None, None], ["cards", "cards"]),
            "customer_ref": chunks([None] * 3, [None, "u1"]),
            "answer_intent": chunks(["lost_card", "greet", None], ["lost_card", "lost_card"]),
            "answer_confidence": pa.array([0.2, None, 0.1, 0.3, 0.9], pa.float64()),
            **{name: pa.array([True] * n) for name in ("fallback", "low_confidence")},
            **{name: pa.array([False] * n) for name in ("rephrased", "escalated")},
        }
    )
    cand = candidates_of(table)
    # Sorted by conversation and seq, the blank text left out.
    assert cand.interaction_id == ["a", "a", "b", "b"]
    assert cand.seq.tolist() == [1, 3, 2, 4]
    assert cand.text == ["hi", "hi", "where is my card", "where is my card"]
    assert cand.journey == [None, None, "cards", "cards"]
    assert cand.customer_ref == [None] * 4
    assert cand.answer_intent == ["greet", None, "lost_card", "lost_card"]
    assert cand.interaction_id[0] is cand.interaction_id[1]
    assert cand.text[2] is cand.text[3]
    assert cand.journey[2] is cand.journey[3]
    assert cand.answer_intent[2] is cand.answer_intent[3]
