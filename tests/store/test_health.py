"""`daytwo doctor` and the health endpoint: what the events store reports about itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from daytwo.cli.main import run
from daytwo.errors import StoreError
from daytwo.ingest.decode import decode_json
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.events import health as health_module
from daytwo.store.events.clickhouse import ClickHouseEventStore
from daytwo.store.events.health import retention_check
from tests.conftest import clickhouse_url, drop_clickhouse
from tests.factory import interaction


def _write(events: EventStore, n: int) -> None:
    decoded = decode_json(orjson.dumps([interaction(i) for i in range(n)]))
    events.write(decoded.batch, source="t", batch_id="1")


def _checks(report: Any) -> dict[str, Any]:
    return {c.name: c for c in report.checks}


def test_health_reports_rows_size_and_the_oldest_data(events: EventStore) -> None:
    _write(events, 5)
    report = events.health({"care-bot": 3650})
    checks = _checks(report)
    assert checks["oldest data vs retention"].status == "ok"
    assert "care-bot:" in checks["oldest data vs retention"].value
    if isinstance(events, ClickHouseEventStore):
        assert checks["schema"].status == "ok"
        assert "active parts" in checks["size on disk"].value
    else:
        assert "5 interactions, 20 turns" in checks["rows"].value


def test_data_past_its_retention_is_flagged() -> None:
    old = datetime(2025, 1, 1, tzinfo=UTC)
    check = retention_check({"a": old, "b": None}, {"a": 30}, now=old + timedelta(days=90))
    assert check.status == "warn"
    assert "past its 30-day retention" in check.detail
    ok = retention_check({"a": old}, {"a": 30}, now=old + timedelta(days=31))
    assert ok.status == "ok"


def test_clickhouse_flags_many_parts_and_queries_past_their_memory_limit(
    chdb_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = clickhouse_url(chdb_dir)
    try:
        with open_event_store(url) as store:
            assert isinstance(store, ClickHouseEventStore)
            for k in range(4):  # one part per insert per table
                decoded = decode_json(orjson.dumps([interaction(k)]))
                store.write(decoded.batch, source="t", batch_id=str(k))
            monkeypatch.setattr("daytwo.store.events.clickhouse.store.PARTS_WARN", 3)
            assert _checks(store.health())["parts per partition"].status == "warn"
            # A real query past a (tiny) memory limit: a clear error, and the health says so.
            with pytest.raises(StoreError, match="more memory than ClickHouse allows"):
                store.transport.query(
                    "SELECT groupArray(number) FROM numbers(10000000) "
                    "SETTINGS max_memory_usage = 1000000"
                )
            memory = _checks(store.health())["query memory"]
            assert memory.status == "warn"
            assert "MEMORY_LIMIT_EXCEEDED" in memory.detail
    finally:
        drop_clickhouse(url)
    assert health_module.PARTS_WARN == 300  # the module default is untouched


def test_doctor_prints_the_report_and_exits_by_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAYTWO_EVENTS_URL", raising=False)
    monkeypatch.delenv("DAYTWO_LEDGER_URL", raising=False)
    assert run(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert run(["doctor", "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["engine"] == "duckdb"
    assert {c["name"] for c in report["checks"]} >= {"size on disk", "rows"}


def test_the_health_endpoint_gives_the_detail_to_admins(
    client: TestClient, anon_client: TestClient
) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200, r.text
    checks = {c["name"]: c for c in r.json()["events"]["checks"]}
    assert checks["oldest data vs retention"]["status"] == "ok"
    assert anon_client.get("/api/v1/health").status_code == 401
    assert client.get("/healthz").json()["status"] == "ok"
