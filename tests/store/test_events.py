"""The events store on either engine: idempotent writes, replacement, delivery log."""

from __future__ import annotations

import pytest

from daytwo.errors import StorageFull
from daytwo.ingest.decode import decode_json
from daytwo.store.events import EventStore, open_event_store
from tests.factory import interaction


def _batch(records: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    import orjson

    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    return decoded.batch


def test_write_counts_new_and_replaced(events: EventStore) -> None:
    first = events.write(_batch([interaction(i) for i in range(3)]), source="t", batch_id="1")
    assert (first.inserted, first.replaced, first.turns) == (3, 0, 12)
    second = events.write(_batch([interaction(i) for i in range(2, 5)]), source="t", batch_id="2")
    assert (second.inserted, second.replaced) == (2, 1)
    assert events.count("interactions") == 5
    assert events.count("turns") == 20
    assert events.count("deliveries") == 6


def test_delivery_log_and_assist_events_follow_each_write(events: EventStore) -> None:
    """Each write logs one delivery per interaction (its batch, its source, when); a copy
    written without assist events replaces one that had them."""
    from datetime import UTC, datetime, timedelta

    shown = [{"action": "shown"}, {"action": "accepted"}]
    events.write(
        _batch([{**interaction(0), "assist_events": shown}, interaction(1)]),
        source="api",
        batch_id="b1",
    )
    assert events.count("assist_events") == 2
    events.write(_batch([interaction(0)]), source="otlp", batch_id="b2")
    assert events.count("assist_events") == 0
    log = events.query(
        "SELECT interaction_id, batch_id, source, received_at FROM deliveries "
        "ORDER BY batch_id, interaction_id"
    ).to_pylist()
    assert [(d["interaction_id"], d["batch_id"], d["source"]) for d in log] == [
        ("c-000000", "b1", "api"),
        ("c-000001", "b1", "api"),
        ("c-000000", "b2", "otlp"),
    ]
    now = datetime.now(UTC)
    assert all(now - timedelta(minutes=5) < d["received_at"] <= now for d in log)


def test_ids_with_quotes_backslashes_and_any_script_are_replaced_exactly(
    events: EventStore,
) -> None:
    odd = ["o'brien", 'back\\slash "quoted"', "ünïcödé 会话 😀", "comma, [bracket]"]
    records = [{**interaction(i), "id": name} for i, name in enumerate(odd)]
    first = events.write(_batch(records), source="t", batch_id="1")
    assert (first.inserted, first.replaced) == (4, 0)
    second = events.write(_batch(records[1:]), source="t", batch_id="2")
    assert (second.inserted, second.replaced) == (0, 3)
    assert events.count("interactions") == 4
    stored = events.query("SELECT interaction_id FROM interactions ORDER BY interaction_id")
    assert sorted(stored["interaction_id"].to_pylist()) == sorted(odd)


def test_same_id_in_two_deployments_are_two_interactions(events: EventStore) -> None:
    events.write(
        _batch([interaction(1, deployment="a"), interaction(1, deployment="b")]),
        source="t",
        batch_id="1",
    )
    assert events.count("interactions") == 2
    assert {v.deployment: v.interactions for v in events.volumes()} == {"a": 1, "b": 1}


class _FailingConnection:
    """Passes everything to the real connection but fails the last insert of a write."""

    def __init__(self, real: object) -> None:
        self._real = real

    def execute(self, sql: str, *args: object) -> object:
        if sql.startswith("INSERT INTO deliveries"):
            raise RuntimeError("disk full (simulated)")
        return self._real.execute(sql, *args)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def test_a_failed_write_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB writes a batch in one transaction (ClickHouse's guarantee, which has none across
    tables, is in test_clickhouse.py)."""
    events = open_event_store("duckdb:///:memory:")
    events.write(_batch([interaction(0)]), source="t", batch_id="0")
    monkeypatch.setattr(events, "_con", _FailingConnection(events._con))  # type: ignore[attr-defined]
    with pytest.raises(StorageFull, match="is full: nothing was written"):
        events.write(_batch([interaction(0, turns=7), interaction(1)]), source="t", batch_id="x")
    monkeypatch.undo()
    assert events.count("interactions") == 1
    assert events.count("turns") == 4
    assert events.count("deliveries") == 1
    events.close()


def test_store_survives_reopen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"duckdb:///{tmp_path / 'e.duckdb'}"
    with open_event_store(url) as store:
        store.write(_batch([interaction(i) for i in range(4)]), source="t", batch_id="1")
    with open_event_store(url, read_only=True) as store:
        assert store.count("interactions") == 4
        assert store.volumes()[0].turns == 16


def test_unknown_url_is_a_config_error() -> None:
    from daytwo.errors import ConfigError

    with pytest.raises(ConfigError, match="Unsupported events store URL"):
        open_event_store("mysql://nope")
