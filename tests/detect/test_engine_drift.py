"""Drift judges from a read the events engine computes: each conversation's first customer
message and the intent of its first answer, one row per conversation of the baseline window and
the current period instead of every turn. On
both engines the read is what its twin works out of the raw turns (in the same order, which the
samples and the evidence follow), the findings are the same either way, and a look cut out of a
longer history reads what it reads alone."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from daytwo.detect.data import DeploymentInfo
from daytwo.detect.drift import FIRST_MESSAGES
from daytwo.detect.registry import get_detector
from daytwo.detect.runner import load_data, look_at, read_history, run_detectors
from daytwo.store.events import EventStore
from tests.conftest import ENGINES
from tests.detect.tables import END, WINDOW, comparable_rows, replay_looks, store_weeks

INFO = DeploymentInfo("drifting")
DRIFT = get_detector("drift")
# The raw-row twin needs every turn of the span the first messages are worked out of.
NEEDS = [DRIFT.needs, replace(DRIFT.needs, turn_columns=("role", "text", "intent"), turn_days=70)]
ASKED = ["where is my parcel", "cancel my order please", "I want a refund", "card blocked"]
INTENTS = ["parcel", "cancel", "refund", "card"]


def _record(i: int, started: datetime, rnd: random.Random) -> dict[str, Any]:
    recent = END - started < timedelta(days=7)
    turns: list[dict[str, Any]] = []
    if rnd.random() < 0.1:  # the assistant speaks first (a greeting, no intent)
        turns.append({"role": "assistant", "text": "Hello!"})
    k = rnd.randrange(len(ASKED))
    asked: str | None = f"{ASKED[k]} {rnd.randint(0, 10**4)}"
    intent: str | None = INTENTS[k]
    if recent and rnd.random() < 0.3:  # a new question, in new words and at greater length
        asked = f"my solar inverter shows fault code e{rnd.randint(0, 9)} since the update"
        intent = "solar_fault"
    if rnd.random() < 0.03:
        asked = None  # a message without text
    if rnd.random() < 0.05:
        turns.append({"role": "system", "text": "routed"})
    if rnd.random() < 0.95:  # some conversations have no customer message
        turns.append({"role": "user", "text": asked})
        if rnd.random() < 0.2:  # an answer that names no intent before the one that does
            turns.append({"role": "assistant", "text": "One moment"})
        if rnd.random() < 0.9:
            turns.append({"role": "assistant", "text": "Sure", "intent": intent})
        if rnd.random() < 0.5:  # a second question, answered
            turns.append({"role": "user", "text": rnd.choice(ASKED)})
            turns.append({"role": "assistant", "text": "Done", "intent": rnd.choice(INTENTS)})
    ts = started.isoformat()
    return {
        "id": f"d{i:05d}", "deployment": INFO.name, "started_at": ts, "channel": "chat",
        "outcome": "contained", "customer_ref": f"u{rnd.randint(0, 300)}",
        "turns": [{"seq": n, "ts": ts, **t} for n, t in enumerate(turns)],
    }  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_drift_finds_from_the_engine_what_the_turns_give(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    store_weeks(events, _record, END, seed=5)
    data = load_data(events, INFO, WINDOW, NEEDS)
    engine, twin = data.reads[FIRST_MESSAGES.name], FIRST_MESSAGES.from_rows(data)
    assert engine.column_names == twin.column_names
    assert comparable_rows(engine) == comparable_rows(twin)
    # In the same order: the samples of messages and the evidence follow it.
    assert engine["interaction_id"].to_pylist() == twin["interaction_id"].to_pylist()
    # Only the conversations of the two windows: none started between them.
    started = engine["started_at"]
    assert not pc.any(
        pc.and_(
            pc.greater_equal(started, pa.scalar(WINDOW.baseline_end)),
            pc.less(started, pa.scalar(WINDOW.current_start)),
        )
    ).as_py()
    in_windows = pc.or_(
        pc.less(data.interactions["started_at"], pa.scalar(WINDOW.baseline_end)),
        pc.greater_equal(data.interactions["started_at"], pa.scalar(WINDOW.current_start)),
    )
    # One row per conversation with a customer message; null texts read as empty, and
    # conversations with no answer naming an intent have none.
    assert 0.9 < engine.num_rows / pc.sum(in_windows).as_py() < 1
    assert pc.sum(pc.equal(engine["text"], "")).as_py() > 0
    assert 0 < engine["intent"].null_count < engine.num_rows / 5

    found = run_detectors(data, [DRIFT])
    assert {f.kind for f in found} == {"intent_mix", "input_length", "new_vocabulary"}
    assert all(f.evidence for f in found if f.kind != "input_length")
    # The same findings and evidence from the read computed from the raw turns.
    assert found == run_detectors(replace(data, reads={}), [DRIFT])

    # A look cut out of a replay's history (looks ending three days apart) reads what it
    # reads alone, and finds the same.
    looks = replay_looks()
    history = read_history(events, INFO, looks, NEEDS)
    cut, alone = look_at(history, looks[0]), load_data(events, INFO, looks[0], NEEDS)
    name = FIRST_MESSAGES.name
    assert cut.reads[name].to_pylist() == alone.reads[name].to_pylist()
    assert run_detectors(cut, [DRIFT]) == run_detectors(alone, [DRIFT])
    # The history leaves out what every look leaves out: from the baseline's end to the
    # earliest look's current period; a look whose current period starts earlier is not cut
    # out of it.
    assert history.read_gaps[name] == (WINDOW.baseline_end, looks[0].current_start)
    earlier = replace(looks[0], current_start=looks[0].current_start - timedelta(days=1))
    assert not history.covers(earlier, NEEDS)
