"""Degradation and failure points judge from reads the events engine computes: the journeys'
and segments' sums per day before the end and UTC day (the baseline window is whole UTC days,
the last days whole days before the end), the assistant's answers per day × journey ×
position and × intent, and the answers a reported step's evidence comes from (no turn is read
for the detectors). On both engines the reads are what their twins compute from the raw
rows, the findings are the same either way, and a look cut out of a longer history reads
what it reads alone."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pyarrow.compute as pc
import pytest

from daytwo.detect.cell_days import CELL_DAYS, CROSSED
from daytwo.detect.data import DeploymentInfo
from daytwo.detect.failure_points import ANSWER_STEPS, STEP_EVIDENCE
from daytwo.detect.registry import get_detector
from daytwo.detect.runner import load_data, look_at, read_history, run_detectors
from daytwo.store.events import EventStore
from tests.conftest import ENGINES
from tests.detect.tables import END, WINDOW, comparable_rows, replay_looks, store_weeks

INFO = DeploymentInfo("steps")
DEGRADATION = get_detector("degradation")
FAILURE_POINTS = get_detector("failure_points")
CHOSEN = [DEGRADATION, FAILURE_POINTS]
# The raw-row twins need the turns the detectors no longer read.
NEEDS = [
    DEGRADATION.needs,
    replace(FAILURE_POINTS.needs, turn_columns=("role", "fallback", "intent")),
]
READS = (CELL_DAYS, ANSWER_STEPS, STEP_EVIDENCE)
# Not at midnight: the last days are counted back from the end; the baseline is UTC days.


def _record(i: int, started: datetime, rnd: random.Random) -> dict[str, Any]:
    recent = END - started < timedelta(days=3)
    journey = rnd.choice(["billing", "billing", "orders", "travel"])
    channel = rnd.choice(["chat", "voice"])
    # Billing's containment falls in the last three days, over the phone most.
    contained = 0.85
    if recent and journey == "billing":
        contained = 0.35 if channel == "voice" else 0.7
    outcome = "contained" if rnd.random() < contained else rnd.choice(["escalated", "abandoned"])
    turns: list[dict[str, Any]] = []
    for n in range(rnd.randint(1, 5)):
        intent = rnd.choice(["balance", "refund", "address", None])
        # Refunds fall back in billing; "unknown" only ever labels fallbacks.
        fallback = rnd.random() < (0.6 if journey == "billing" and intent == "refund" else 0.05)
        if fallback and rnd.random() < 0.3:
            intent = "unknown"
        turns += [
            {"seq": 2 * n, "ts": started.isoformat(), "role": "user", "text": "hello"},
            {"seq": 2 * n + 1, "ts": started.isoformat(), "role": "assistant", "text": "hi",
             "intent": intent, "fallback": fallback, "latency_ms": rnd.randint(100, 900)},
        ]  # fmt: skip
    if turns[-1]["intent"] == "address" and rnd.random() < 0.7:
        outcome = "escalated"  # an address change at the end is handed over
    return {
        "id": f"s{i:05d}", "deployment": INFO.name, "started_at": started.isoformat(),
        "channel": channel, "journey": journey if i % 50 else None, "outcome": outcome,
        "csat": rnd.choice([None, 2.0, 4.0, 5.0]), "handle_time_s": rnd.uniform(30, 300),
        "customer_ref": f"u{rnd.randint(0, 400)}",
        "segments": {"site": rnd.choice(["north", "south"])} if i % 5 else {}, "turns": turns,
    }  # fmt: skip


def _store(events: EventStore) -> None:
    store_weeks(events, _record, END, seed=7)


@pytest.mark.parametrize("engine", ENGINES)
def test_degradation_and_failure_points_find_from_the_engine_what_the_rows_give(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    _store(events)
    assert all(d.needs.turn_columns == () for d in CHOSEN)
    data = load_data(events, INFO, WINDOW, NEEDS)
    for read in READS:
        engine, twin = data.reads[read.name], read.from_rows(data)
        assert engine.column_names == twin.column_names
        assert comparable_rows(engine) == comparable_rows(twin)
    # The journey × channel rows: every conversation once.
    cells = data.reads[CELL_DAYS.name]
    crossed = cells.filter(pc.equal(cells["dim"], CROSSED))
    assert int(pc.sum(crossed["n_rows"]).as_py()) == data.interactions.num_rows
    # The answers of the last seven days, not every turn.
    steps = data.reads[ANSWER_STEPS.name]
    assert set(steps["ago"].to_pylist()) == set(range(7))
    assert steps.num_rows < data.turns.num_rows / 10
    # The evidence's answers: fallbacks and handed-over last answers of the last seven days.
    evidence = data.reads[STEP_EVIDENCE.name]
    assert 0 < evidence.num_rows < data.turns.num_rows / 10
    assert pc.all(
        pc.or_(pc.equal(evidence["fell_back"], 1), pc.equal(evidence["handed"], 1))
    ).as_py()

    found = run_detectors(data, CHOSEN)
    assert {(f.kind, f.scope.journey, f.scope.segment, f.scope.metric) for f in found} >= {
        ("degradation", "billing", None, "containment_rate"),
        ("degradation", None, ("channel", "voice"), "containment_rate"),
        ("failure_point", "billing", None, None),
    }
    keys = {f.key for f in found if f.kind == "failure_point"}
    assert ("fallback", "intent", "refund") in keys
    assert ("handover", "intent", "address") in keys
    # The fallback-only intent is the symptom, not a step.
    assert not any("unknown" in str(k) for k in keys)
    assert all(f.evidence for f in found)
    # The same findings, evidence and impact from the reads computed from the raw rows.
    assert found == run_detectors(replace(data, reads={}), CHOSEN)

    # A look cut out of a replay's history (looks ending three days apart) reads what it
    # reads alone, and finds the same.
    looks = replay_looks()
    history = read_history(events, INFO, looks, NEEDS)
    cut, alone = look_at(history, looks[0]), load_data(events, INFO, looks[0], NEEDS)
    for read in READS:
        assert comparable_rows(cut.reads[read.name]) == comparable_rows(alone.reads[read.name])
    assert run_detectors(cut, CHOSEN) == run_detectors(alone, CHOSEN)
