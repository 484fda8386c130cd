"""Reads never wait on writes: under `serve` the derived tables are refreshed off the request
path, reads see the last refreshed state, and no write is ever left out of a later refresh."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from daytwo.ingest.decode import decode_json
from daytwo.metrics import rollup
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.query import Slice
from daytwo.metrics.service import metric_points, totals
from daytwo.server import create_app
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.events.base import Activity, ActivityClock
from daytwo.store.events.refresher import DerivedRefresher
from tests.conftest import ENGINES, clickhouse_url, drop_clickhouse
from tests.factory import BASE, interaction
from tests.store.test_staging import piece, stage

START = BASE.replace(hour=0, minute=0, second=0)
WHOLE = Slice("care-bot", START, START + timedelta(days=30))


def _write(store: EventStore, first: int, n: int, *, day: int = 0) -> None:
    records = []
    for i in range(first, first + n):
        rec = interaction(i, turns=2)
        rec["started_at"] = (START + timedelta(days=day, minutes=i % 600)).isoformat()
        rec.pop("ended_at")
        records.append(rec)
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    store.write(decoded.batch, source="test", batch_id=f"b{first}")


def _run_until(refresher: DerivedRefresher, done: Callable[[], bool]) -> None:
    """Run ``refresher`` until ``done`` (at most 10 s), then stop it."""
    refresher.start()
    try:
        deadline = time.monotonic() + 10
        while not done() and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        refresher.stop()


def _rollup_count(store: EventStore) -> int:
    table = store.query(f"SELECT sum(n_interactions) AS n FROM {rollup.DAILY_ROLLUP}")
    return int(table["n"][0].as_py() or 0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}") as s:
        yield s


@pytest.fixture(params=ENGINES)
def either(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    """A store on each engine: DuckDB's file, or a fresh database on chDB."""
    if request.param == "duckdb":
        with open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}") as s:
            yield s
        return
    url = clickhouse_url(request.getfixturevalue("chdb_dir"))
    with open_event_store(url) as s:
        yield s
    drop_clickhouse(url)


def test_reads_see_the_last_refresh_and_freshness_says_so(either: EventStore) -> None:
    store = either
    _write(store, 0, 10)
    store.refresh_on_read = False
    assert store.freshness().as_of is None  # not built by this process yet
    assert not store.derived_ready(rollup.DAILY_ROLLUP)  # readers use the raw rows meanwhile
    assert store.refresh_derived()
    fresh = store.freshness()
    assert fresh.as_of is not None
    assert not fresh.behind
    assert store.derived_ready(rollup.DAILY_ROLLUP)
    assert _rollup_count(store) == 10
    _write(store, 10, 5, day=1)
    assert store.freshness().behind
    assert store.derived_ready(rollup.DAILY_ROLLUP)  # readable at once: the last refresh
    assert _rollup_count(store) == 10
    assert store.refresh_derived()
    assert (_rollup_count(store), store.freshness().behind) == (15, False)
    assert totals(store, ["contact_volume"], WHOLE)["contact_volume"].value == 15


def test_a_read_does_not_wait_for_a_write_in_progress(store: EventStore) -> None:
    _write(store, 0, 10)
    store.refresh_on_read = False
    store.refresh_derived()
    _write(store, 10, 10, day=2)
    # A writer holds the store for a long transaction: reads go on regardless.
    writing = store._lock  # type: ignore[attr-defined]
    with writing:
        started = time.perf_counter()
        points = metric_points(store, list(REGISTRY), WHOLE)
        elapsed = time.perf_counter() - started
    assert points
    assert elapsed < 5  # with refresh on read, this read would wait for the lock forever
    # On read, the same read would have had to refresh first, behind the writer.
    store.refresh_on_read = True
    blocked = threading.Event()

    def read() -> None:
        store.derived_ready(rollup.DAILY_ROLLUP)
        blocked.set()

    with writing:
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert not blocked.wait(0.5)
    reader.join(10)
    assert blocked.is_set()


