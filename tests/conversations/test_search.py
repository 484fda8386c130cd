"""Conversation search: the text table answers as the raw turns do, newest days first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest

from daytwo.conversations import service
from daytwo.conversations.text_index import CONVERSATION_TEXT
from daytwo.ingest.decode import decode_json
from daytwo.metrics.query import Slice
from daytwo.store.events import EventStore, open_event_store
from tests.conftest import ENGINES
from tests.factory import BASE, interaction

START = BASE.replace(hour=0, minute=0, second=0)
END = START + timedelta(days=40)
PHRASES = ("my Direct Deposit is late", "I lost my card", "change of address please")


def _records() -> list[dict[str, Any]]:
    out = []
    for i in range(400):
        rec = interaction(i, turns=3)
        # Spread over 40 days, 10 a day, one phrase per conversation in rotation.
        rec["started_at"] = (START + timedelta(hours=2.4 * i)).isoformat()
        rec["turns"][0]["text"] = PHRASES[i % 3] + f" (case {i})"
        out.append(rec)
    return out


@pytest.fixture(scope="module")
def store() -> Any:
    events = open_event_store("duckdb:///:memory:")
    decoded = decode_json(orjson.dumps(_records()))
    assert decoded.errors == []
    events.write(decoded.batch, source="test", batch_id="1")
    yield events
    events.close()


def _ids(page: service.ConversationPage) -> list[str]:
    return [c.interaction_id for c in page.items]


def _raw(store: EventStore, s: Slice, **kw: Any) -> service.ConversationPage:
    """The same search over the raw turns (the path taken when the text table is not
    current), for comparison."""
    ready = store.derived_ready
    try:
        store.derived_ready = lambda name: False  # type: ignore[method-assign]
        return service.search(store, s, **kw)
    finally:
        store.derived_ready = ready  # type: ignore[method-assign]


@pytest.mark.parametrize("text", ["direct deposit", "LOST MY", "case 17", "100%", "nothing"])
def test_exact_counts_and_pages_equal_the_raw_search(store: EventStore, text: str) -> None:
    s = Slice("care-bot", START, END)
    assert store.derived_ready(CONVERSATION_TEXT)
    for offset in (0, 50):
        fast = service.search(store, s, text=text, offset=offset, exact_total=True)
        raw = _raw(store, s, text=text, offset=offset)
        assert fast.total_exact
        assert raw.total_exact
        assert fast.total == raw.total
        assert _ids(fast) == _ids(raw)


def test_a_search_stops_counting_once_the_page_is_full(store: EventStore) -> None:
    s = Slice("care-bot", START, END)
    page = service.search(store, s, text="direct deposit", limit=5)
    full = _raw(store, s, text="direct deposit", limit=5)
    assert _ids(page) == _ids(full)  # the same newest matches
    assert not page.total_exact
    assert 5 < page.total < full.total  # a lower bound: the matches of the recent days read
    # A rare phrase needs the whole range: its count is then exact.
    rare = service.search(store, s, text="case 17)")
    assert rare.total_exact
    assert rare.total == 1


def test_text_search_keeps_the_metric_drill_and_filters(store: EventStore) -> None:
    s = Slice("care-bot", START, END, filters=(("journey", ("billing",)),))
    fast = service.search(store, s, text="deposit", metric="containment_rate", exact_total=True)
    raw = _raw(store, s, text="deposit", metric="containment_rate")
    assert fast.total == raw.total > 0
    assert _ids(fast) == _ids(raw)
    assert fast.drill == raw.drill is not None


def test_new_data_is_searchable_at_once(store: EventStore) -> None:
    s = Slice("care-bot", START, END)
    rec = interaction(9999, turns=2)
    rec["started_at"] = (START + timedelta(days=3)).isoformat()
    rec["turns"][1]["text"] = "a brand new zebra phrase"
    decoded = decode_json(orjson.dumps([rec]))
    store.write(decoded.batch, source="test", batch_id="2")
    page = service.search(store, s, text="ZEBRA")
    assert _ids(page) == [rec["id"]]
    assert page.total_exact


@pytest.mark.parametrize("engine", ENGINES)
def test_a_search_of_part_days_reads_the_text_table_as_the_raw_turns(
    new_events: Callable[[], EventStore],
) -> None:
    """The text table is read by day and time: a range that starts and ends within a day
    finds what the raw turns find, on both engines."""
    events = new_events()
    decoded = decode_json(orjson.dumps(_records()[:120]))
    events.write(decoded.batch, source="test", batch_id="1")
    s = Slice("care-bot", START + timedelta(hours=5), START + timedelta(days=9, hours=7))
    fast = service.search(events, s, text="direct deposit", exact_total=True)
    assert events.derived_ready(CONVERSATION_TEXT)
    raw = _raw(events, s, text="direct deposit")
    assert fast.total == raw.total > 0
    assert _ids(fast) == _ids(raw)
