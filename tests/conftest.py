"""Shared fixtures: a fresh data dir, stores and app per test; the ledger on both dialects."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from daytwo.server import create_app
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger.db import upgrade

POSTGRES_ENV = "DAYTWO_TEST_POSTGRES_URL"
# `daytwo serve` analyses every hour by default; the apps and servers of the suite do not
# (a test that needs the schedule asks for it), so what a test sees is what it did.
os.environ.setdefault("DAYTWO_ANALYZE_INTERVAL_MINUTES", "0")
# The events engines a suite can run on: its conftest parametrises ``engine`` with these.
ENGINES = ("duckdb", "clickhouse")


@pytest.fixture
def engine() -> str:
    """The events engine of a test: DuckDB, unless the suite runs on both (``ENGINES``)."""
    return "duckdb"


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chDB data folder of this test process (chDB serves one per process)."""
    return tmp_path_factory.mktemp("chdb")


def clickhouse_url(chdb_dir: Path) -> str:
    """A fresh, empty database on the process's chDB engine."""
    return f"chdb:///{chdb_dir}?database=t_{uuid.uuid4().hex[:12]}"


def drop_clickhouse(url: str) -> None:
    """Drop the chDB database of ``url`` (a test's, when it ends)."""
    from daytwo.store.events.clickhouse import transport_for
    from daytwo.store.events.clickhouse.transport import drop_database

    transport, _ = transport_for(url)
    drop_database(transport)
    transport.close()


@pytest.fixture
def new_events(engine: str, request: pytest.FixtureRequest) -> Iterator[Callable[[], EventStore]]:
    """A factory of fresh, empty events stores on the test's engine (each dropped after)."""
    opened: list[tuple[EventStore, str]] = []

    def make() -> EventStore:
        if engine == "duckdb":
            url = "duckdb:///:memory:"
        else:
            url = clickhouse_url(request.getfixturevalue("chdb_dir"))
        store = open_event_store(url)
        opened.append((store, url))
        return store

    yield make
    for store, url in opened:
        store.close()
        if not url.startswith("duckdb"):
            drop_clickhouse(url)


@pytest.fixture(scope="session")
def ledger_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite ledger migrated to the head, once per test process. Migrating one
    takes a quarter of a second and most tests start an app on a fresh data dir, so each
    starts from a copy (the migrations themselves are tested on empty ledgers, both dialects,
    in tests/store/test_ledger.py)."""
    path = tmp_path_factory.mktemp("ledger-template") / "ledger.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def settings(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest, ledger_template: Path
) -> Iterator[Settings]:
    """Settings of a fresh data dir (its ledger a copy of the migrated template); on
    ClickHouse a fresh database, dropped afterwards.

    Reads refresh what they read (exact right after a write); the background refresh of
    `serve` has tests of its own (tests/store/test_refresher.py) and runs in the browser suite.
    """
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(ledger_template, data / "ledger.sqlite")
    if engine == "duckdb":
        yield Settings(data_dir=data, refresh_seconds=0)
        return
    url = clickhouse_url(request.getfixturevalue("chdb_dir"))
    yield Settings(data_dir=data, events_url=url, refresh_seconds=0)
    drop_clickhouse(url)


@pytest.fixture
def events(settings: Settings) -> Iterator[EventStore]:
    store = open_event_store(settings.resolved_events_url)
    yield store
    store.close()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of a fresh app that carries an admin API key (every route admits it)."""
    with TestClient(create_app(settings)) as c:
        key, _ = create_key(c.app.state.ledger, scope=KeyScope.admin, deployment=None)  # type: ignore[attr-defined]
        c.headers["authorization"] = f"Bearer {key}"
        yield c


@pytest.fixture
def anon_client(settings: Settings) -> Iterator[TestClient]:
    """A client of a fresh app without credentials."""
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, FastAPI]]:
    """A real server (uvicorn on a free loopback port) of a fresh app: its URL and the app."""
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.fail(
            f"{POSTGRES_ENV} is not set: run the suite with `make test`, which starts a "
            "private PostgreSQL for it."
        )
    return url


def _database_url(server_url: str, database: str) -> str:
    """``server_url`` with its database replaced by ``database``."""
    head, _, tail = server_url.rpartition("/")
    query = tail.partition("?")[2]
    return f"{head}/{database}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated to the head once per test process; each test's ledger
    is a copy of it (``CREATE DATABASE … TEMPLATE`` copies files: about 0.1 s, where running
    the migrations takes one to several seconds on PostgreSQL)."""
    url = _postgres_url()
    name = f"template_{os.getpid()}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        con.execute(text(f'CREATE DATABASE "{name}"'))
    template_url = _database_url(url, name)
    upgrade(template_url)
    # A template is copied only while nobody is connected to it: let go of every pooled one.
    create_engine(template_url).dispose()
    try:
        yield name
    finally:
        with engine.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(
    request: pytest.FixtureRequest, tmp_path: Path, ledger_template: Path
) -> Iterator[str]:
    """A ledger migrated to the head: a SQLite file, and a database of the private PostgreSQL
    of `make test` (each a fresh copy of a migrated template; the migrations themselves run on
    the empty ledgers of ``empty_ledger_url``)."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite"
        shutil.copyfile(ledger_template, path)
        yield f"sqlite:///{path}"
        return
    url = _postgres_url()
    template = request.getfixturevalue("postgres_template")
    name = f"t_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _database_url(url, name)
    finally:
        with engine.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty ledger database (no tables): a SQLite file, and a schema of the private
    PostgreSQL of `make test`; for the tests of the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    url = _postgres_url()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    schema = f"t_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    with engine.connect() as con:
        con.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.connect() as con:
            con.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
