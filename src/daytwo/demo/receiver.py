"""A webhook receiver for the demo (`daytwo demo --with-receiver`): alerts flow to it with no
configuration, and it shows each one in the terminal as it arrives.

It is what docs/notify.md asks of a real receiver, small: it verifies the signature and its
timestamp, drops a repeat by its idempotency key, and answers 2xx only for what it accepted.
It listens on a free loopback port, only while the demo serves.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

from daytwo.notify import service
from daytwo.notify.calc import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from daytwo.notify.schemas import ChannelCreate, RouteCreate
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger

CHANNEL = "demo-receiver"
# The demo's backlog opens with dozens of problems at once: the channel's rate limit shows
# how a storm is grouped instead of flooding the terminal.
MAX_PER_HOUR = 20


@dataclass
class DemoReceiver:
    """Accepts signed alerts on ``url``; ``show`` is called with one line per new alert."""

    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    show: Callable[[str], None] = print
    accepted: list[dict[str, object]] = field(default_factory=list)
    rejected: int = 0
    _seen: set[str] = field(default_factory=set)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    def start(self) -> DemoReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(receiver.take(body, dict(self.headers.items())))
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, name="demo-receiver", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def take(self, body: bytes, headers: dict[str, str]) -> int:
        """The answer to one POST: 200 accepted (or a repeat), 401 a bad signature."""
        lower = {k.lower(): v for k, v in headers.items()}
        ok = verify(
            self.secret, lower.get(TIMESTAMP_HEADER.lower(), ""),
            lower.get(SIGNATURE_HEADER.lower(), ""), body, now=time.time(),
        )  # fmt: skip
        with self._lock:
            if not ok:
                self.rejected += 1
                return 401
            key = lower.get(IDEMPOTENCY_HEADER.lower(), "")
            if key in self._seen:
                return 200  # a repeat of a message whose answer was lost
            self._seen.add(key)
            payload = orjson.loads(body)
            self.accepted.append(payload)
        self.show(line(payload))
        return 200


def line(payload: dict[str, object]) -> str:
    """One terminal line per alert: priority, event, deployment, what happened."""
    item = payload.get("item") or {}
    priority = item.get("priority", "") if isinstance(item, dict) else ""
    return (
        f"[alert] {priority} {payload.get('event')} · {payload.get('deployment')} · "
        f"{payload.get('summary')}"
    )


def wire(ledger: Ledger, settings: Settings, receiver: DemoReceiver) -> None:
    """Point the demo at ``receiver``: a signed webhook channel (at most
    :data:`MAX_PER_HOUR` messages an hour, the rest grouped) and a route of every event up to
    P2, replacing those of an earlier demo run."""
    names = {c.name for c in service.list_channels(ledger)}
    if CHANNEL in names:
        service.delete_channel(ledger, CHANNEL)
    service.create_channel(
        ledger,
        ChannelCreate(
            name=CHANNEL, kind="webhook", url=receiver.url, secret=receiver.secret,
            max_per_hour=MAX_PER_HOUR,
        ),
        server_key=settings.session_key(), actor="demo",
    )  # fmt: skip
    service.add_route(ledger, RouteCreate(channel=CHANNEL, max_priority="P2"), actor="demo")
