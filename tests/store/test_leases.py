"""Leases in the ledger: scheduled work runs once across every process sharing the stores."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from daytwo.governance.schedule import LEASE as RETENTION_LEASE
from daytwo.governance.schedule import RetentionSchedule
from daytwo.ingest.otlp.service import LEASE as ASSEMBLY_LEASE
from daytwo.ingest.otlp.service import TraceAssembler, TraceDoor
from daytwo.pipeline.schedule import LEASE, AnalysisSchedule
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger, upgrade
from daytwo.store.ledger.leases import acquire, holder_of, lease, release

TTL = timedelta(minutes=1)


def test_one_holder_at_a_time_until_released_or_expired(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    try:
        assert acquire(ledger, "job", TTL, "a")
        assert not acquire(ledger, "job", TTL, "b")
        assert acquire(ledger, "job", TTL, "a")  # the holder renews
        release(ledger, "job", "b")  # not b's to release
        assert not acquire(ledger, "job", TTL, "b")
        release(ledger, "job", "a")
        assert acquire(ledger, "job", TTL, "b")
        # A holder that stopped renewing (it crashed) loses the lease when it expires.
        assert acquire(ledger, "other", timedelta(seconds=-1), "dead")
        assert acquire(ledger, "other", TTL, "alive")
        held = holder_of(ledger, "other")
        assert held is not None
        assert held[0] == "alive"
    finally:
        ledger.dispose()


def test_racing_processes_get_one_lease(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    won: list[str] = []
    start = threading.Barrier(6)

    def contend(name: str) -> None:
        start.wait()
        if acquire(ledger, "race", TTL, name):
            won.append(name)

    try:
        threads = [threading.Thread(target=contend, args=(f"p{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
    finally:
        ledger.dispose()


def test_a_long_run_keeps_its_lease(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    try:
        with lease(ledger, "long", timedelta(seconds=0.6), "a") as held:
            assert held
            threading.Event().wait(1.5)  # past the TTL: renewed meanwhile
            assert not acquire(ledger, "long", TTL, "b")
        assert acquire(ledger, "long", TTL, "b")  # released at the end
    finally:
        ledger.dispose()


def test_a_schedule_skips_its_tick_while_another_process_holds_the_lease(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    upgrade(url)
    ledger = Ledger(url)
    with open_event_store("duckdb:///:memory:") as events:
        analysis = AnalysisSchedule(ledger, events, 60)
        retention = RetentionSchedule(ledger, events, 0.01)
        assert acquire(ledger, LEASE, TTL, "another-server")
        assert acquire(ledger, RETENTION_LEASE, TTL, "another-server")
        analysis.tick()
        assert (analysis.runs, analysis.skipped) == (0, 1)
        retention.start()
        threading.Event().wait(0.3)
        retention.stop()
        assert retention.skipped >= 1
        release(ledger, LEASE, "another-server")
        analysis.tick()
        assert (analysis.runs, analysis.skipped) == (1, 1)
    ledger.dispose()


def test_one_process_assembles_traced_conversations_at_a_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    upgrade(url)
    ledger = Ledger(url)
    settings = Settings(data_dir=tmp_path / "data")
    with open_event_store("duckdb:///:memory:") as events:
        door = TraceDoor(settings)
        assembler = TraceAssembler.from_settings(events, door, settings, ledger)
        assert acquire(ledger, ASSEMBLY_LEASE, TTL, "another-server")
        assert assembler.tick() == 0
        assert assembler.skipped == 1
        assert assembler.last is None  # it did not assemble
        release(ledger, ASSEMBLY_LEASE, "another-server")
        assert assembler.tick() == 0  # nothing staged, but this time it looked
        assert assembler.skipped == 1
        assert assembler.last is not None
        door.pool.close()
    ledger.dispose()
