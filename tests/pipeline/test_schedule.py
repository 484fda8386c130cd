"""`daytwo serve` analyses on a schedule when asked to, and not otherwise; each run keeps the
knowledge gaps up to date too."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from daytwo.detect.gaps.service import last_run
from daytwo.pipeline.schedule import AnalysisSchedule
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger, upgrade
from tests.detect.gaps.conftest import store
from tests.detect.gaps.data import traffic


def test_on_by_default_every_hour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAYTWO_ANALYZE_INTERVAL_MINUTES", raising=False)
    assert Settings(data_dir=tmp_path).analyze_interval_minutes == 60


def test_off_when_asked(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, analyze_interval_minutes=0)
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


def test_a_tick_analyses_and_clusters_the_gaps(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, analyze_interval_minutes=60)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    with open_event_store(settings.resolved_events_url) as events:
        store(events, traffic())
        schedule = AnalysisSchedule.from_settings(ledger, events, settings)
        assert schedule is not None
        schedule.tick()
        run = last_run(ledger, "care-bot")
        assert run is not None
        assert run.encoder == settings.gaps_encoder
        assert run.gaps == 3
        # Nothing new arrived: the next tick leaves the gaps as they are (no new run).
        schedule.tick()
        again = last_run(ledger, "care-bot")
        assert again is not None
        assert again.id == run.id
        assert schedule.runs == 2
    ledger.dispose()


def test_gaps_left_alone_without_an_encoder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    with open_event_store(settings.resolved_events_url) as events:
        store(events, traffic())
        AnalysisSchedule(ledger, events, 60).tick()
        assert last_run(ledger, "care-bot") is None
    ledger.dispose()


def test_a_failing_gap_refresh_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    with open_event_store(settings.resolved_events_url) as events:
        store(events, traffic())
        schedule = AnalysisSchedule(ledger, events, 60, gaps_encoder="no-such-encoder")
        with caplog.at_level(logging.ERROR, logger="daytwo.pipeline"):
            schedule.tick()
        assert schedule.runs == 1
        assert "knowledge-gap refresh of care-bot failed" in caplog.text
        assert last_run(ledger, "care-bot") is None
    ledger.dispose()
