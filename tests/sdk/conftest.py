"""A scripted in-process daytwo ingest endpoint (``httpx.MockTransport``) and client factory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from daytwo.sdk import Client

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def ok(body: bytes) -> httpx.Response:
    """What the server answers for a good NDJSON batch."""
    n = len(body.splitlines())
    return httpx.Response(
        200,
        json={
            "received": n,
            "accepted": n,
            "rejected": 0,
            "inserted": n,
            "replaced": 0,
            "turns": 0,
            "errors": [],
        },
    )


@dataclass
class Sent:
    url: httpx.URL
    body: bytes
    params: dict[str, str]
    headers: httpx.Headers
    at: float

    @property
    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.body.splitlines()]

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.records]


@dataclass
class Ingest:
    """Answers each request with the next scripted reply, then 200; records every request."""

    replies: list[Reply] = field(default_factory=list)
    requests: list[Sent] = field(default_factory=list)
    gate: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        body = request.read()
        with self._cond:
            self.requests.append(
                Sent(request.url, body, dict(request.url.params), request.headers, time.monotonic())
            )
            self._cond.notify_all()
            reply = self.replies.pop(0) if self.replies else None
        if reply is None:
            return ok(body)
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Sent]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.requests) >= n, timeout), (
                f"{len(self.requests)} requests arrived, expected {n}"
            )
            return list(self.requests)

    @property
    def ids(self) -> list[str]:
        with self._cond:
            return [i for sent in self.requests for i in sent.ids]


@pytest.fixture
def ingest() -> Ingest:
    return Ingest()


MakeClient = Callable[..., Client]


@pytest.fixture
def make_client(ingest: Ingest) -> Iterator[MakeClient]:
    """Clients on the scripted endpoint with test-speed defaults; all closed at teardown."""
    made: list[Client] = []

    def make(**options: Any) -> Client:
        options.setdefault("transport", ingest.transport())
        options.setdefault("flush_interval", 30.0)
        options.setdefault("backoff_base", 0.001)
        options.setdefault("backoff_max", 0.01)
        c = Client("http://daytwo.test", "dt_secret", **options)
        made.append(c)
        return c

    yield make
    if ingest.gate is not None:
        ingest.gate.set()
    for c in made:
        c.close(timeout=5)


def record(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"c-{n:06d}",
        "deployment": "care-bot",
        "started_at": "2026-03-02T09:14:05Z",
        **fields,
    }
