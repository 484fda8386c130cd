"""Knowledge gaps clustered by a forked worker (:class:`daytwo.pipeline.ahead.GapsAhead`) are
recorded exactly as clustering them here records them: the same runs, gaps and members."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Table, select

from daytwo.detect.gaps import service
from daytwo.detect.gaps.models import GapMember, GapRecord, GapRun
from daytwo.detect.gaps.service import GapWindow, read_gap_window, record_gaps, refresh_gaps
from daytwo.pipeline import ahead
from daytwo.pipeline.ahead import GapsAhead
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger, upgrade
from tests.detect.gaps.conftest import store
from tests.detect.gaps.data import traffic
from tests.pipeline.test_ahead import other_ledger_url  # noqa: F401 - a fixture (F811 below)

ENCODER = "wordllama"
# Stamped by the wall clock: when a clustering started and ended, when a row was written.
WALL_CLOCK = {"started_at", "finished_at", "created_at", "updated_at"}


def _kept(name: str, table: Table) -> list[Column[Any]]:
    if name == "gap_members":  # its started_at is the conversation's
        return list(table.c)
    return [c for c in table.c if c.name not in WALL_CLOCK]


def _gap_tables(ledger: Ledger) -> dict[str, list[tuple[Any, ...]]]:
    with ledger.engine.connect() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(select(*_kept(t.name, t)))), key=repr)
            for t in (GapRun.__table__, GapRecord.__table__, GapMember.__table__)
            if isinstance(t, Table)
        }


def _window(ledger: Ledger, events: EventStore) -> GapWindow:
    window = read_gap_window(ledger, events, "care-bot", encoder=ENCODER, force=True)
    assert isinstance(window, GapWindow)
    return window


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    yield ledger
    ledger.dispose()


def test_a_forked_worker_records_what_this_process_records(
    events: EventStore,
    ledger_url: str,
    other_ledger_url: str,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store(events, traffic())
    here, there = (Ledger(url) for url in (ledger_url, other_ledger_url))
    try:
        refresh_gaps(here, events, "care-bot", encoder=ENCODER, force=True)
        # The worker reads the vectors it needs from the cache it was forked with.
        service._CACHE.clear()
        texts = service.candidate_texts(events, "care-bot")
        texts += service.confident_texts(events, "care-bot", service.DEFAULT_WINDOW_DAYS)
        service.warm_vectors(ENCODER, texts)
        window = _window(there, events)
        worker = GapsAhead([window])

        def not_here(window: GapWindow) -> None:
            raise AssertionError("computed by this process, not the worker")

        monkeypatch.setattr(ahead, "compute_gaps", not_here)
        try:
            result = record_gaps(there, window, *worker.take(0))
        finally:
            worker.close()
        assert result.gaps >= 3
        expected = _gap_tables(here)
        assert len(expected) == 3
        assert expected["gaps"]
        assert expected["gap_members"]
        assert _gap_tables(there) == expected
    finally:
        here.dispose()
        there.dispose()


def test_what_the_worker_cannot_compute_is_computed_here(
    events: EventStore, ledger: Ledger
) -> None:
    store(events, traffic())
    # No vector in the cache: the worker may not run an encoder, so this process clusters.
    service._CACHE.clear()
    window = _window(ledger, events)
    worker = GapsAhead([window])
    try:
        cand, found = worker.take(0)
    finally:
        worker.close()
    assert len(found.gaps) >= 3
    assert record_gaps(ledger, window, cand, found).gaps == len(found.gaps)
