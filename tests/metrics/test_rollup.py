"""The exact rollups stay equal to the raw rows as data arrives, is replaced, or is re-sent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from daytwo.ingest.decode import decode_json
from daytwo.metrics import rollup
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.query import Slice, build_queries
from daytwo.metrics.schemas import MetricPoint
from daytwo.metrics.service import metric_points, totals
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.events.derived import DerivedTable, register, unregister
from tests.factory import BASE, interaction

START = BASE.replace(hour=0, minute=0, second=0)
END = START + timedelta(days=14)
METRICS = list(REGISTRY)


def _write(store: EventStore, records: list[dict[str, Any]], batch: str) -> None:
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    store.write(decoded.batch, source="test", batch_id=batch)


def _key(p: MetricPoint) -> tuple[Any, ...]:
    return (p.metric, p.bucket, tuple(sorted(p.group.items())))


def _assert_paths_agree(store: EventStore, s: Slice) -> None:
    fast = {_key(p): p for p in metric_points(store, METRICS, s)}
    raw = {_key(p): p for p in metric_points(store, METRICS, s, rollups=False)}
    assert fast.keys() == raw.keys()
    for key, want in raw.items():
        got = fast[key]
        assert got.n == want.n, key
        for a, b in ((got.value, want.value), (got.lo, want.lo), (got.hi, want.hi)):
            assert (a is None) == (b is None), key
            if a is not None and b is not None:
                assert a == pytest.approx(b, rel=1e-9, abs=1e-9), key


SLICES = [
    Slice("care-bot", START, END),
    Slice("care-bot", START, END, "day", ("journey",)),
    Slice("care-bot", START, END, "hour", ("channel",)),
    Slice("care-bot", START, END, "week", (), (("journey", ("billing",)),)),
    Slice("care-bot", START, END, "day", ("channel",), (("journey", ("billing",)),)),
    Slice("care-bot", START, END, "day", ("journey", "channel")),
    Slice("care-bot", START, END, "day", (), (("journey", ("billing", "fraud")),)),
]


def _records(n: int, offset: int = 0, **overrides: Any) -> list[dict[str, Any]]:
    out = []
    for i in range(offset, offset + n):
        rec = interaction(i, turns=2 + i % 5, **overrides)
        rec["turns"][1]["latency_ms"] = 100 + (i * 37) % 900
        rec["customer_ref"] = f"u-{i % 11}"  # repeat contacts within days
        out.append(rec)
    return out


def test_rollups_follow_every_write_and_replacement() -> None:
    store = open_event_store("duckdb:///:memory:")
    try:
        _write(store, _records(300), "a")
        assert all(store.derived_ready(t.name) for t in rollup.TABLES)
        for s in SLICES:
            _assert_paths_agree(store, s)
        # More data on later days: the repeat-contact flags of earlier days change too.
        _write(store, _records(300, offset=300), "b")
        # A re-sent interaction moved to another day, with another journey and outcome.
        moved = _records(1, offset=5)[0] | {
            "started_at": (START + timedelta(days=9, hours=3)).isoformat(),
            "journey": "fraud",
            "outcome": "escalated",
        }
        _write(store, [moved], "c")
        for s in SLICES:
            _assert_paths_agree(store, s)
        assert rollup.volumes(store) == store.volumes()
        # The rollup path really was taken for whole-hour slices.
        ready = frozenset(t.name for t in rollup.TABLES if store.derived_ready(t.name))
        sources = {
            q.source for q in build_queries([REGISTRY[m] for m in METRICS], SLICES[1], ready)
        }
        assert sources == {rollup.DAILY_ROLLUP, rollup.DAILY_VALUES, rollup.DAILY_TURN_VALUES}
        sources = {
            q.source for q in build_queries([REGISTRY[m] for m in METRICS], SLICES[0], ready)
        }
        assert sources == {rollup.DAILY_ROLLUP, rollup.VALUE_COUNTS}
        filtered = replace(SLICES[0], filters=(("journey", ("billing",)),))
        _assert_paths_agree(store, filtered)
        sources = {q.source for q in build_queries([REGISTRY[m] for m in METRICS], filtered, ready)}
        assert sources == {rollup.DAILY_ROLLUP, rollup.TURN_VALUES, "interactions"}
        hourly = {q.source for q in build_queries([REGISTRY["containment_rate"]], SLICES[2], ready)}
        assert hourly == {rollup.ROLLUP}
    finally:
        store.close()


def test_slices_the_rollups_cannot_answer_read_the_raw_rows() -> None:
    ready = frozenset(t.name for t in rollup.TABLES)
    metrics = [REGISTRY["containment_rate"], REGISTRY["latency_p95"]]
    by_site = Slice("d", START, END, "day", ("site",))
    assert {q.source for q in build_queries(metrics, by_site, ready)} == {
        "interactions",
        "turns",
    }
    mid_hour = Slice("d", START + timedelta(minutes=30), END)
    assert rollup.ROLLUP not in {q.source for q in build_queries(metrics, mid_hour, ready)}
    searched = replace(SLICES[0], text="card")
    assert {q.source for q in build_queries(metrics, searched, ready)} == {
        "interactions",
        "turns",
    }


def test_a_read_only_store_with_pending_changes_reads_the_raw_rows(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'events.duckdb'}"
    with open_event_store(url) as store:
        _write(store, _records(50), "a")
        assert store.derived_ready(rollup.ROLLUP)
        _write(store, _records(50, offset=50), "b")  # pending: nobody read since
    with open_event_store(url, read_only=True) as ro:
        assert not ro.derived_ready(rollup.ROLLUP)
        got = totals(ro, ["contact_volume"], SLICES[0])["contact_volume"].value
        assert got == 100
    with open_event_store(url) as store:
        assert store.derived_ready(rollup.ROLLUP)  # refreshed by the writable store
    with open_event_store(url, read_only=True) as ro:
        assert ro.derived_ready(rollup.ROLLUP)
        assert totals(ro, ["contact_volume"], SLICES[0])["contact_volume"].value == 100


@pytest.fixture
def daily_counts() -> Iterator[str]:
    yield "test_daily_counts"
    unregister("test_daily_counts")


def _daily_counts(factor: int) -> DerivedTable:
    select = (
        f"SELECT i.deployment, CAST(i.started_at AS DATE) AS day, {factor} * count(*) AS n "
        "FROM interactions i SEMI JOIN _refresh_days d ON i.deployment = d.deployment "
        "AND CAST(i.started_at AS DATE) = d.day GROUP BY 1, 2"
    )
    return DerivedTable("test_daily_counts", "deployment VARCHAR, day DATE, n BIGINT", select)


def test_a_changed_definition_rebuilds_its_table(daily_counts: str) -> None:
    store = open_event_store("duckdb:///:memory:")
    try:
        _write(store, _records(20), "a")
        register(_daily_counts(1))
        assert store.derived_ready(daily_counts)
        total = "SELECT sum(n) AS n FROM test_daily_counts"
        assert store.query(total)["n"][0].as_py() == 20
        _write(store, _records(5, offset=20), "b")
        assert store.derived_ready(daily_counts)
        assert store.query(total)["n"][0].as_py() == 25
        register(_daily_counts(2))  # a new definition: rebuilt from every raw row
        assert store.derived_ready(daily_counts)
        assert store.query(total)["n"][0].as_py() == 50
    finally:
        store.close()


def test_a_store_opened_again_builds_rollups_it_lacks(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    with open_event_store(f"duckdb:///{path}") as store:
        _write(store, _records(40), "a")
        assert store.derived_ready(rollup.ROLLUP)
    con = duckdb.connect(str(path))  # as a store written before the rollups existed
    con.execute(f"DROP TABLE {rollup.ROLLUP}")
    con.execute("DELETE FROM derived_state")
    con.close()
    with open_event_store(f"duckdb:///{path}") as store:
        assert totals(store, ["contact_volume"], SLICES[0])["contact_volume"].value == 40
        assert store.derived_ready(rollup.ROLLUP)
        _assert_paths_agree(store, SLICES[1])


def test_a_read_only_store_from_before_the_rollups_reads_the_raw_rows(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    with open_event_store(f"duckdb:///{path}") as store:
        _write(store, _records(30), "a")
    con = duckdb.connect(str(path))  # as written by a release without derived tables
    con.execute("DROP TABLE derived_state")
    con.execute("DROP TABLE derived_changed_days")
    con.close()
    with open_event_store(f"duckdb:///{path}", read_only=True) as ro:
        assert not ro.derived_ready(rollup.ROLLUP)
        assert totals(ro, ["contact_volume"], SLICES[0])["contact_volume"].value == 30
