"""What the events engine computes for the feed checks (the conversations delivered more than
once or started after their first delivery) is what its twin computes from the raw deliveries
log, on both engines; so are the findings; and a look cut out of a longer history reads the
same as a look read alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from daytwo.detect.data import DeploymentInfo, Window
from daytwo.detect.feed import DELIVERY_FACTS, FeedParams
from daytwo.detect.registry import Needs, get_detector
from daytwo.detect.runner import load_data, look_at, read_history, run_detectors
from daytwo.ingest.decode import decode_json
from daytwo.store.events import EventStore
from tests.conftest import ENGINES

INFO = DeploymentInfo("feed")
FEED = get_detector("feed_quality")
# The detector's needs, and the raw deliveries its read's twin computes from.
NEEDS = [FEED.needs, Needs(deliveries=True)]
# Written now (the deliveries log stamps the write's clock): the last week is the current one.
NOW = datetime.now(UTC).replace(microsecond=0)
END = NOW.replace(hour=0, minute=0, second=0) + timedelta(days=2)
WINDOW = Window(END - timedelta(days=28), END - timedelta(days=14), END - timedelta(days=7), END)


def _record(i: int, started: datetime) -> dict[str, Any]:
    return {
        "id": f"c{i:04d}", "deployment": INFO.name, "started_at": started.isoformat(),
        "channel": "chat", "outcome": "contained",
        "turns": [{"seq": 0, "ts": started.isoformat(), "role": "user", "text": "hello"}],
    }  # fmt: skip


def _store(events: EventStore) -> None:
    """Four weeks of conversations up to now, the 10
    latest of the past delivered twice; 12 more that start an hour after they were sent."""
    start = END - timedelta(days=28)
    past = [
        _record(i, start + timedelta(hours=2 * i + 1))
        for i in range(int((NOW - start) / timedelta(hours=2)))
    ]
    ahead = [_record(9000 + i, NOW + timedelta(hours=1, minutes=i)) for i in range(12)]
    for batch_id, records in (("a", past + ahead), ("b", past[-10:])):
        decoded = decode_json(orjson.dumps(records))
        assert decoded.errors == []
        events.write(decoded.batch, source="test", batch_id=batch_id)


def _rows(table: pa.Table) -> dict[str, list[Any]]:
    """A read's rows in one order, times as microseconds."""
    columns = {
        n: pc.cast(c, pa.int64()) if pa.types.is_timestamp(c.type) else c
        for n, c in zip(table.column_names, table.columns, strict=True)
    }
    plain = pa.table(columns)
    out: dict[str, list[Any]] = plain.sort_by(
        [(n, "ascending") for n in plain.column_names]
    ).to_pydict()
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_the_engine_reads_what_the_deliveries_log_gives(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    _store(events)
    data = load_data(events, INFO, WINDOW, NEEDS)
    engine = data.reads[DELIVERY_FACTS.name]
    assert _rows(engine) == _rows(DELIVERY_FACTS.from_rows(data))
    # Only the odd conversations, not the log: 10 delivered twice, 12 sent before they start.
    assert engine.num_rows == 22 < data.deliveries.num_rows
    assert sorted(engine["copies"].to_pylist()) == [1] * 12 + [2] * 10
    found = run_detectors(data, [FEED])
    assert {f.kind for f in found} == {"duplicate_deliveries", "clock_skew"}
    # The detector finds the same from the engine's read as from the raw rows.
    assert found == run_detectors(replace(data, reads={}), [FEED])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_look_cut_from_a_history_reads_what_it_reads_alone(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    _store(events)
    looks = [
        replace(WINDOW, current_start=e - timedelta(days=7), current_end=e)
        for e in (END - timedelta(days=1, hours=7), END)
    ]
    history = read_history(events, INFO, looks, NEEDS)
    for w in looks:
        cut, alone = look_at(history, w), load_data(events, INFO, w, NEEDS)
        assert _rows(cut.reads[DELIVERY_FACTS.name]) == _rows(alone.reads[DELIVERY_FACTS.name])


def test_a_negative_skew_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="skew_tolerance_s"):
        FeedParams(skew_tolerance_s=-1.0)
