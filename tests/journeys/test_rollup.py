"""A journey page's counts read from the journey rollups equal the counts of the raw rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson

from daytwo.ingest.decode import decode_json
from daytwo.journeys import rollup as journey_rollup
from daytwo.journeys.service import funnel, intents_at_fallback, positions
from daytwo.metrics.query import Slice
from daytwo.store.events import EventStore
from tests.factory import BASE, interaction

START = BASE.replace(hour=0, minute=0, second=0)
END = START + timedelta(days=3)


def _records(n: int, offset: int = 0) -> list[dict[str, Any]]:
    out = []
    for i in range(offset, offset + n):
        rec = interaction(i, turns=2 + i % 6)
        # Fallbacks at varied positions and intents; an agent reached in some; no outcome in
        # some (counted as unknown).
        for k, turn in enumerate(rec["turns"]):
            if turn["role"] == "assistant" and (i + k) % 4 == 0:
                turn["fallback"] = True
                turn["intent"] = (None, "fallback", "card_lost", "other")[(i // 4) % 4]
        if i % 5 == 0:
            rec["turns"].append({"seq": len(rec["turns"]), "role": "agent", "text": "Hello"})
        if i % 7 == 0:
            rec["outcome"] = None
        out.append(rec)
    return out


def _write(store: EventStore, records: list[dict[str, Any]], batch: str) -> None:
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    store.write(decoded.batch, source="test", batch_id=batch)


SLICES = [
    Slice("care-bot", START, END),
    Slice("care-bot", START, END, filters=(("journey", ("billing",)),)),
    Slice("care-bot", START, END, filters=(("journey", ("billing",)), ("channel", ("chat",)))),
    Slice("care-bot", START + timedelta(days=1), END, filters=(("channel", ("voice", "chat")),)),
]


def _page(events: EventStore, s: Slice, *, rollups: bool) -> tuple[Any, ...]:
    return (
        funnel(events, s, rollups=rollups),
        positions(events, s, "first_fallback_seq", rollups=rollups),
        positions(events, s, "first_agent_seq", limit=3, rollups=rollups),
        intents_at_fallback(events, s, limit=3, rollups=rollups),
    )


def test_the_journey_rollups_give_the_raw_counts_as_data_arrives_and_is_replaced(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    _write(events, _records(60), "a")
    assert all(events.derived_ready(t.name) for t in journey_rollup.TABLES)
    first = [_page(events, s, rollups=False) for s in SLICES]
    assert first[0][0]["conversations"] == 60
    assert first[0][0]["unknown"] > 0
    assert first[0][1]
    assert first[0][2]
    assert len(first[0][3]) == 3
    assert [_page(events, s, rollups=True) for s in SLICES] == first
    # Re-sent with other outcomes and later starts, plus new ones: the rollups follow.
    resent = _records(30, offset=45)
    for rec in resent:
        rec["outcome"] = "escalated"
    _write(events, resent, "b")
    after = [_page(events, s, rollups=False) for s in SLICES]
    assert after[0][0]["conversations"] == 75
    assert [_page(events, s, rollups=True) for s in SLICES] == after


def test_a_slice_the_rollups_cannot_answer_reads_the_raw_rows(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    _write(events, _records(30), "a")
    by_site = Slice("care-bot", START, END, filters=(("segment.site", ("leeds",)),))
    part_day = Slice("care-bot", START + timedelta(hours=3), END)
    for s in (by_site, part_day):
        assert _page(events, s, rollups=True) == _page(events, s, rollups=False)
    assert funnel(events, by_site)["conversations"] == 10
