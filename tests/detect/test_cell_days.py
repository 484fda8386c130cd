"""The trend and the SLO breaches read their cells from the events engine (sums per day ×
journey, and × each segment key's values): the engine's read is what its twin computes from
the raw rows, on both engines; the weekly figures are those the row-level summaries give; the
findings are the same either way; and a look cut out of a longer history reads what it reads
alone."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow.compute as pc
import pytest

from daytwo.detect.cell_days import (
    CELL_DAYS,
    JUDGED,
    day_cell_groups,
    period_sums,
    periods_of,
)
from daytwo.detect.cells import cell_groups, in_window, period_summaries, started_ns
from daytwo.detect.data import DeploymentInfo, Window
from daytwo.detect.registry import get_detector
from daytwo.detect.runner import load_data, look_at, read_history, run_detectors
from daytwo.ingest.decode import decode_json
from daytwo.store.events import EventStore
from tests.conftest import ENGINES
from tests.detect.tables import comparable_rows

INFO = DeploymentInfo("cells", targets={"containment_rate": 0.9, "csat": 4.8})
TREND = get_detector("trend")
SLO = get_detector("slo_breach")
NEEDS = [TREND.needs, SLO.needs]
# Not at midnight: the weeks are counted back from the analysis's end, to the microsecond.
END = datetime(2026, 10, 31, 15, 20, 7, 250_000, tzinfo=UTC)
WINDOW = Window(END - timedelta(weeks=7), END - timedelta(weeks=6), END - timedelta(days=7), END)


def _record(i: int, started: datetime, rnd: random.Random) -> dict[str, Any]:
    weeks_ago = int((END - started) / timedelta(weeks=1))
    journey = rnd.choice(["billing", "billing", "orders", "travel"])
    # Billing's containment falls week after week; the rest holds.
    contained = 0.85 - (0.06 * (6 - weeks_ago) if journey == "billing" else 0.0)
    outcome = "contained" if rnd.random() < contained else rnd.choice(["escalated", "abandoned"])
    record: dict[str, Any] = {
        "id": f"c{i:05d}", "deployment": INFO.name, "started_at": started.isoformat(),
        "channel": rnd.choice(["chat", "voice"]), "journey": journey, "outcome": outcome,
        "csat": rnd.choice([None, 2.0, 4.0, 5.0]), "handle_time_s": rnd.uniform(30, 300),
        "segments": {"site": rnd.choice(["north", "south"])} if i % 5 else {},
        "turns": [{"seq": 0, "ts": started.isoformat(), "role": "user", "text": "hello"},
                  {"seq": 1, "ts": started.isoformat(), "role": "assistant", "text": "hi",
                   "latency_ms": rnd.randint(100, 900)}],
    }  # fmt: skip
    return record


def _store(events: EventStore) -> None:
    """Eight weeks of conversations, one every 40 minutes, up to the end (and one exactly a
    week before it: the edge belongs to the later week)."""
    rnd = random.Random(5)
    start = END - timedelta(weeks=8)
    at = [
        start + timedelta(minutes=40 * i) for i in range(int((END - start) / timedelta(minutes=40)))
    ]
    at.append(END - timedelta(weeks=1))
    records = [_record(i, s, rnd) for i, s in enumerate(at)]
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    events.write(decoded.batch, source="test", batch_id="a")


@pytest.mark.parametrize("engine", ENGINES)
def test_the_engine_reads_the_cells_the_rows_give(new_events: Callable[[], EventStore]) -> None:
    events = new_events()
    _store(events)
    data = load_data(events, INFO, WINDOW, NEEDS)
    engine = data.reads[CELL_DAYS.name]
    twin = CELL_DAYS.from_rows(data)
    assert engine.column_names == twin.column_names
    assert comparable_rows(engine) == comparable_rows(twin)
    # Days (each straddling two UTC days) × values, not conversations.
    days = int(pc.max(engine["ago"]).as_py()) + 1
    cells = {
        (d, v, c)
        for d, v, c in zip(
            *(engine[k].to_pylist() for k in ("dim", "value", "cross_value")), strict=True
        )
    }
    assert engine.num_rows <= 2 * days * len(cells)
    journeys = engine.filter(pc.equal(engine["dim"], "journey"))
    assert int(pc.sum(journeys["n_rows"]).as_py()) == data.interactions.num_rows

    # Every cell's weekly figures are what the row-level summaries give (rates to the bit).
    t = data.interactions
    starts = started_ns(t)
    period = np.full(t.num_rows, -1, dtype=np.int64)
    for k in range(6):
        period[in_window(starts, END - timedelta(weeks=6 - k), END - timedelta(weeks=5 - k))] = k
    by_rows = cell_groups(t, crossed=False)
    by_days = day_cell_groups(engine)
    assert [g.cells for g in by_days] == [g.cells for g in by_rows]
    weeks = periods_of(engine, [(7 * j, 7 * j + 6) for j in reversed(range(6))])
    for m in JUDGED:
        values, weights = m.arrays(t)
        for rows, days in zip(by_rows, by_days, strict=True):
            expected = period_summaries(m, values, weights, rows, period, 6)
            got = period_sums(m, engine, days, weeks, 6)
            if m.kind == "rate":
                assert got == expected
            else:
                assert [[(s.n, s.value and round(s.value, 9)) for s in c] for c in got] == [
                    [(s.n, s.value and round(s.value, 9)) for s in c] for c in expected
                ]

    found = run_detectors(data, [TREND, SLO])
    assert {(f.kind, f.scope.journey, f.scope.metric) for f in found} >= {
        ("trend", "billing", "containment_rate"),
        ("slo_breach", None, "containment_rate"),
        ("slo_breach", None, "csat"),
    }
    # The trend and the SLO breaches find the same from the engine's read as from the raw rows.
    assert found == run_detectors(replace(data, reads={}), [TREND, SLO])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_look_cut_from_a_history_reads_what_it_reads_alone(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    _store(events)
    # A replay: looks at the end of each day, and the last one mid-day (its own days).
    midnight = END.replace(hour=0, minute=0, second=0, microsecond=0)
    looks = [
        replace(WINDOW, current_start=e - timedelta(days=7), current_end=e)
        for e in (
            midnight - timedelta(days=3),
            midnight - timedelta(days=1),
            END - timedelta(days=3),
            END,
        )
    ]
    needs = [TREND.needs]  # the cells alone (no turns)
    history = read_history(events, INFO, looks, needs)
    assert all(history.covers(w, needs) for w in looks)
    # A look three days before the history's last at its time of day, and one at midnight.
    for w in (looks[0], looks[2]):
        cut, alone = look_at(history, w), load_data(events, INFO, w, needs)
        assert comparable_rows(cut.reads[CELL_DAYS.name]) == comparable_rows(
            alone.reads[CELL_DAYS.name]
        )
    # A look that ends off the history's grid of days is not cut from it.
    off = replace(
        WINDOW, current_start=END - timedelta(days=8), current_end=END - timedelta(hours=25)
    )
    assert not history.covers(off, needs)
