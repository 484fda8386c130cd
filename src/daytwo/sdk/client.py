"""The daytwo SDK client: log interactions from the app itself, batched, retried, non-blocking.

::

    from daytwo.sdk import Client

    with Client("https://daytwo.example.com", api_key="dt_...") as daytwo:
        daytwo.log_interaction(
            id="c-000123", deployment="care-bot", started_at=started, outcome="contained"
        )

``log()`` only puts the record on a bounded in-memory queue; one daemon thread per client
serialises, batches and sends. The sender retries what can succeed later (connection errors,
timeouts, 408, 429, 5xx) with exponential backoff and full jitter, honouring ``Retry-After``.
Re-sending can never double-count: ingest is idempotent by interaction ``id`` (the later copy
of an id replaces the earlier one), so a batch whose answer was lost is simply sent again.
Records the server calls invalid are never retried; they go to ``on_error``.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import httpx
import orjson

from daytwo.sdk._wire import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    ClientStats,
    Line,
    UndeliveredRecord,
    backoff_delay,
    chunks,
    encode,
    ndjson,
    parse_retry_after,
    record_id,
    wire_datetimes,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

log = logging.getLogger("daytwo.sdk")

INGEST_PATH = "api/v1/ingest"
_RETRYABLE_STATUS = frozenset({408, 429})
# How often a waiting flush() looks whether the sender is still alive.
_LIVENESS_POLL_S = 0.5

OnError = Callable[[list[UndeliveredRecord]], object]


def _user_agent() -> str:
    try:
        return f"daytwo-python/{version('daytwo')}"
    except PackageNotFoundError:
        return "daytwo-python"


class Client:
    """Sends interactions to a daytwo server in the background.

    Args:
        base_url: the server, e.g. ``"https://daytwo.example.com"``.
        api_key: sent as ``Authorization: Bearer <api_key>`` when given.
        batch_size: records per request (1 to 5,000); bodies are also kept under 20 MB.
        flush_interval: seconds the first queued record waits for a batch to fill.
        max_queue: records held in memory; ``log()`` drops (and counts) beyond it.
        max_retries: re-sends of one request before its records are given up.
        backoff_base, backoff_max: full-jitter backoff, ``uniform(0, min(max, base * 2**n))``.
        timeout: seconds for one HTTP request.
        partial: ask the server to store the valid records of a batch and name the rest
            (``?partial=true``). Without it the server refuses a batch with any invalid
            record; the client then reports those and re-sends the others.
        on_error: called on the sender thread with the records that will not be stored
            (:class:`UndeliveredRecord`); without it they are logged. Exceptions it raises
            are logged, never propagated.
        transport: an ``httpx`` transport (``httpx.MockTransport`` in tests).
        max_batch_bytes: largest request body, in bytes.
        shutdown_timeout: seconds the interpreter-exit flush may take.

    The client never raises into the host application after construction: ``log()`` is
    O(1) and never blocks; trouble is counted in :attr:`stats` and logged on the
    ``daytwo.sdk`` logger. Records still queued when the interpreter exits are sent within
    ``shutdown_timeout`` (an ``atexit`` hook); call :meth:`close` to do it earlier.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        batch_size: int = 500,
        flush_interval: float = 2.0,
        max_queue: int = 100_000,
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 10.0,
        partial: bool = True,
        on_error: OnError | None = None,
        transport: httpx.BaseTransport | None = None,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        shutdown_timeout: float = 5.0,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_RECORDS:
            raise ValueError(f"batch_size must be 1 to {MAX_BATCH_RECORDS}, not {batch_size}")
        if max_queue < 1 or max_retries < 0 or max_batch_bytes < 1024:
            raise ValueError("max_queue must be >= 1, max_retries >= 0, max_batch_bytes >= 1024")
        if min(flush_interval, backoff_base, backoff_max, shutdown_timeout) < 0 or timeout <= 0:
            raise ValueError("intervals, backoff and timeouts must not be negative")
        self.base_url = base_url
        self._api_key = api_key
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_queue = max_queue
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._timeout = timeout
        self._params = {"partial": "true"} if partial else {}
        self._on_error = on_error
        self._transport = transport
        self._max_batch_bytes = max_batch_bytes
        self._shutdown_timeout = shutdown_timeout
        self._rng = random.Random()
        self._start()

    # -- lifecycle ---------------------------------------------------------------------------

    def _start(self) -> None:
        # Also run in a forked child: fresh locks, queue and connections, a new sender thread.
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._progress = threading.Condition(self._lock)
        self._interrupt = threading.Event()
        self._queue: deque[object] = deque()
        self._enqueued = 0  # accepted by log()
        self._taken = 0  # taken off the queue by the sender
        self._finished = 0  # delivered, rejected or given up
        self._flush_upto = 0  # the sender sends without waiting until _taken reaches this
        self._closing = False
        self._give_up_at: float | None = None
        self._warned_full = False
        self._warned_closed = False
        self._warned_naive = False
        self._counts = dict.fromkeys(
            ("sent", "accepted", "rejected", "failed", "dropped", "retries", "failed_batches"), 0
        )
        headers = {"content-type": "application/x-ndjson", "user-agent": _user_agent()}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=self._timeout,
            transport=self._transport,
        )
        self._thread = threading.Thread(target=self._run, name="daytwo-sdk-sender", daemon=True)
        _LIVE.add(self)
        self._thread.start()

    def close(self, timeout: float | None = None) -> bool:
        """Send what is queued, stop the sender and release its connections.

        Waits until everything is delivered or given up, at most ``timeout`` seconds when
        given (then what is left is given up and reported). Later ``log()`` calls drop.
        Returns ``True`` when the sender finished in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._begin_close(deadline)
        return self._await_closed(deadline)

    def _begin_close(self, deadline: float | None) -> None:
        with self._lock:
            self._closing = True
            if deadline is not None and (self._give_up_at is None or deadline < self._give_up_at):
                self._give_up_at = deadline
            self._has_work.notify_all()
        self._interrupt.set()  # a sender sleeping before a retry looks at the deadline again
        _LIVE.discard(self)

    def _await_closed(self, deadline: float | None) -> bool:
        if threading.current_thread() is self._thread:
            return False  # close() from inside on_error: the sender stops after this batch
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        self._thread.join(remaining)
        return not self._thread.is_alive()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, queued={self.stats.queued})"

    # -- the host application's side ---------------------------------------------------------

    def log(self, interaction: Mapping[str, Any] | BaseModel) -> bool:
        """Queue one interaction (wire format: a dict, a pydantic model or a dataclass).

        Never blocks and never raises: returns ``False`` (and counts the record in
        ``stats.dropped``) when the queue is full or the client is closed. The record is
        serialised later, on the sender thread, so do not change it after logging it.
        """
        with self._lock:
            if not self._closing and len(self._queue) < self._max_queue:
                self._queue.append(interaction)
                self._enqueued += 1
                waiting = len(self._queue)
                if waiting == 1 or waiting == self._batch_size:
                    self._has_work.notify()
                return True
            self._counts["dropped"] += 1
            closed = self._closing
            warn = not (self._warned_closed if closed else self._warned_full)
            if closed:
                self._warned_closed = True
            else:
                self._warned_full = True
        if warn:
            if closed:
                log.warning("daytwo: log() after close(); the record is dropped")
            else:
                log.warning(
                    "daytwo: the queue is full (%d records); records are dropped until the "
                    "server catches up (see Client.stats.dropped)",
                    self._max_queue,
                )
        return False

    def log_interaction(
        self, *, id: str, deployment: str, started_at: datetime | str, **fields: Any
    ) -> bool:
        """Build a wire-format interaction from keyword arguments and queue it.

        Datetimes anywhere in it (``started_at``, ``ended_at``, ``turns[].ts``...) become
        ISO-8601 strings with their zone; naive datetimes are taken as UTC (warned once).

        >>> client.log_interaction(  # doctest: +SKIP
        ...     id="c-1", deployment="care-bot", started_at=datetime.now(UTC),
        ...     outcome="escalated", turns=[{"seq": 0, "role": "user", "text": "hi"}])
        """
        record = {"id": id, "deployment": deployment, "started_at": started_at, **fields}
        return self.log(wire_datetimes(record, self._naive_datetime))

    def _naive_datetime(self) -> None:
        if not self._warned_naive:
            self._warned_naive = True
            log.warning("daytwo: naive datetimes are taken as UTC; pass aware datetimes")

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every record logged so far is delivered or given up.

        Returns ``False`` if ``timeout`` seconds passed first (the records stay queued).
        """
        if threading.current_thread() is self._thread:
            return False  # from inside on_error: waiting for ourselves would never end
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._enqueued
            if self._flush_upto < target:
                self._flush_upto = target
                self._has_work.notify()
            while self._finished < target:
                if not self._thread.is_alive():
                    return False
                wait = _LIVENESS_POLL_S
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        return False
                self._progress.wait(wait)
        return True

    @property
    def stats(self) -> ClientStats:
        """A consistent snapshot of the counters (see :class:`ClientStats`)."""
        with self._lock:
            return ClientStats(queued=self._enqueued - self._finished, **self._counts)

    # -- the sender thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (records := self._next_batch()) is not None:
                try:
                    self._process(records)
                except Exception:
                    log.exception("daytwo: unexpected error in the sender; a batch is lost")
                finally:
                    with self._lock:
                        self._finished += len(records)
                        self._progress.notify_all()
        finally:
            try:
                self._http.close()
            except Exception:
                log.debug("daytwo: closing the HTTP client failed", exc_info=True)

    def _next_batch(self) -> list[object] | None:
        """Wait for a full batch, the flush interval, a flush() or close(); None: stop."""
        with self._lock:
            first_seen: float | None = None
            while True:
                waiting = len(self._queue)
                if not waiting:
                    if self._closing:
                        return None
                    first_seen = None
                    self._has_work.wait()
                    continue
                if waiting >= self._batch_size or self._closing or self._taken < self._flush_upto:
                    break
                now = time.monotonic()
                if first_seen is None:
                    first_seen = now
                left = first_seen + self._flush_interval - now
                if left <= 0:
                    break
                self._has_work.wait(left)
            take = min(waiting, self._batch_size)
            self._taken += take
            return [self._queue.popleft() for _ in range(take)]

    def _process(self, records: list[object]) -> None:
        lines: list[Line] = []
        unsendable: list[UndeliveredRecord] = []
        for record in records:
            try:
                line = encode(record)
            except Exception as exc:
                unsendable.append(
                    UndeliveredRecord(
                        id=_safe_id(record), reason="invalid", message=f"cannot serialise: {exc}"
                    )
                )
                continue
            if len(line.data) + 1 > self._max_batch_bytes:
                unsendable.append(
                    UndeliveredRecord(
                        id=line.id,
                        reason="invalid",
                        message=f"{len(line.data)} bytes: over the {self._max_batch_bytes}-byte "
                        "request limit",
                        line=line.data,
                    )
                )
                continue
            lines.append(line)
        if unsendable:
            self._count(rejected=len(unsendable))
            self._report(unsendable)
        for chunk in chunks(lines, self._batch_size, self._max_batch_bytes):
            todo = deque([chunk])
            while todo:
                todo.extendleft(reversed(self._send(todo.popleft())))

    def _send(self, part: list[Line]) -> list[list[Line]]:
        """Deliver one request's records, retrying as needed; returns parts to send instead."""
        attempt = 0
        body = ndjson(part)
        while True:
            if self._past_deadline():
                self._give_up(part, "the client closed before the batch could be delivered")
                return []
            status: int | None = None
            retry_after: float | None = None
            try:
                response = self._http.post(INGEST_PATH, content=body, params=self._params)
            except httpx.TransportError as exc:  # connection trouble and timeouts
                problem = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a broken custom transport must not stop the sender
                log.debug("daytwo: the request raised", exc_info=True)
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    self._acknowledged(part, response)
                    return []
                if status == 413 and len(part) > 1:
                    half = len(part) // 2
                    return [part[:half], part[half:]]
                if status == 413:
                    self._reject(part, "too large for the server (HTTP 413)", status)
                    return []
                if status == 422:
                    remaining = self._drop_invalid(part, response)
                    if remaining is None:
                        self._give_up(part, _describe(response), status)
                        return []
                    if not remaining:
                        return []
                    part, body = remaining, ndjson(remaining)
                    continue  # the valid rest, at once: the server refused only the others
                if status < 500 and status not in _RETRYABLE_STATUS:
                    self._give_up(part, _describe(response), status)
                    return []
                problem = _describe(response)
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            if attempt >= self._max_retries:
                self._give_up(part, f"{problem} (after {attempt} retries)", status)
                return []
            delay = retry_after
            if delay is None:
                delay = backoff_delay(attempt, self._backoff_base, self._backoff_max, self._rng)
            log.debug("daytwo: %s; retrying %d records in %.2fs", problem, len(part), delay)
            if not self._pause(delay):
                self._give_up(part, f"{problem}; the client closed before a retry", status)
                return []
            attempt += 1
            self._count(retries=1)

    def _acknowledged(self, part: list[Line], response: httpx.Response) -> None:
        answer = _json(response)
        errors = answer.get("errors")
        invalid = _invalid_by_index(part, errors if isinstance(errors, list) else [], None)
        accepted = answer.get("accepted")
        if not isinstance(accepted, int):
            accepted = len(part) - len(invalid)
        self._count(sent=len(part), accepted=accepted, rejected=len(part) - accepted)
        if invalid:
            self._report(list(invalid.values()))

    def _drop_invalid(self, part: list[Line], response: httpx.Response) -> list[Line] | None:
        """After a 422: report the records the server named; the rest, or None if it named none."""
        error = _json(response).get("error")
        errors = error.get("errors") if isinstance(error, dict) else None
        if not isinstance(errors, list):
            return None
        invalid = _invalid_by_index(part, errors, 422)
        if not invalid:
            return None
        self._count(rejected=len(invalid))
        self._report(list(invalid.values()))
        return [line for i, line in enumerate(part) if i not in invalid]

    def _reject(self, part: Sequence[Line], message: str, status: int | None) -> None:
        self._count(rejected=len(part))
        self._report([_undelivered(line, "invalid", message, status) for line in part])

    def _give_up(self, part: Sequence[Line], message: str, status: int | None = None) -> None:
        self._count(failed=len(part), failed_batches=1)
        self._report([_undelivered(line, "failed", message, status) for line in part])

    def _report(self, records: list[UndeliveredRecord]) -> None:
        if self._on_error is not None:
            try:
                self._on_error(records)
            except Exception:
                log.exception("daytwo: on_error raised; ignored")
            return
        first = records[0]
        log.warning(
            "daytwo: %d record(s) not stored (%s); first: id %r: %s",
            len(records),
            first.reason,
            first.id,
            first.message,
        )

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta

    def _past_deadline(self) -> bool:
        give_up_at = self._give_up_at
        return give_up_at is not None and time.monotonic() >= give_up_at

    def _pause(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; False (at once) if that would pass close()'s deadline."""
        end = time.monotonic() + delay
        while True:
            give_up_at = self._give_up_at
            if give_up_at is not None and end > give_up_at:
                return False
            left = end - time.monotonic()
            if left <= 0:
                return True
            self._interrupt.wait(left)
            self._interrupt.clear()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _describe(response: httpx.Response) -> str:
    error = _json(response).get("error")
    message = error.get("message") if isinstance(error, dict) else None
    reason = f"HTTP {response.status_code}"
    return f"{reason}: {message}" if isinstance(message, str) else reason


def _invalid_by_index(
    part: Sequence[Line], errors: list[Any], status: int | None
) -> dict[int, UndeliveredRecord]:
    """The server's per-field errors, merged into one :class:`UndeliveredRecord` per record."""
    messages: dict[int, list[tuple[str, str]]] = {}
    for error in errors:
        if not isinstance(error, dict):
            continue
        index = error.get("index")
        if isinstance(index, int) and 0 <= index < len(part):
            field = str(error.get("field") or "")
            messages.setdefault(index, []).append((field, str(error.get("message") or "")))
    out: dict[int, UndeliveredRecord] = {}
    for index, problems in messages.items():
        line = part[index]
        out[index] = UndeliveredRecord(
            id=line.id,
            reason="invalid",
            message="; ".join(f"{f}: {m}" if f else m for f, m in problems),
            status=status,
            fields=tuple(f for f, _ in problems if f),
            line=line.data,
        )
    return out


def _undelivered(
    line: Line, reason: Literal["invalid", "failed"], message: str, status: int | None
) -> UndeliveredRecord:
    return UndeliveredRecord(
        id=line.id, reason=reason, message=message, status=status, line=line.data
    )


def _safe_id(record: object) -> str | None:
    try:
        return record_id(record)
    except Exception:
        return None


# -- process-wide hooks: one per process, whatever the number of clients --------------------

_LIVE: weakref.WeakSet[Client] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    """Interpreter exit: all clients flush at once, each within its ``shutdown_timeout``."""
    started = time.monotonic()
    clients = list(_LIVE)
    for client in clients:
        client._begin_close(started + client._shutdown_timeout)
    for client in clients:
        client._await_closed(started + client._shutdown_timeout)


def _restart_in_forked_child() -> None:
    # The parent's sender thread does not exist in the child and its locks may be held: start
    # afresh with an empty queue (the parent still sends what it had queued).
    for client in list(_LIVE):
        client._start()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_in_forked_child)
