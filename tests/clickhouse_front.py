"""A small loopback HTTP front for ClickHouse's engine (chDB), to test the HTTP transport.

No ClickHouse server can be installed here, so the suite runs clickhouse-connect against this:
it speaks the part of ClickHouse's HTTP interface the driver uses (``/ping``; a query in the
``query`` parameter and/or the body; ``database``; settings as parameters; ``INSERT … FORMAT
X`` with the data as the body; errors as status 500 with ``Code: N. DB::Exception: …``) and
executes every statement on the test process's chDB engine. Faults are injected on request:
a delay, a failed insert into a named table, a memory-limit error.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from daytwo.store.events.clickhouse.sql import READ_SETTINGS
from daytwo.store.events.clickhouse.transport import ChdbTransport, _Engine

_INSERT = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<target>.+?)\s+FORMAT\s+(?P<fmt>\w+)\s*$", re.I | re.S
)
_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.I)
# Statements that answer with rows (and so take a FORMAT).
_ROWS = ("SELECT", "WITH", "SHOW", "DESC", "EXISTS", "EXPLAIN")
# Settings passed on to the engine per statement; the driver's transport settings are not.
_PASSED = frozenset({"insert_allow_materialized_columns", "mutations_sync", "max_memory_usage",
                     "max_execution_time"})  # fmt: skip


@dataclass
class Faults:
    delay_s: float = 0.0
    fail_insert_into: str | None = None
    memory_limit: bool = False
    calls: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        if urlsplit(self.path).path.rstrip("/") == "/ping":
            self._reply(200, b"Ok.\n")
            return
        self._handle(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self._handle(self.rfile.read(length) if length else b"")

    def _reply(self, status: int, body: bytes, code: int | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-clickhouse-summary", '{"read_rows":"0","written_rows":"0"}')
        if code is not None:
            self.send_header("x-clickhouse-exception-code", str(code))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, body: bytes) -> None:
        params = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        faults = self.server.faults
        if faults.delay_s:
            threading.Event().wait(faults.delay_s)
        database = params.get("database") or "default"
        settings = {k: v for k, v in params.items() if k in _PASSED}
        clause = (
            " SETTINGS " + ", ".join(f"{k} = {v}" for k, v in settings.items()) if settings else ""
        )
        query = params.get("query", "")
        insert = _INSERT.match(query) if query else None
        try:
            if insert:
                target = insert.group("target")
                faults.calls.append(f"INSERT {target}")
                if faults.fail_insert_into and faults.fail_insert_into in target:
                    raise RuntimeError("Code: 243. DB::Exception: Cannot reserve space (simulated)")
                with _Engine.lock:
                    _Engine.session.query(f"USE `{database}`")
                    inserter = _Engine.session.send_insert(
                        f"INSERT INTO {target}{clause}", insert.group("fmt")
                    )
                    inserter.append(body)
                    inserter.finish()
                self._reply(200, b"")
                return
            sql = f"{query}\n{body.decode()}" if query and body else query or body.decode()
            faults.calls.append(sql.split(None, 1)[0].upper() if sql.strip() else "")
            if faults.memory_limit and sql.lstrip().upper().startswith(("SELECT", "WITH")):
                raise RuntimeError(
                    "Code: 241. DB::Exception: Memory limit (for query) exceeded: would use "
                    "9.31 GiB, maximum: 9.31 GiB. (MEMORY_LIMIT_EXCEEDED)"
                )
            returns_rows = sql.lstrip().upper().startswith(_ROWS)
            if returns_rows and _FORMAT.search(sql) is None:
                sql += f" FORMAT {params.get('default_format', 'TabSeparated')}"
            if clause:
                sql = _FORMAT.sub(lambda m: f"{clause} FORMAT {m.group(1)}", sql)
                if not returns_rows:
                    sql += clause
            with _Engine.lock:
                _Engine.session.query(f"USE `{database}`")
                result = _Engine.session.query(sql, "CSV")
            self._reply(200, result.bytes() if hasattr(result, "bytes") else bytes(result))
        except Exception as exc:  # the engine's words, as ClickHouse's HTTP interface says them
            text = str(exc)
            code = re.search(r"Code: (\d+)", text)
            self._reply(500, text.encode(), int(code.group(1)) if code else 1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    faults: Faults


@dataclass
class Front:
    host: str
    port: int
    faults: Faults

    def url(self, database: str) -> str:
        return f"clickhouse://default@{self.host}:{self.port}/{database}"


@contextmanager
def clickhouse_front(chdb_dir: str) -> Iterator[Front]:
    """Serve the process's chDB engine (on ``chdb_dir``) over HTTP on a free loopback port."""
    engine = ChdbTransport(chdb_dir, "default", READ_SETTINGS)  # starts the engine if needed
    server = _Server(("127.0.0.1", 0), _Handler)
    server.faults = Faults()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Front("127.0.0.1", server.server_address[1], server.faults)
    finally:
        server.shutdown()
        server.server_close()
        engine.close()
