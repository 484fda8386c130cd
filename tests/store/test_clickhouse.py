"""The ClickHouse events store: engine-native tables, migrations, the cluster DDL, the HTTP
transport (clickhouse-connect against a loopback front on chDB) and its faults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from daytwo.errors import InputError, StoreError
from daytwo.ingest.decode import decode_json
from daytwo.interactions.columns import Batch
from daytwo.store.events import open_event_store
from daytwo.store.events.clickhouse import ClickHouseEventStore, schema
from daytwo.store.events.clickhouse.schema import Layout, all_statements
from daytwo.store.events.clickhouse.transport import ChdbTransport
from tests.clickhouse_front import Front, clickhouse_front
from tests.conftest import clickhouse_url, drop_clickhouse
from tests.factory import BASE, interaction


def _batch(records: list[dict[str, Any]]) -> Batch:
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    return decoded.batch


@pytest.fixture
def ch(chdb_dir: Path) -> Iterator[ClickHouseEventStore]:
    url = clickhouse_url(chdb_dir)
    store = open_event_store(url)
    assert isinstance(store, ClickHouseEventStore)
    yield store
    store.close()
    drop_clickhouse(url)


@pytest.fixture
def front(chdb_dir: Path) -> Iterator[Front]:
    with clickhouse_front(str(chdb_dir)) as f:
        yield f


def _counts(store: ClickHouseEventStore) -> tuple[int, int, int]:
    return (store.count("interactions"), store.count("turns"), store.count("assist_events"))


def test_tables_are_replacing_merge_trees_sorted_and_partitioned_for_the_engine(
    ch: ClickHouseEventStore,
) -> None:
    tables = {
        r["name"]: r
        for r in ch.transport.query(
            "SELECT name, engine, sorting_key, partition_key FROM system.tables "
            "WHERE database = currentDatabase()"
        ).to_pylist()
    }
    inter = tables["interactions"]
    assert inter["engine"] == "ReplacingMergeTree"
    assert inter["sorting_key"] == "deployment, started_at, interaction_id"
    assert inter["partition_key"] == "toYYYYMM(started_at)"
    assert tables["turns"]["sorting_key"] == "deployment, _started_at, interaction_id, seq"
    types = {
        r["name"]: r["type"]
        for r in ch.transport.query(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
            "AND table = 'interactions'"
        ).to_pylist()
    }
    assert types["deployment"] == "LowCardinality(String)"
    assert types["journey"] == "LowCardinality(Nullable(String))"
    assert types["started_at"] == "DateTime64(6, 'UTC')"


def test_a_resent_interaction_replaces_the_earlier_copy_even_when_its_start_moved(
    ch: ClickHouseEventStore,
) -> None:
    ch.write(_batch([interaction(i, turns=4) for i in range(3)]), source="t", batch_id="1")
    moved = interaction(1, turns=2)
    moved["started_at"] = (BASE + timedelta(days=40)).isoformat()  # another month's partition
    result = ch.write(_batch([moved]), source="t", batch_id="2")
    assert (result.inserted, result.replaced) == (0, 1)
    assert _counts(ch) == (3, 10, 0)
    # Merging the parts (what the engine does on its own) changes nothing a read sees.
    for table in ("interactions", "turns"):
        ch.transport.command(f"OPTIMIZE TABLE {table} FINAL")
    assert _counts(ch) == (3, 10, 0)
    starts = ch.query("SELECT started_at FROM interactions WHERE interaction_id = 'c-000001'")
    assert starts["started_at"].to_pylist() == [BASE + timedelta(days=40)]


def test_the_same_batch_twice_is_counted_once(ch: ClickHouseEventStore) -> None:
    batch = _batch([interaction(i) for i in range(5)])
    ch.write(batch, source="t", batch_id="1")
    ch.write(batch, source="t", batch_id="1")
    assert _counts(ch) == (5, 20, 0)
    assert ch.count("deliveries") == 10  # every delivery is logged, for the feed checks


def test_the_engine_is_closed_at_exit_and_a_later_store_opens_it_again(chdb_dir: Path) -> None:
    """The process's chDB session is closed by an exit handler while the interpreter is whole
    (left to its finaliser, chDB's shutdown crashed processes that had passed); a store opened
    after the close finds the same data."""
    from daytwo.store.events.clickhouse import transport

    url = clickhouse_url(chdb_dir)
    with open_event_store(url) as store:
        store.write(_batch([interaction(i) for i in range(3)]), source="t", batch_id="1")
    assert transport._Engine.session is not None
    transport._close_engine()
    assert (transport._Engine.session, transport._Engine.path) == (None, None)
    transport._close_engine()  # twice is harmless: the exit handler may run after a close
    with open_event_store(url) as store:
        assert store.count("interactions") == 3
    drop_clickhouse(url)


def test_a_write_that_fails_half_way_is_an_error_and_its_retry_counts_once(
    ch: ClickHouseEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch.write(_batch([interaction(0)]), source="t", batch_id="0")
    real = ch.transport.insert

    def fail_interactions(table: str, data: Any, settings: Any = None) -> None:
        if table == "interactions":
            raise StoreError("The events store (ClickHouse) failed to store rows (simulated).")
        real(table, data, settings)

    monkeypatch.setattr(ch.transport, "insert", fail_interactions)
    batch = _batch([interaction(0, turns=7), interaction(1)])
    with pytest.raises(StoreError, match="failed to store rows"):
        ch.write(batch, source="t", batch_id="x")
    monkeypatch.undo()
    # Not acknowledged, and the earlier acknowledged interaction is still there.
    assert ch.count("interactions") == 1
    ch.write(batch, source="t", batch_id="x")  # the caller, told it failed, sends it again
    assert _counts(ch) == (2, 11, 0)


def test_retention_clears_text_or_deletes_conversations(ch: ClickHouseEventStore) -> None:
    records = []
    for i in range(6):
        rec = interaction(i, turns=2)
        rec["started_at"] = (BASE + timedelta(days=i)).isoformat()
        records.append(rec)
    ch.write(_batch(records), source="t", batch_id="1")
    cut = BASE + timedelta(days=3)
    assert ch.retire("care-bot", cut, text_only=True) == 6
    left = ch.query("SELECT count(*) AS n FROM turns WHERE text IS NOT NULL")
    assert left["n"][0].as_py() == 6
    assert ch.retire("care-bot", cut, text_only=False) == 3
    assert _counts(ch) == (3, 6, 0)


def test_a_schema_older_than_the_code_is_upgraded_or_refused(chdb_dir: Path) -> None:
    url = clickhouse_url(chdb_dir)
    database = url.rsplit("=", 1)[1]
    empty = ChdbTransport(str(chdb_dir), database, {})
    try:
        with pytest.raises(StoreError, match=r"older than this daytwo needs.*db upgrade"):
            open_event_store(url, read_only=True)
        with open_event_store(url) as store:  # a writer migrates
            assert isinstance(store, ClickHouseEventStore)
            assert store.applied_version() == schema.LATEST
        with open_event_store(url, read_only=True) as store:
            assert store.count("interactions") == 0
        empty.command(f"INSERT INTO {schema.MIGRATIONS_TABLE} (version, name) VALUES (999, 'x')")
        with pytest.raises(StoreError, match="newer than this daytwo knows"):
            open_event_store(url)
    finally:
        empty.close()
        drop_clickhouse(url)


@pytest.mark.parametrize("cluster", [None, "events"])
def test_every_schema_statement_is_valid_clickhouse(chdb_dir: Path, cluster: str | None) -> None:
    """The engine's own parser accepts every statement, on one server and on a cluster
    (``ON CLUSTER``, Replicated engines, Distributed tables sharded by deployment)."""
    engine = ChdbTransport(str(chdb_dir), "default", {})
    try:
        statements = all_statements(Layout(cluster=cluster, ttl_days=400))
        for stmt in statements:
            quoted = stmt.replace("\\", "\\\\").replace("'", "\\'")
            parsed = engine.query(f"SELECT formatQuery('{quoted}') AS q")["q"][0].as_py()
            assert parsed
        text = "\n".join(statements)
        if cluster:
            assert "ON CLUSTER `events`" in text
            assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}" in text
            assert "Distributed(`events`, currentDatabase(), `interactions_local`" in text
            assert "cityHash64(deployment)" in text
        else:
            assert "Replicated" not in text
            assert "Distributed" not in text
        assert "TTL toDateTime(started_at) + INTERVAL 400 DAY" in text
    finally:
        engine.close()


def test_a_table_ttl_is_created_when_asked(chdb_dir: Path) -> None:
    url = clickhouse_url(chdb_dir) + "&ttl_days=30"
    try:
        with open_event_store(url) as store:
            assert isinstance(store, ClickHouseEventStore)
            ddl = store.transport.query("SHOW CREATE TABLE interactions")
            assert "TTL toDateTime(started_at) + toIntervalDay(30)" in ddl.column(0)[0].as_py()
    finally:
        drop_clickhouse(url)


# -- over HTTP: clickhouse-connect against the loopback front ----------------------------------


def test_the_http_transport_stores_and_reads_like_the_in_process_engine(
    front: Front, chdb_dir: Path
) -> None:
    url = front.url("http_store")
    try:
        with open_event_store(url) as store:
            assert isinstance(store, ClickHouseEventStore)
            store.write(_batch([interaction(i) for i in range(4)]), source="t", batch_id="1")
            store.write(_batch([interaction(i) for i in range(2, 6)]), source="t", batch_id="2")
            assert _counts(store) == (6, 24, 0)
            (vol,) = store.volumes()
            assert (vol.deployment, vol.interactions, vol.turns) == ("care-bot", 6, 24)
        assert any(c.startswith("INSERT") for c in front.faults.calls)
    finally:
        drop_clickhouse(f"chdb:///{chdb_dir}?database=http_store")


def test_an_unreachable_server_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before anyone connects
    with pytest.raises(StoreError, match=f"failed to connect to http://127.0.0.1:{port}/x"):
        open_event_store(f"clickhouse://default@127.0.0.1:{port}/x?connect_timeout=1&retries=0")


def test_a_slow_server_times_out_with_a_clear_error(front: Front, chdb_dir: Path) -> None:
    url = front.url("slow") + "?query_timeout=1&retries=1"
    try:
        with open_event_store(url) as store:
            front.faults.delay_s = 2.5
            with pytest.raises(StoreError, match="failed to run a query"):
                store.count("interactions")
            front.faults.delay_s = 0
            assert store.count("interactions") == 0  # and it recovers
    finally:
        front.faults.delay_s = 0
        drop_clickhouse(f"chdb:///{chdb_dir}?database=slow")


def test_a_query_past_its_memory_limit_says_so(front: Front, chdb_dir: Path) -> None:
    try:
        with open_event_store(front.url("mem")) as store:
            front.faults.memory_limit = True
            with pytest.raises(StoreError, match="more memory than ClickHouse allows") as err:
                store.count("interactions")
            assert err.value.details == {"clickhouse_code": 241}
    finally:
        front.faults.memory_limit = False
        drop_clickhouse(f"chdb:///{chdb_dir}?database=mem")


def test_a_failed_insert_over_http_is_not_acknowledged(front: Front, chdb_dir: Path) -> None:
    try:
        with open_event_store(front.url("ins")) as store:
            front.faults.fail_insert_into = "interactions"
            with pytest.raises(StoreError, match="Cannot reserve space"):
                store.write(_batch([interaction(0)]), source="t", batch_id="1")
            front.faults.fail_insert_into = None
            assert store.count("interactions") == 0
            store.write(_batch([interaction(0)]), source="t", batch_id="1")
            assert _counts(store) == (1, 4, 0)
    finally:
        front.faults.fail_insert_into = None
        drop_clickhouse(f"chdb:///{chdb_dir}?database=ins")


def test_the_deployment_example_configures_real_settings() -> None:
    """deploy/compose.yaml sets only settings daytwo has, and its events URL is ClickHouse's."""
    import yaml

    from daytwo.settings import Settings

    compose = yaml.safe_load(Path("deploy/compose.yaml").read_text())
    env = compose["x-daytwo"]["environment"]
    fields = {f"DAYTWO_{name.upper()}" for name in Settings.model_fields}
    assert {k for k in env if k.startswith("DAYTWO_")} <= fields
    assert env["DAYTWO_EVENTS_URL"].startswith("clickhouse://")
    assert "--workers" in compose["x-daytwo"]["command"]
    servers = [name for name in compose["services"] if name.startswith("daytwo-")]
    assert len(servers) >= 2


def test_the_health_endpoint_says_when_clickhouse_fails(
    front: Front, chdb_dir: Path, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from daytwo.server import create_app
    from daytwo.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", events_url=front.url("healthz"))
    try:
        with TestClient(create_app(settings)) as client:
            assert client.get("/healthz").status_code == 200
            front.faults.memory_limit = True  # every read now fails as a loaded server's would
            r = client.get("/healthz")
            assert r.status_code == 503
            assert "more memory than ClickHouse allows" in r.json()["error"]["message"]
            front.faults.memory_limit = False
            # The store answers again; the health check still names the fault of the last
            # minute (a monitor sees it even between its polls).
            r = client.get("/healthz")
            assert r.json()["status"] == "degraded"
            assert any("more memory than ClickHouse allows" in p for p in r.json()["problems"])
            assert client.app.state.events.query("SELECT 1 AS ok")["ok"].to_pylist() == [1]  # type: ignore[attr-defined]
    finally:
        front.faults.memory_limit = False
        drop_clickhouse(f"chdb:///{chdb_dir}?database=healthz")


def test_each_query_is_transpiled_once_and_its_values_bound_as_literals() -> None:
    from datetime import UTC, date, datetime

    from daytwo.store.events.clickhouse.sql import _template, to_clickhouse

    sql = "SELECT n FROM t WHERE d = ? AND at >= ? AND j IN (?, ?) AND day < CAST(? AS DATE)"
    at = datetime(2026, 3, 2, 9, 14, 5, 12, tzinfo=UTC)
    _template.cache_clear()
    first = to_clickhouse(sql, ["care-bot", at, "it's", "__daytwo_param_1__", at.date()])
    second = to_clickhouse(sql, ["other", at, "x", "y", at.date()])
    assert _template.cache_info().hits == 1  # the second binding reused the first's text
    assert first == (
        "SELECT n FROM t WHERE d = 'care-bot' AND at >= toDateTime64('2026-03-02 "
        "09:14:05.000012', 6, 'UTC') AND j IN ('it''s', '__daytwo_param_1__') "
        "AND day < CAST(toDate32('2026-03-02') AS Nullable(Date32))"
    )
    assert second.startswith("SELECT n FROM t WHERE d = 'other' AND")
    with pytest.raises(ValueError, match="no parameters"):
        to_clickhouse(sql)
    with pytest.raises(ValueError, match=r"\$5 has no value"):
        to_clickhouse(sql, ["a", at, "b", "c"])
    # Past the days Date32 and DateTime64 hold, ClickHouse would clamp a value: refused.
    with pytest.raises(InputError, match=r"2300-01-01 is outside .* to 2299-12-31"):
        to_clickhouse(sql, ["a", at, "b", "c", date(2300, 1, 1)])
    with pytest.raises(InputError, match=r"1899-12-31T23:14:05.000012\+00:00 is outside"):
        to_clickhouse(sql, ["a", at.replace(year=1899, month=12, day=31, hour=23), "b", "c", at])


def test_a_bound_value_reads_back_exactly(ch: ClickHouseEventStore) -> None:
    odd = ["it's", "back\\slash", "__daytwo_param_2__", "ünï €", "$1", "?"]
    for value in odd:
        got = ch.query("SELECT ? AS v, ? AS w", [value, "second"]).to_pylist()
        assert got == [{"v": value, "w": "second"}]


def test_lower_and_upper_change_every_letter_as_on_duckdb(
    ch: ClickHouseEventStore, tmp_path: Path
) -> None:
    # ClickHouse's own lower() leaves non-ASCII letters alone: a search for "élodie" would miss
    # "ÉLODIE" there and find it on DuckDB.
    sql = "SELECT lower(?) AS low, upper(?) AS up"
    words = ["ÉLODIE Ærøskøbing", "çA ÏRA Ångström"]
    with open_event_store(f"duckdb:///{tmp_path / 'e.duckdb'}") as duck:
        for word in words:
            want = duck.query(sql, [word, word]).to_pylist()
            assert want == [{"low": word.lower(), "up": word.upper()}]
            assert ch.query(sql, [word, word]).to_pylist() == want


def test_a_timestamp_cast_keeps_its_microseconds(ch: ClickHouseEventStore) -> None:
    # A read's span bounds are written CAST(? AS TIMESTAMP) (detect.runner): a plain DateTime
    # would drop the microseconds, and the last conversation before the end would fall a
    # day past it.
    from datetime import UTC, datetime

    at = datetime(2026, 11, 29, 21, 45, 33, 221159, tzinfo=UTC)
    later = at + timedelta(microseconds=1)
    got = ch.query(
        "SELECT CAST(? AS TIMESTAMP) AS b, "
        "date_diff('microsecond', CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP)) AS d",
        [later, at, later],
    ).to_pylist()
    assert got == [{"b": later, "d": 1}]
