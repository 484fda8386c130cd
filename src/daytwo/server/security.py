"""Hard limits and headers on every response, and an audit entry for every write.

- **Rate limit**: at most ``rate_limit_per_minute`` requests per API key, UI session or (when
  anonymous) client address, in one-minute windows; over it, ``429`` with ``Retry-After``.
- **Security headers**: a content security policy without inline script, frame denial, no
  MIME sniffing, no referrer across origins.
- **Audit**: every request that is not a read (POST, PUT, PATCH, DELETE) is in the audit log.
  The services write what they changed (the action, the deployment, before → after) in the
  transaction of the change; a write that failed, or whose services recorded nothing, gets an
  entry here after it is answered: who (the principal the route admitted, or ``anonymous``),
  what (method, route and status), when, from where. Those answered "retry later" (429, 503
  and 507) changed nothing and are not audited. The accepted requests of a high-rate door
  (the OTLP receiver, ``/v1/traces``, whose exporters send a batch every few hundred
  milliseconds per process) are counted instead: the requests answered while one ledger
  write of their entries is under way share the next, one entry per caller, route,
  deployment, address and status, its ``after`` saying how many requests it stands for
  (:class:`AuditBatch`), appended to the same hash chain. Each is written before its answer
  leaves: an acknowledged request is in the log even if the process is killed right after.
  Where the events store stages a trace request's rows and its audit count in one
  transaction (DuckDB), the count is durable with the rows before the answer, and the trace
  assembler folds the counts into the hash chain every few seconds and at start
  (:func:`daytwo.governance.audit.fold_staged_audit`): no ledger write waits in the request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daytwo.errors import Overloaded
from daytwo.governance import audit
from daytwo.ingest.otlp.api import status_response

log = logging.getLogger("daytwo.server")

# Vega compiles chart expressions with the Function constructor, hence 'unsafe-eval';
# no inline script is allowed anywhere.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
UNLIMITED_PREFIXES = ("/static/", "/healthz")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_AUDITED = frozenset({429, 503, 507})
# Routes whose accepted writes are audited several requests an entry (see AuditBatch).
BATCHED_ROUTES = frozenset({"/v1/traces"})


class RateLimiter:
    """Fixed one-minute windows per caller; thread-safe, in memory (one per process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._window = 0
        self._counts: dict[str, int] = {}

    def hit(self, caller: str, now: float | None = None) -> int:
        """0 when admitted, else the seconds until the caller's next window."""
        now = time.time() if now is None else now
        window = int(now // 60)
        with self._lock:
            if window != self._window:
                self._window = window
                self._counts = {}
            count = self._counts.get(caller, 0) + 1
            self._counts[caller] = count
        if count <= self.per_minute:
            return 0
        return max(1, int((window + 1) * 60 - now) + 1)


def _caller(scope: Scope) -> str:
    headers = dict(scope.get("headers") or [])
    credential = headers.get(b"authorization") or b""
    if not credential:
        for part in (headers.get(b"cookie") or b"").split(b";"):
            name, _, value = part.strip().partition(b"=")
            if name == b"daytwo_session":
                credential = value
    if credential:
        return "c:" + hashlib.sha256(credential).hexdigest()[:32]
    client = scope.get("client")
    return "a:" + (client[0] if client else "-")


class SecurityMiddleware:
    """``per_minute_by_prefix`` gives paths under a prefix their own limit (the OTLP door,
    whose exporters send many small batches)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        per_minute: int,
        per_minute_by_prefix: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.limiter = RateLimiter(per_minute)
        self.limiters = {p: RateLimiter(n) for p, n in (per_minute_by_prefix or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if not path.startswith(UNLIMITED_PREFIXES):
            limiter = next(
                (lim for prefix, lim in self.limiters.items() if path.startswith(prefix)),
                self.limiter,
            )
            wait = limiter.hit(_caller(scope))
            if wait:
                await _too_many(send, wait)
                return
        status: dict[str, int] = {}
        refused: list[bool] = []  # the answer was replaced: the route's body is not sent
        batch: AuditBatch | None = getattr(
            getattr(scope.get("app"), "state", None), "audit_batch", None
        )

        async def send_with_headers(message: Message) -> None:
            if refused:
                return
            if message["type"] == "http.response.start":
                if (scope.get("state") or {}).get("audit_staged"):
                    # Its audit count was committed with its rows (see fold_staged_audit).
                    trail.recorded += 1
                elif (
                    batch is not None
                    and message["status"] < 400
                    and scope.get("method") in WRITE_METHODS
                    and _route_path(scope) in BATCHED_ROUTES
                ):
                    # Durable before acknowledged: the entry is in the ledger before the answer.
                    try:
                        await batch.record(_audit_key(scope, message["status"]))
                    except Exception:
                        refused.append(True)
                        status["code"] = 503
                        await _audit_unavailable(scope, receive, send)
                        return
                    trail.recorded += 1
                status["code"] = message["status"]
                message.setdefault("headers", [])
                names = {name.lower() for name, _ in message["headers"]}
                message["headers"] = list(message["headers"]) + [
                    (name, value) for name, value in HEADERS if name not in names
                ]
            await send(message)

        trail = audit.RequestTrail()
        token = audit.REQUEST.set(trail)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            audit.REQUEST.reset(token)
            code = status.get("code", 500)
            # A write that failed (with an unhandled error too, as a 500) is audited here;
            # one that succeeded is, unless its services recorded what they changed. One the
            # caller is asked to retry changed nothing and is not: a rate limit (429), a full
            # disk (507) or a store that is unavailable (503), which would otherwise add an
            # entry per retry to a ledger that may sit on the same full disk.
            audited = trail.recorded > 0 and code < 400
            if scope.get("method") in WRITE_METHODS and code not in NOT_AUDITED and not audited:
                key = _audit_key(scope, code)
                await run_in_threadpool(_write_entries, scope.get("app"), [(key, 0)])


async def _audit_unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer of an accepted batched write whose audit entry could not be written, as the
    OTLP door answers pressure (a ``google.rpc.Status`` with ``Retry-After``): the exporter
    retries it (re-sent spans change no count), and its retry is audited."""
    busy = Overloaded("The audit log could not be written; retry in a few seconds.", retry_after=5)
    response = status_response(Request(scope, receive), busy)
    response.raw_headers.extend(HEADERS)
    await response(scope, receive, send)


async def _too_many(send: Send, wait: int) -> None:
    await send_error(
        send,
        429,
        {
            "code": "rate_limited",
            "message": f"Too many requests; retry in {wait} seconds.",
            "details": {"retry_after": wait},
        },
        [(b"retry-after", str(wait).encode()), *HEADERS],
    )


async def send_error(
    send: Send, status: int, error: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    """Answer ``status`` with the one error shape, ``{"error": error}``, below the routes."""
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_Key = audit.RequestFields


def _route_path(scope: Scope) -> str:
    return audit.route_path(scope)


def _audit_key(scope: Scope, status: int) -> _Key:
    return audit.request_fields(scope, status)


def _write_entries(app: Any, entries: list[tuple[_Key, int]]) -> None:
    """:func:`append_entries`, for answers sent already: a failure is logged, not raised."""
    try:
        append_entries(app, entries)
    except Exception:  # the answers are sent already; an operator must hear of it
        log.exception("could not write %d audit entries (first: %s)", len(entries), entries[0])


def append_entries(app: Any, entries: list[tuple[_Key, int]]) -> None:
    """Append one audit entry per key, in one ledger transaction; ``n`` > 0 is a batch's
    count of requests (said in the entry), 0 a single request."""
    with app.state.ledger.session() as session:
        for (actor, action, target, deployment, ip, status, path), n in entries:
            after: dict[str, Any] = {"status": status, "path": path}
            if n:
                after["requests"] = n
            audit.record(
                session,
                actor=actor,
                action=action,
                target=target,
                deployment=deployment,
                ip=ip,
                after=after,
            )


class AuditBatch:
    """Audits the accepted requests of the batched routes before they are answered, several
    requests a ledger transaction: a request that arrives while one write is under way waits
    for the next, which holds every request that waited, one entry per key (caller, route,
    deployment, address, status) counting them. A door answering hundreds of requests a
    second writes as many entries as the ledger takes transactions, not one per request,
    and none of them waits in memory after its answer.

    ``min_gap_s`` spaces the writes: a request that comes within it of the last write waits
    for the rest of it, with every other request that comes meanwhile. At 50 ms a busy door
    writes at most 20 entries a second per caller (about 2 ms of the ledger's time each),
    and a request that comes later than that after the last write waits for none.
    """

    def __init__(self, app: Any, min_gap_s: float = 0.05) -> None:
        self._app = app
        self.min_gap_s = min_gap_s
        self._pending: dict[_Key, int] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._last = 0.0
        self.writes = 0  # ledger transactions so far (for tests and the bench)

    async def record(self, key: _Key) -> None:
        """Count one accepted request under ``key``; returns once its entry is committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending[key] = self._pending.get(key, 0) + 1
        self._waiters.append(done)
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write_pending())
        await done

    async def _write_pending(self) -> None:
        while self._pending:
            wait = self._last + self.min_gap_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            pending, self._pending = self._pending, {}
            waiters, self._waiters = self._waiters, []
            self._last = time.monotonic()
            try:
                await run_in_threadpool(append_entries, self._app, list(pending.items()))
                self.writes += 1
            except Exception as exc:
                log.exception("could not write %d audit entries", len(pending))
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
