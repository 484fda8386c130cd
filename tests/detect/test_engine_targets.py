"""A target on a turn metric (a latency percentile) is computed from the turns the events
engine reads for it: the timed answers of the current period, not every turn of the analysis.
On both engines the read is what its twin computes from the raw rows, the SLO breaches are the
same either way, and a look cut out of a longer history reads what it reads alone."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pyarrow.compute as pc
import pytest

from daytwo.detect.data import DeploymentInfo
from daytwo.detect.registry import get_detector
from daytwo.detect.runner import load_data, look_at, read_history, run_detectors
from daytwo.detect.targets import TARGET_TURNS, TURN_COLUMNS
from daytwo.store.events import EventStore
from tests.conftest import ENGINES
from tests.detect.tables import END, WINDOW, comparable_rows, replay_looks, store_weeks

INFO = DeploymentInfo("timed", targets={"latency_p95": 2000.0, "latency_p50": 900.0})
SLO = get_detector("slo_breach")
# The raw-row twin needs the turns the detector no longer reads.
NEEDS = [SLO.needs, replace(SLO.needs, turn_columns=TURN_COLUMNS)]


def _record(i: int, started: datetime, rnd: random.Random) -> dict[str, Any]:
    slow = END - started < timedelta(days=6)
    turns: list[dict[str, Any]] = []
    for n in range(rnd.randint(1, 3)):
        latency = None if rnd.random() < 0.1 else rnd.gammavariate(2, 700 if slow else 300)
        turns += [
            {"seq": 2 * n, "ts": started.isoformat(), "role": "user", "text": "hi"},
            {"seq": 2 * n + 1, "ts": started.isoformat(), "role": "assistant", "text": "ok",
             "latency_ms": latency},
        ]  # fmt: skip
    return {
        "id": f"t{i:05d}", "deployment": INFO.name, "started_at": started.isoformat(),
        "channel": "chat", "journey": rnd.choice(["orders", "billing"]), "outcome": "contained",
        "turns": turns,
    }  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_latency_targets_are_judged_from_the_engines_timed_answers(
    new_events: Callable[[], EventStore],
) -> None:
    assert SLO.needs.turn_columns == ()
    events = new_events()
    store_weeks(events, _record, END, seed=5)
    data = load_data(events, INFO, WINDOW, NEEDS)
    engine, twin = data.reads[TARGET_TURNS.name], TARGET_TURNS.from_rows(data)
    assert engine.column_names == twin.column_names
    assert comparable_rows(engine) == comparable_rows(twin)
    # Only the timed answers of the last seven days (the turns read for the twin are those
    # of the baseline's two weeks too, half of them the customer's).
    assert 0 < engine.num_rows < data.turns.num_rows / 4
    assert pc.all(pc.equal(engine["role"], "assistant")).as_py()
    assert engine["latency_ms"].null_count == 0

    found = run_detectors(data, [SLO])
    assert {f.scope.metric for f in found} >= {"latency_p95", "latency_p50"}
    assert all(f.evidence and f.current is not None for f in found)
    # The same breaches, values, evidence and impact from the read computed from the raw rows.
    assert found == run_detectors(replace(data, reads={}), [SLO])

    # A look cut out of a replay's history (looks ending three days apart) reads what it
    # reads alone, and finds the same.
    looks = replay_looks()
    history = read_history(events, INFO, looks, NEEDS)
    cut, alone = look_at(history, looks[0]), load_data(events, INFO, looks[0], NEEDS)
    assert comparable_rows(cut.reads[TARGET_TURNS.name]) == comparable_rows(
        alone.reads[TARGET_TURNS.name]
    )
    assert run_detectors(cut, [SLO]) == run_detectors(alone, [SLO])
