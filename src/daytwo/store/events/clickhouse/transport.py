"""How statements reach ClickHouse: over HTTP(S) with clickhouse-connect, or in-process (chDB).

Both speak Arrow both ways and report failures as :class:`~daytwo.errors.StoreError` with the
engine's own words; both run every statement with the same settings. chDB runs the ClickHouse
engine inside this process: the test suite and the benchmarks use it where no server can run,
and it suits one machine that wants ClickHouse's engine without a server.
"""

from __future__ import annotations

import atexit
import io
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from daytwo.errors import StoreError

T = TypeVar("T")

# ClickHouse error codes worth naming to the operator.
MEMORY_LIMIT_EXCEEDED = 241
TIMEOUT_EXCEEDED = 159
UNKNOWN_DATABASE = 81
_CODE = re.compile(r"Code: (\d+)")


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code in an exception's message, if any."""
    found = _CODE.search(str(exc))
    return int(found.group(1)) if found else None


def explain(exc: BaseException, what: str) -> StoreError:
    """One clear error for a failed statement: what failed, why, and what to do."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    code = error_code(exc)
    if code == MEMORY_LIMIT_EXCEEDED:
        hint = (
            " The query needed more memory than ClickHouse allows it: raise max_memory_usage "
            "for the daytwo user, or narrow the time range."
        )
    elif code == TIMEOUT_EXCEEDED:
        hint = " The query ran past its time limit (DAYTWO_EVENTS_QUERY_TIMEOUT_S)."
    else:
        hint = ""
    return StoreError(
        f"The events store (ClickHouse) failed to {what}: {text[:500]}.{hint}",
        details={"clickhouse_code": code} if code is not None else None,
    )


class Transport(Protocol):
    """A connection to one ClickHouse database."""

    database: str
    description: str

    def query(self, sql: str) -> pa.Table: ...

    def command(self, sql: str, settings: Mapping[str, Any] | None = None) -> None: ...

    def insert(self, table: str, data: pa.Table, settings: Mapping[str, Any] | None = None) -> None:
        """Insert ``data`` (its column names are the table's) in one statement."""

    def close(self) -> None: ...


def _settings_clause(settings: Mapping[str, Any] | None) -> str:
    if not settings:
        return ""
    parts = []
    for key, value in settings.items():
        rendered = f"'{value}'" if isinstance(value, str) else str(int(value))
        parts.append(f"{key} = {rendered}")
    return " SETTINGS " + ", ".join(parts)


def _arrow_stream(data: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    return sink.getvalue()


class HttpTransport:
    """ClickHouse's HTTP(S) interface through clickhouse-connect, Arrow both ways.

    Connection failures of reads and of inserts are retried with backoff (``retries`` times):
    a read is harmless to repeat, and an insert is too, because every table is a
    ReplacingMergeTree keyed so that the same rows sent twice are stored once.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        database: str,
        secure: bool,
        settings: Mapping[str, Any],
        connect_timeout: float = 10,
        query_timeout: float = 300,
        retries: int = 3,
        on_cluster: str = "",
    ) -> None:
        import clickhouse_connect  # the HTTP driver is only needed for a server

        self.database = database
        scheme = "https" if secure else "http"
        self.description = f"{scheme}://{host}:{port}/{database}"
        self._retries = retries
        self._settings = dict(settings)

        def connect(db: str) -> Any:
            return clickhouse_connect.get_client(
                host=host,
                port=port,
                username=username,
                password=password,
                database=db,
                secure=secure,
                connect_timeout=connect_timeout,
                send_receive_timeout=query_timeout,
                compress=False,
                autogenerate_session_id=False,
            )

        try:
            try:
                self._client = connect(database)
            except Exception as exc:
                if error_code(exc) != UNKNOWN_DATABASE:
                    raise
                # A new installation: create its database, then connect to it.
                admin = connect("__default__")
                admin.command(f"CREATE DATABASE IF NOT EXISTS `{database}`{on_cluster}")
                admin.close()
                self._client = connect(database)
        except Exception as exc:
            raise explain(exc, f"connect to {self.description}") from None

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        from clickhouse_connect.driver.exceptions import OperationalError

        delay = 0.5
        for attempt in range(self._retries + 1):
            try:
                return call()
            except OperationalError as exc:  # the server could not be reached or hung up
                if attempt == self._retries:
                    raise explain(exc, what) from None
                time.sleep(delay)
                delay *= 2
            except Exception as exc:
                raise explain(exc, what) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def query(self, sql: str) -> pa.Table:
        return self._retry(
            "run a query", lambda: self._client.query_arrow(sql, settings=self._settings)
        )

    def command(self, sql: str, settings: Mapping[str, Any] | None = None) -> None:
        merged = {**self._settings, **(settings or {})}
        self._retry("run a statement", lambda: self._client.command(sql, settings=merged))

    def insert(self, table: str, data: pa.Table, settings: Mapping[str, Any] | None = None) -> None:
        merged = {**self._settings, **(settings or {})}
        self._retry(
            f"store rows in {table}",
            lambda: self._client.insert_arrow(table, data, settings=merged),
        )

    def close(self) -> None:
        self._client.close()


class _Engine:
    """The one chDB engine of this process (chDB allows one data path per process)."""

    lock = threading.RLock()
    session: Any = None
    path: str | None = None
    users = 0


def _close_engine() -> None:
    """Close the process's chDB session while the interpreter is whole: left to its
    finaliser, chDB shuts its engine down during the interpreter's teardown and may crash
    the process on its way out ("ShutdownTablesThreadPool is not initialized", then a
    segmentation fault), turning a run that passed into an exit status of 139."""
    with _Engine.lock:
        session, _Engine.session, _Engine.path = _Engine.session, None, None
    if session is not None:
        session.close()


class ChdbTransport:
    """ClickHouse's engine in this process (chDB): one data folder per process, any number of
    databases in it. Statements are serialised (chDB runs one at a time)."""

    def __init__(self, path: str, database: str, settings: Mapping[str, Any]) -> None:
        from chdb import session as chdb_session

        self.database = database
        self.description = f"chdb:{path}/{database}"
        self._settings = dict(settings)
        self._closed = False
        resolved = str(Path(path).resolve())
        with _Engine.lock:
            if _Engine.session is None:
                Path(resolved).mkdir(parents=True, exist_ok=True)
                _Engine.session = chdb_session.Session(resolved)  # type: ignore[no-untyped-call]
                _Engine.path = resolved
                atexit.register(_close_engine)
                # The settings hold for the engine's one session, so for every statement.
                for key, value in self._settings.items():
                    rendered = f"'{value}'" if isinstance(value, str) else str(int(value))
                    _Engine.session.query(f"SET {key} = {rendered}")
            elif _Engine.path != resolved:
                raise StoreError(
                    f"This process already runs chDB on {_Engine.path}; chDB serves one data "
                    f"folder per process, so {resolved} cannot be opened beside it."
                )
            _Engine.users += 1
            self._run(f"CREATE DATABASE IF NOT EXISTS `{database}`", use=False)

    def _run(self, sql: str, fmt: str = "CSV", *, use: bool = True) -> Any:
        if self._closed:
            raise StoreError("The events store is closed.")
        with _Engine.lock:
            try:
                if use:
                    _Engine.session.query(f"USE `{self.database}`")
                return _Engine.session.query(sql, fmt)
            except Exception as exc:
                raise explain(exc, "run a statement") from None

    def query(self, sql: str) -> pa.Table:
        table = self._run(sql, "ArrowTable")
        return table if isinstance(table, pa.Table) else pa.table({})

    def command(self, sql: str, settings: Mapping[str, Any] | None = None) -> None:
        self._run(sql + _settings_clause(settings))

    def insert(self, table: str, data: pa.Table, settings: Mapping[str, Any] | None = None) -> None:
        if data.num_rows == 0:
            return
        columns = ", ".join(f"`{c}`" for c in data.column_names)
        clause = _settings_clause(settings)
        payload = _arrow_stream(data)
        with _Engine.lock:
            try:
                _Engine.session.query(f"USE `{self.database}`")
                inserter = _Engine.session.send_insert(
                    f"INSERT INTO `{table}` ({columns}){clause}", "ArrowStream"
                )
                inserter.append(payload)
                inserter.finish()
            except Exception as exc:
                raise explain(exc, f"store rows in {table}") from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _Engine.lock:
            _Engine.users -= 1


def drop_database(transport: Transport) -> None:
    """Drop the transport's whole database (tests, and ``daytwo`` never otherwise)."""
    transport.command(f"DROP DATABASE IF EXISTS `{transport.database}`")
