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
  milliseconds per process) are counted instead: one entry per caller, route, deployment,
  address and status per second, its ``after`` saying how many requests it stands for
  (:class:`AuditBatch`), appended to the same hash chain.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daytwo.governance import audit

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
# Routes whose accepted writes are audited as one entry per caller and second.
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

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
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
                batch: AuditBatch | None = getattr(
                    getattr(scope.get("app"), "state", None), "audit_batch", None
                )
                if batch is not None and code < 400 and key[2] in BATCHED_ROUTES:
                    batch.add(key)  # no ledger write here: counted, written once a second
                else:
                    await run_in_threadpool(_write_entries, scope.get("app"), [(key, 0)])


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


_Key = tuple[str, str, str, str | None, str | None, int, str]


def _audit_key(scope: Scope, status: int) -> _Key:
    """Who wrote what, where and with what answer: the fields of a generic audit entry."""
    state: dict[str, Any] = scope.get("state") or {}
    principal = state.get("principal")
    route = scope.get("route")
    route_path = getattr(route, "path", scope.get("path", ""))
    params = {**(scope.get("path_params") or {})}
    query = (scope.get("query_string") or b"").decode(errors="replace")
    deployment = params.get("deployment") or params.get("name")
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "deployment" and value:
            deployment = value
    client = scope.get("client")
    return (
        principal.name if principal is not None else "anonymous",
        f"http.{scope.get('method', '').lower()}",
        str(route_path),
        str(deployment) if deployment else None,
        client[0] if client else None,
        status,
        scope.get("path", ""),
    )


def _write_entries(app: Any, entries: list[tuple[_Key, int]]) -> None:
    """Append one audit entry per key, in one ledger transaction; ``n`` > 0 is a batch's
    count of requests (said in the entry), 0 a single request."""
    try:
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
    except Exception:  # the answers are sent already; an operator must hear of it
        log.exception("could not write %d audit entries (first: %s)", len(entries), entries[0])


class AuditBatch:
    """Counts the accepted requests of the batched routes and appends one audit entry per key
    (caller, route, deployment, address, status) for each ``interval_s``: a door that answers
    hundreds of requests a second writes a few entries a second, not one per request.

    A thread started on the first request of an interval writes it when the interval is over;
    :meth:`flush` writes what is pending now (the server calls it when it stops).
    """

    def __init__(self, app: Any, interval_s: float = 1.0) -> None:
        self._app = app
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._pending: dict[_Key, int] = {}
        self._timer: threading.Timer | None = None

    def add(self, key: _Key) -> None:
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + 1
            if self._timer is None:
                self._timer = threading.Timer(self.interval_s, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Append the pending entries now."""
        with self._lock:
            pending, self._pending = self._pending, {}
            timer, self._timer = self._timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        if pending:
            _write_entries(self._app, list(pending.items()))
