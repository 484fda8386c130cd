"""`daytwo serve` analyses on a schedule when asked to, and not otherwise."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from daytwo.detect.schedule import AnalysisSchedule
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger, upgrade


def test_off_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.analyze_interval_minutes == 0
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    with open_event_store(settings.resolved_events_url) as events:
        assert AnalysisSchedule.from_settings(ledger, events, settings) is None
    ledger.dispose()


def test_runs_until_stopped(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, analyze_interval_minutes=0.001)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    with open_event_store(settings.resolved_events_url) as events:
        schedule = AnalysisSchedule.from_settings(ledger, events, settings)
        assert schedule is not None
        schedule.start()
        deadline = time.monotonic() + 10
        while schedule.runs < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        schedule.stop()
        assert schedule.runs >= 2
    ledger.dispose()


def test_interval_must_be_positive(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}")
    with open_event_store("duckdb:///:memory:") as events, pytest.raises(ValueError):
        AnalysisSchedule(ledger, events, 0)
    ledger.dispose()
