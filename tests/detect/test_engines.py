"""The same demo analysed on DuckDB and on ClickHouse (chDB) gives the same findings: every
detector's queries mean the same on both engines."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from daytwo.demo.generator import DemoConfig
from daytwo.demo.load import analyze_demo, build_demo
from daytwo.detect.models import FindingRecord
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger
from tests.conftest import clickhouse_url, drop_clickhouse

CONFIG = DemoConfig(seed=3, days=35, interactions_per_day=400, end=date(2026, 11, 20))


def _findings(settings: Settings) -> list[tuple[Any, ...]]:
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        with ledger.session() as s:
            rows = s.scalars(select(FindingRecord).order_by(FindingRecord.fingerprint)).all()
            return [
                (
                    r.fingerprint,
                    r.kind,
                    round(r.current_value or 0, 9),
                    r.current_n,
                    r.severity,
                    r.title,
                )
                for r in rows
            ]
    finally:
        ledger.dispose()


@pytest.mark.slow
def test_both_engines_find_the_same_problems(
    tmp_path: Path, chdb_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chDB serves one folder per process, the suite's: the demo may build into a fresh
    # database there although it lies outside the demo's data dir.
    monkeypatch.setattr("daytwo.demo.load._chdb_inside", lambda settings: True)
    found = {}
    for engine in ("duckdb", "clickhouse"):
        data = tmp_path / engine
        url = clickhouse_url(chdb_dir) if engine == "clickhouse" else None
        settings = Settings(data_dir=data, events_url=url)
        summary = build_demo(settings, CONFIG)
        analyze_demo(settings, orjson.loads(summary.manifest_path.read_bytes()))
        found[engine] = _findings(settings)
        if url:
            drop_clickhouse(url)
    assert found["duckdb"], "the demo's injected problems produce findings"
    assert found["clickhouse"] == found["duckdb"]
