"""A replay on two cores (:class:`daytwo.pipeline.ahead.DetectAhead`) records exactly what one
process records: the same runs, findings, items and ids, row by row."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, MetaData, Table, create_engine, select, text

from daytwo.clock import frozen_at
from daytwo.detect.runner import Detected
from daytwo.pipeline import analyze
from daytwo.pipeline.ahead import DetectAhead
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT, START, registered_ledger, store_of, synthetic_records


@pytest.fixture(scope="module")
def events() -> Iterator[EventStore]:
    # card_lost contains 0.50, then 0.25 from day 20: findings open, move and resolve.
    store = store_of(synthetic_records(effect=-0.25))
    yield store
    store.close()


def _on_its_day(name: str, at: datetime) -> AbstractContextManager[None]:
    return frozen_at(at)


def _kept(name: str, table: Table) -> list[Column[Any]]:
    """Every column, but the notification outbox's times: it stamps the wall clock."""
    if name.startswith("notify_"):
        return [c for c in table.c if not isinstance(c.type, DateTime)]
    return list(table.c)


def ledger_rows(ledger: Ledger) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in one order, but the columns :func:`_kept` leaves out."""
    meta = MetaData()
    meta.reflect(ledger.engine)
    with ledger.engine.connect() as conn:
        return {
            name: sorted(
                (tuple(row) for row in conn.execute(select(*_kept(name, table)))), key=repr
            )
            for name, table in meta.tables.items()
        }


@pytest.fixture
def other_ledger_url(
    ledger_url: str, request: pytest.FixtureRequest, tmp_path: Path, ledger_template: Path
) -> Iterator[str]:
    """A second fresh ledger beside ``ledger_url``, on the same dialect."""
    if ledger_url.startswith("sqlite"):
        path = tmp_path / "other.sqlite"
        shutil.copyfile(ledger_template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"o_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    engine = create_engine(ledger_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    head, _, tail = ledger_url.rpartition("/")
    query = tail.partition("?")[2]
    try:
        yield f"{head}/{name}" + (f"?{query}" if query else "")
    finally:
        with engine.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _replay(
    folder: Path,
    url: str,
    events: EventStore,
    workers: int,
    *,
    deployment: str | None = DEPLOYMENT,
    since_day: int = 35,
) -> dict[str, list[tuple[Any, ...]]]:
    """The history replayed (``deployment``, or every one where None) and the ledger's rows."""
    settings = Settings(data_dir=folder, ledger_url=url)
    with frozen_at(START + timedelta(days=1)):
        ledger = registered_ledger(url)
    try:
        with frozen_at(START + timedelta(days=1)):
            outcomes = analyze(
                settings, ledger, events, trigger="demo", deployment=deployment,
                since=START + timedelta(days=since_day), as_of=START + timedelta(days=40),
                around_look=_on_its_day, workers=workers,
            )  # fmt: skip
        recorded = [o for o in outcomes if o.run_id is not None]
        if deployment is not None:
            assert len(recorded) >= 4
        else:
            assert {o.deployment for o in recorded} == {DEPLOYMENT, SECOND}
        return ledger_rows(ledger)
    finally:
        ledger.dispose()


def test_two_processes_record_what_one_records(
    tmp_path: Path,
    ledger_url: str,
    other_ledger_url: str,
    events: EventStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ahead: list[int] = []
    take = DetectAhead.take

    def counted(self: DetectAhead, index: int) -> Detected | None:
        if index == 0:
            # Wait until the worker has taken a look, so that both share the row.
            deadline = time.monotonic() + 30
            while self._back.value == self._looks and time.monotonic() < deadline:
                time.sleep(0.01)
        found = take(self, index)
        if found is not None:
            ahead.append(index)
        return found

    monkeypatch.setattr(DetectAhead, "take", counted)
    serial = _replay(tmp_path / "one", ledger_url, events, workers=1)
    assert not ahead
    parallel = _replay(tmp_path / "two", other_ledger_url, events, workers=2)
    assert ahead, "the worker computed some of the looks"
    assert 0 not in ahead, "this process computed the first"
    assert serial.keys() == parallel.keys()
    assert serial["findings"]
    assert serial["items"]
    for table, rows in serial.items():
        assert parallel[table] == rows, table


SECOND = "care-bot-eu"


@pytest.fixture(scope="module")
def two_deployments() -> Iterator[EventStore]:
    """Two deployments' events: the test one and a copy of it under another name."""
    records = synthetic_records(effect=-0.25)
    copy = [{**r, "id": f"eu-{r['id']}", "deployment": SECOND} for r in records]
    store = store_of(records + copy)
    yield store
    store.close()


def test_the_next_deployments_worker_starts_while_the_looks_left_are_recorded(
    tmp_path: Path,
    ledger_url: str,
    other_ledger_url: str,
    two_deployments: EventStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events read in groups of two looks: the first worker gets the groups of its row's end
    half (the front is read here once it runs) and computes no look before them; the second
    deployment's events are read while it runs, and its worker is forked before the first
    deployment's last look is recorded; the ledger is the one a single process writes."""
    monkeypatch.setattr("daytwo.pipeline.run.LOOKS_PER_READ", 2)
    steps: list[tuple[str, str]] = []
    floors: list[int] = []
    served: list[tuple[str, int]] = []
    init, take = DetectAhead.__init__, DetectAhead.take

    def forked(self: DetectAhead, info: Any, looks: Any, histories: Any) -> None:
        init(self, info, looks, histories)
        steps.append(("fork", info.name))
        floors.append(self._floor)

    def counted(self: DetectAhead, index: int) -> Detected | None:
        if index == 0:
            deadline = time.monotonic() + 30
            while self._back.value == self._looks and time.monotonic() < deadline:
                time.sleep(0.01)
        found = take(self, index)
        if found is not None:
            assert index >= self._floor, "the worker computed a look it had no events for"
            served.append((self._name, index))
        return found

    def on_its_day(name: str, at: datetime) -> AbstractContextManager[None]:
        steps.append(("look", name))
        return frozen_at(at)

    monkeypatch.setattr(DetectAhead, "__init__", forked)
    monkeypatch.setattr(DetectAhead, "take", counted)
    serial = _replay(
        tmp_path / "one", ledger_url, two_deployments, workers=1, deployment=None, since_day=33
    )
    assert not served
    monkeypatch.setattr("tests.pipeline.test_ahead._on_its_day", on_its_day)
    parallel = _replay(
        tmp_path / "two", other_ledger_url, two_deployments, 2, deployment=None, since_day=33
    )
    assert {name for name, _ in served} == {DEPLOYMENT, SECOND}
    # The first row's front is read here while its worker runs; the second's events were all
    # read then, before its worker was forked.
    assert floors[0] > 0
    assert floors[1] == 0
    first_looks = [i for i, s in enumerate(steps) if s == ("look", DEPLOYMENT)]
    assert steps.index(("fork", SECOND)) < first_looks[-1]
    for table, rows in serial.items():
        assert parallel[table] == rows, table
