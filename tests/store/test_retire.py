"""Retention in the events store: text cleared or conversations deleted, copies included,
aggregates kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson

from daytwo.conversations import service
from daytwo.conversations.text_index import CONVERSATION_TEXT
from daytwo.ingest.decode import decode_json
from daytwo.metrics import rollup
from daytwo.metrics.query import Slice
from daytwo.metrics.service import totals
from daytwo.store.events import EventStore
from tests.factory import BASE, interaction

START = BASE.replace(hour=0, minute=0, second=0)
CUTOFF = START + timedelta(days=10)
WHOLE = Slice("care-bot", START, START + timedelta(days=20))


def _store(new_events: Callable[[], EventStore]) -> EventStore:
    records: list[dict[str, Any]] = []
    for i in range(40):
        rec = interaction(i, turns=3)
        rec["started_at"] = (START + timedelta(hours=12 * i)).isoformat()
        rec["turns"][0]["text"] = f"my secret number is {1000 + i}"
        for turn in rec["turns"]:
            turn.pop("ts", None)  # conversations are retired by their start, ts or not
        records.append(rec)
    store = new_events()
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    store.write(decoded.batch, source="test", batch_id="1")
    for table in (*rollup.TABLES,):
        assert store.derived_ready(table.name)
    assert store.derived_ready(CONVERSATION_TEXT)
    return store


def test_clearing_text_leaves_no_copy_and_keeps_every_number(
    new_events: Callable[[], EventStore],
) -> None:
    store = _store(new_events)
    try:
        before = totals(store, ["contact_volume", "containment_rate"], WHOLE)
        cleared = store.retire("care-bot", CUTOFF, text_only=True)
        assert cleared == 20 * 3  # 20 conversations before the cutoff, 3 turns each
        raw = store.query(
            "SELECT count(*) AS n FROM turns t JOIN interactions i USING (deployment, "
            "interaction_id) WHERE i.started_at < ? AND t.text IS NOT NULL",
            [CUTOFF],
        )
        assert raw["n"][0].as_py() == 0
        assert service.search(store, WHOLE, text="secret number is 1003").total == 0
        kept = service.search(store, WHOLE, text="secret number is 1030")
        assert kept.total == 1
        leftover = store.query(
            f"SELECT count(*) AS n FROM {CONVERSATION_TEXT} WHERE text LIKE '%100_%'"
        )
        assert leftover["n"][0].as_py() == 0
        after = totals(store, ["contact_volume", "containment_rate"], WHOLE)
        assert after == before
    finally:
        store.close()


def test_deleting_conversations_keeps_the_aggregates(
    new_events: Callable[[], EventStore],
) -> None:
    store = _store(new_events)
    try:
        volume = totals(store, ["contact_volume"], WHOLE)["contact_volume"].value
        assert volume == 40
        assert store.retire("care-bot", CUTOFF, text_only=False) == 20
        assert store.count("interactions") == 20
        assert store.query("SELECT count(*) AS n FROM turns")["n"][0].as_py() == 60
        # The dashboard's numbers for the retired days survive; the raw rows are gone.
        assert totals(store, ["contact_volume"], WHOLE)["contact_volume"].value == 40
        raw = totals(store, ["contact_volume"], WHOLE, rollups=False)["contact_volume"].value
        assert raw == 20
        assert service.search(store, WHOLE, text="secret number is 1003").total == 0
    finally:
        store.close()