def test_writes_during_refreshes_are_never_lost(either: EventStore) -> None:
    """Writers and the refresher race for a while; afterwards rollups equal the raw rows."""
    store = either
    _write(store, 0, 50)
    refresher = DerivedRefresher(store, interval=0.05)
    refresher.start()
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for k in range(12):
                _write(store, offset + 100 * k, 40, day=k % 9)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(10_000 * w,)) for w in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # The refresher takes up the writes (on a slower engine the writers may all finish
    # during its first refresh, then it runs again for what they wrote).
    deadline = time.monotonic() + 60
    while refresher.refreshes < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    refresher.stop()
    assert errors == []
    assert refresher.refreshes >= 2
    assert refresher.failures == 0
    store.refresh_on_read = False
    store.refresh_derived()
    assert not store.freshness().behind
    raw = int(store.query("SELECT count(*) AS n FROM interactions")["n"][0].as_py())
    assert raw == 50 + 2 * 12 * 40
    assert _rollup_count(store) == raw
    fast = {(p.metric, p.bucket): p.value for p in metric_points(store, list(REGISTRY), WHOLE)}
    exact = metric_points(store, list(REGISTRY), WHOLE, rollups=False)
    for p in exact:
        want, got = p.value, fast[(p.metric, p.bucket)]
        assert (want is None) == (got is None), p.metric
        if want is not None and got is not None:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-9), p.metric


def test_a_refresh_on_read_and_an_explicit_refresh_never_collide(store: EventStore) -> None:
    """Where readers refresh what they read (commands, tests) and something also calls
    `refresh_derived` (a test, a command finishing a load), the two take turns: both would
    delete the same days' rows, and DuckDB refuses the second transaction's deletion.
    (ClickHouse's store runs both under one lock, and writes each refresh under a new
    version.)"""
    _write(store, 0, 50)
    assert store.refresh_on_read
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                store.derived_ready(rollup.DAILY_ROLLUP)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for k in range(15):
            _write(store, 100 * (k + 1), 20, day=k % 5)
            store.refresh_derived()
    finally:
        done.set()
        thread.join(60)
    assert errors == []
    assert store.derived_ready(rollup.DAILY_ROLLUP)
    raw = int(store.query("SELECT count(*) AS n FROM interactions")["n"][0].as_py())
    assert raw == 50 + 15 * 20
    assert _rollup_count(store) == raw


def test_a_write_between_a_rollup_and_the_rollup_over_it_is_never_left_out(
    either: EventStore,
) -> None:
    """The daily rollup is computed from the hourly one. A reader that refreshes what it reads
    brings both up to date at once: a write landing after the hourly one was refreshed and
    before the daily one would otherwise leave the daily one recomputed from stale hourly
    rows, its changed days cleared, and that write missing from it for good. A writer never
    pauses here, so it lands in that gap often (it did, about every other run, before)."""
    store = either
    _write(store, 0, 20)
    assert store.refresh_on_read
    assert store.derived_ready(rollup.DAILY_ROLLUP)
    errors: list[BaseException] = []
    done = threading.Event()
    rounds = 8

    def writer() -> None:
        try:
            for k in range(rounds):
                _write(store, 100 * (k + 1), 5, day=k % 3)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while not done.is_set():
            store.derived_ready(rollup.DAILY_ROLLUP)
    finally:
        thread.join(120)
    assert errors == []
    assert store.derived_ready(rollup.DAILY_ROLLUP)
    raw = int(store.query("SELECT count(*) AS n FROM interactions")["n"][0].as_py())
    assert raw == 20 + rounds * 5
    hourly = store.query(f"SELECT sum(n_interactions) AS n FROM {rollup.ROLLUP}")
    assert int(hourly["n"][0].as_py()) == raw
    assert _rollup_count(store) == raw


def test_the_first_round_is_told_to_whoever_waits_for_it(store: EventStore) -> None:
    _write(store, 0, 20)
    refresher = DerivedRefresher(store, interval=60)
    assert not refresher.first_round.is_set()
    refresher.start()
    try:
        assert refresher.first_round.wait(60)
        assert refresher.refreshes + refresher.failures == 1
        assert store.data_state()[0] == "refreshed"  # type: ignore[index]
    finally:
        refresher.stop()


