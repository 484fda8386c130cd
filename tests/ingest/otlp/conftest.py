"""A real daytwo server on loopback (uvicorn in a thread) and a small OpenAI-compatible fake."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
import uvicorn
from fastapi import FastAPI

from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from daytwo.server import create_app
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from tests.conftest import clickhouse_url, drop_clickhouse


def all_staged(events: EventStore) -> pa.Table:
    """Every row staged in ``events`` now (the pieces of every open conversation)."""
    far = datetime.now(UTC) + timedelta(days=36500)
    keys = events.staged_ended(ended_before=far, received_before=far, limit=1_000_000)
    return events.staged_rows(keys)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    server: uvicorn.Server

    @property
    def events(self) -> EventStore:
        store: EventStore = self.app.state.events
        return store

    def key(self, scope: KeyScope = KeyScope.ingest, deployment: str | None = "care-bot") -> str:
        full, _ = create_key(self.app.state.ledger, scope=scope, deployment=deployment)
        return full

    def end_conversations(self, after: timedelta = timedelta(hours=2)) -> int:
        """Write every staged conversation now, as if the idle timeout had passed."""
        written: int = self.app.state.trace_assembler.tick(now=datetime.now(UTC) + after)
        return written

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.events.query(sql, params).to_pylist()
        return rows


@pytest.fixture
def live(tmp_path: Path, request: pytest.FixtureRequest, engine: str) -> Iterator[LiveServer]:
    # The assembler's own ticks never end a conversation here (15 min idle); tests end them.
    # Requests are mapped in the server's threads unless a test asks for worker processes
    # (`@pytest.mark.parametrize("live", [2], indirect=True)`). Pieces are staged on the
    # suite's engine (DuckDB, or ClickHouse through chDB).
    events_url = None
    if engine == "clickhouse":
        events_url = clickhouse_url(request.getfixturevalue("chdb_dir"))
    settings = Settings(
        data_dir=tmp_path / "data",
        events_url=events_url,
        otlp_assemble_seconds=3600,
        otlp_workers=getattr(request, "param", 0),
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError("server did not start")
        time.sleep(0.05)
    httpx.get(url + "/healthz", timeout=5).raise_for_status()
    try:
        yield LiveServer(url, app, server)
    finally:
        server.should_exit = True
        thread.join(30)
        if events_url is not None:
            drop_clickhouse(events_url)


class _FakeOpenAI(BaseHTTPRequestHandler):
    """Chat completions: echoes the last user message; a message with 'fail' gets a 500."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        last = body["messages"][-1]
        content = last.get("content") if isinstance(last.get("content"), str) else ""
        if "fail" in content:
            self._send(500, {"error": {"message": "model overloaded", "type": "server_error"}})
            return
        self._send(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"] + "-2024-07-18",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": f"Noted: {content}"},
                    }
                ],
                "usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30},
            },
        )

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        out = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture
def fake_openai() -> Iterator[str]:
    """Base URL (…/v1) of an OpenAI-compatible chat endpoint on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()