def test_serve_refreshes_in_the_background_and_pages_say_how_fresh(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", refresh_seconds=0.05)
    with TestClient(create_app(settings)) as client:
        key, _ = create_key(client.app.state.ledger, scope=KeyScope.admin, deployment=None)  # type: ignore[attr-defined]
        client.headers["authorization"] = f"Bearer {key}"
        records: list[dict[str, Any]] = [interaction(i) for i in range(20)]
        assert client.post("/api/v1/ingest", json={"interactions": records}).status_code == 200
        deadline = time.monotonic() + 30
        health = client.get("/healthz").json()
        while health["figures_behind"] or health["figures_as_of"] is None:
            assert time.monotonic() < deadline, health
            time.sleep(0.05)
            health = client.get("/healthz").json()
        page = client.get("/overview", params={"deployment": "care-bot"})
        assert page.status_code == 200
        assert "figures current" in page.text


def test_answers_over_rollups_are_reused_until_the_next_refresh(
    either: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = either
    _write(store, 0, 10)
    store.refresh_on_read = False
    store.refresh_derived()
    sql = f"SELECT sum(n_interactions) AS n FROM {rollup.DAILY_ROLLUP}"
    first = store.query_derived(sql)
    assert first["n"][0].as_py() == 10
    _write(store, 10, 5, day=1)
    assert store.query_derived(sql) is first  # the same refresh, the same answer
    store.refresh_derived()
    # The refresh computed the answer anew before it published its state: no reader asks
    # the database for it.
    asked: list[str] = []
    query = store.query
    monkeypatch.setattr(store, "query", lambda q, p=None: asked.append(q) or query(q, p))
    again = store.query_derived(sql)
    assert asked == []
    assert again is not first
    assert again["n"][0].as_py() == 15
    assert store.query_derived(sql) is again


def test_a_clickhouse_reader_sees_another_process_refresh(chdb_dir: Path) -> None:
    """Answers are reused while the derived tables' bookkeeping is unchanged, whoever
    refreshed: a refresh by another process (here another store on the same database) is seen
    once the bookkeeping is read again."""
    url = clickhouse_url(chdb_dir)
    with open_event_store(url) as writer, open_event_store(url) as reader:
        _write(writer, 0, 10)
        writer.refresh_derived()
        reader.refresh_on_read = False
        reader._answers._keep_s = 0.0  # type: ignore[attr-defined]  # read it every time
        sql = f"SELECT sum(n_interactions) AS n FROM {rollup.DAILY_ROLLUP}"
        first = reader.query_derived(sql)
        assert first["n"][0].as_py() == 10
        _write(writer, 10, 5, day=1)
        # A write alone changes nothing a reader of the derived tables sees, but it is behind.
        assert reader.query_derived(sql) is first
        assert reader.freshness().behind
        writer.refresh_derived()
        assert reader.query_derived(sql)["n"][0].as_py() == 15
        assert not reader.freshness().behind
    drop_clickhouse(url)


class _Streamed:
    """The part of a store the refresher uses, with a stream of writes it controls: while
    ``streaming``, every look at the writes finds a new one, written at that moment."""

    refresh_on_read = True

    def __init__(self) -> None:
        self.streaming = True
        self.writes = 1
        self.times: list[float] = []
        self.staged_at: float | None = None
        self.refreshed = 0
        self.began: list[float] = []
        self._lock = threading.Lock()

    def write_count(self) -> int:
        with self._lock:
            if self.streaming:
                self.writes += 1
                self.times.append(time.monotonic())
            return self.writes

    def activity(self) -> Activity:
        count = self.write_count()
        return Activity(count, tuple(self.times[-ActivityClock.KEPT :]), self.staged_at)

    def wait_for_writes(self, timeout: float) -> bool:
        if self.write_count() > self.refreshed:
            return True
        time.sleep(min(timeout, 0.01))
        return False

    def refresh_derived(self) -> bool:
        self.began.append(time.monotonic())
        self.refreshed = self.write_count()
        return True


def test_a_sustained_stream_defers_refreshes_and_they_catch_up_when_it_stops() -> None:
    """Refreshes no more often than ``stream_interval`` while writes keep arriving (at least
    that often: the figures' lag stays bounded), and one within ``interval`` of a pause."""
    fake = _Streamed()
    refresher = DerivedRefresher(fake, interval=0.05, stream_interval=0.25)  # type: ignore[arg-type]
    refresher.start()
    try:
        time.sleep(0.8)
        fake.streaming = False
        stopped = time.monotonic()
        deadline = stopped + 10
        while fake.refreshed < fake.write_count() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        refresher.stop()
    during = [t for t in fake.began if t < stopped]
    gaps = [b - a for a, b in pairwise(during)]
    assert 2 <= len(during) <= 4, gaps
    assert min(gaps) >= 0.25
    assert fake.refreshed == fake.write_count()  # caught up once the stream stopped
    assert fake.began[-1] >= stopped


class _Ticking(_Streamed):
    """Writes at the times ``at`` (seconds from its start) while ``streaming``, as the trace
    assembler writes each tick; by default every ``period`` seconds."""

    def __init__(self, period: float, at: list[float] | None = None) -> None:
        super().__init__()
        self.t0 = time.monotonic()
        self.period = period
        self.at = at
        self.stopped_at: float | None = None

    def _written(self) -> tuple[int, list[float]]:
        """How many writes so far, and the times of the latest ones."""
        until = time.monotonic()
        if self.stopped_at is not None:
            until = min(until, self.stopped_at)
        if self.at is not None:
            times = [self.t0 + a for a in self.at if self.t0 + a <= until]
            return len(times), times[-ActivityClock.KEPT :]
        n = int((until - self.t0) / self.period)
        first = max(1, n - ActivityClock.KEPT + 1)
        return n, [self.t0 + self.period * k for k in range(first, n + 1)]

    def write_count(self) -> int:
        with self._lock:
            return 1 + self._written()[0]

    def activity(self) -> Activity:
        with self._lock:
            n, times = self._written()
        return Activity(1 + n, tuple(times), self.staged_at)


def test_a_stream_of_ticks_further_apart_than_a_look_is_still_a_stream() -> None:
    """Writes 0.1 s apart with looks of 0.03 s (as the trace assembler writes every tick):
    refreshed at the start and after the first two ticks, not after each of the dozen; caught
    up within ``pause`` of the stream's end."""
    fake = _Ticking(period=0.1)
    refresher = DerivedRefresher(fake, interval=0.03, stream_interval=30, pause=0.5)  # type: ignore[arg-type]
    refresher.start()
    try:
        time.sleep(1.2)
        stopped = fake.stopped_at = time.monotonic()
        deadline = stopped + 10
        while fake.refreshed < fake.write_count() and time.monotonic() < deadline:
            time.sleep(0.01)
        caught_up = time.monotonic()
    finally:
        refresher.stop()
    during = [t for t in fake.began if t < stopped]
    assert len(during) <= 4, during  # one a tick (a dozen) without the pause
    assert fake.refreshed == fake.write_count()
    assert caught_up - stopped < 2


def test_a_lone_write_is_refreshed_within_a_look() -> None:
    """The pause is for streams only: a write after a quiet spell waits one look."""
    fake = _Ticking(period=0.4)
    fake.stopped_at = fake.t0 + 0.45  # one write, at 0.4 s
    refresher = DerivedRefresher(fake, interval=0.05, stream_interval=10, pause=1.0)  # type: ignore[arg-type]
    refresher.start()
    try:
        deadline = time.monotonic() + 10
        while fake.refreshed < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        seen = time.monotonic()
    finally:
        refresher.stop()
    assert fake.refreshed == 2
    assert seen - (fake.t0 + 0.4) < 0.6  # one look after the write, not the 1 s pause


def test_a_tick_slowed_past_the_pause_does_not_end_the_stream() -> None:
    """Ticks 0.1 s apart, then one 0.175 s late (a round slowed by load), with a pause of
    0.15 s: the stream's lull is twice its longest recent gap, so no refresh in the middle;
    caught up within that lull once the ticks stop."""
    at = [0.1, 0.2, 0.3, 0.475, 0.575, 0.675]
    fake = _Ticking(period=0, at=at)
    refresher = DerivedRefresher(fake, interval=0.02, stream_interval=30, pause=0.15)  # type: ignore[arg-type]
    refresher.start()
    try:
        last = fake.t0 + at[-1]
        deadline = last + 10
        while fake.refreshed < 1 + len(at) and time.monotonic() < deadline:
            time.sleep(0.005)
        caught_up = time.monotonic()
    finally:
        refresher.stop()
    began = [t - fake.t0 for t in fake.began]
    # The first round, then each of the first two writes (a lone write, or two), then none
    # until the stream's lull (a fixed pause of 0.15 s would have refreshed at 0.45 s).
    assert not [t for t in began if 0.32 < t < at[-1] + 0.15], began
    assert fake.refreshed == 1 + len(at)
    assert caught_up - last < 2


class _Staging(_Ticking):
    """Writes at ``at``, and stages requests (for later writes) continuously until
    ``staging_until`` seconds from its start."""

    def __init__(self, at: list[float], staging_until: float) -> None:
        super().__init__(period=0, at=at)
        self.staging_until = staging_until

    def activity(self) -> Activity:
        seen = super().activity()
        staged = min(time.monotonic(), self.t0 + self.staging_until)
        return Activity(seen.writes, seen.write_times, staged)


def test_requests_staged_for_later_writes_keep_a_stream_going() -> None:
    """A write while trace requests keep arriving (staged for the assembler's next writes) is
    not a lone write: its refresh waits for the requests to pause, then comes within a look."""
    fake = _Staging(at=[0.1], staging_until=0.6)
    refresher = DerivedRefresher(fake, interval=0.05, stream_interval=30, pause=0.15)  # type: ignore[arg-type]
    _run_until(refresher, lambda: fake.refreshed >= 2)
    began = [t - fake.t0 for t in fake.began]
    assert fake.refreshed == 2
    assert len(began) == 2, began  # the first round, then one after the requests stopped
    assert began[1] >= 0.6 + 0.05, began
    assert began[1] < 0.6 + 2, began


def test_a_store_times_its_writes_and_staged_requests(store: EventStore) -> None:
    """What the refresher reads: each committed write's time (the latest ones), the count,
    when a request was last staged and how many staged rows wait to be written."""
    before = time.monotonic()
    assert store.activity() == Activity(staged_rows=0)
    _write(store, 0, 2)
    _write(store, 2, 2)
    seen = store.activity()
    assert seen.writes == 2
    assert len(seen.write_times) == 2
    assert before <= seen.write_times[0] <= seen.write_times[1] <= time.monotonic()
    assert (seen.staged_at, seen.staged_rows) == (None, 0)
    stage(store, piece("a", "s1", 0, ended=1, received=2), piece("a", "s1", 1, ended=1, received=2))
    seen = store.activity()
    assert seen.writes == 2
    assert seen.staged_at is not None
    assert seen.write_times[1] <= seen.staged_at
    assert seen.staged_rows == 2


class _Pending(_Ticking):
    """Writes at ``at`` while staged rows wait to be written until ``staged_until`` seconds
    from its start (as the trace door's open conversations do), none after."""

    def __init__(self, at: list[float], staged_until: float) -> None:
        super().__init__(period=0, at=at)
        self.staged_until = staged_until

    def activity(self) -> Activity:
        seen = super().activity()
        rows = 100 if time.monotonic() < self.t0 + self.staged_until else 0
        return Activity(seen.writes, seen.write_times, None, rows)


def test_writes_of_staged_pieces_defer_until_none_wait_then_are_refreshed_promptly() -> None:
    """Ticks far apart and uneven (an assembler slowed by load) while staged rows wait: no
    refresh until none wait (within the stream's bound), then one a look after the last."""
    at = [0.1, 0.2, 0.6, 0.7, 1.2]
    fake = _Pending(at=at, staged_until=1.2)
    refresher = DerivedRefresher(fake, interval=0.05, stream_interval=30, pause=0.15)  # type: ignore[arg-type]
    _run_until(refresher, lambda: fake.refreshed >= 1 + len(at))
    began = [t - fake.t0 for t in fake.began]
    assert len(began) == 2, began  # the first round, then one once nothing waits
    assert 1.2 <= began[1] < 1.2 + 2, began
    assert fake.refreshed == 1 + len(at)


def test_staged_pieces_still_leave_the_figures_at_most_a_stream_bound_behind() -> None:
    """Staged rows that wait long (live conversations end 15 minutes after their last span)
    defer a refresh no longer than ``stream_interval``."""
    fake = _Pending(at=[0.05], staged_until=60)
    refresher = DerivedRefresher(fake, interval=0.02, stream_interval=0.4)  # type: ignore[arg-type]
    _run_until(refresher, lambda: fake.refreshed >= 2)
    began = [t - fake.t0 for t in fake.began]
    assert fake.refreshed == 2
    assert 0.3 <= began[1] < 0.4 + 2, began  # at the bound after the first round
