"""The queue and the background thread behind :class:`~daytwo.sdk.Client`.

One :class:`Sender` per client and process. ``put()`` appends to a bounded deque under a
lock and, at most, wakes the thread; everything slow (serialising, HTTP, waiting to retry,
calling ``on_error``) happens on the thread, which catches whatever goes wrong there.

How an answer is handled:

==========================  ===========================================================
2xx                         delivered; records the server names (partial mode) reported
422 ``invalid_records``     the named records reported, the rest sent again at once
413                         the batch halved and both halves sent; one record: reported
408, 429, 5xx, no answer    retried, backoff with full jitter or ``Retry-After``
any other status            given up and reported, not retried
==========================  ===========================================================
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import orjson

from daytwo.sdk._wire import (
    ClientStats,
    Line,
    UndeliveredRecord,
    backoff_delay,
    chunks,
    encode,
    ndjson,
    parse_retry_after,
    record_id,
)

log = logging.getLogger("daytwo.sdk")

INGEST_PATH = "api/v1/ingest"
_RETRYABLE_STATUS = frozenset({408, 429})
# How often a waiting flush() looks whether the sender is still alive.
_LIVENESS_POLL_S = 0.5

OnError = Callable[[list[UndeliveredRecord]], object]


@dataclass(frozen=True, slots=True)
class SenderOptions:
    """How a sender batches and retries (see :class:`~daytwo.sdk.Client` for each)."""

    batch_size: int
    flush_interval: float
    max_queue: int
    max_retries: int
    backoff_base: float
    backoff_max: float
    partial: bool
    max_batch_bytes: int
    on_error: OnError | None


class Sender:
    """A bounded queue drained by one daemon thread that owns ``http`` (and closes it)."""

    def __init__(self, options: SenderOptions, http: httpx.Client) -> None:
        self._opt = options
        self._http = http
        self._params = {"partial": "true"} if options.partial else {}
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._progress = threading.Condition(self._lock)
        self._interrupt = threading.Event()
        self._queue: deque[object] = deque()
        self._enqueued = 0  # accepted by put()
        self._taken = 0  # taken off the queue by the thread
        self._finished = 0  # delivered, rejected or given up
        self._flush_upto = 0  # the thread sends without waiting until _taken reaches this
        self._closing = False
        self._give_up_at: float | None = None
        self._warned_full = False
        self._warned_closed = False
        self._counts = dict.fromkeys(
            ("sent", "accepted", "rejected", "failed", "dropped", "retries", "failed_batches"), 0
        )
        self._thread = threading.Thread(target=self._run, name="daytwo-sdk-sender", daemon=True)
        self._thread.start()

    # -- the host application's side ---------------------------------------------------------

    def put(self, record: object) -> bool:
        """Queue ``record`` in O(1); ``False`` (counted as dropped) when full or closing."""
        with self._lock:
            if not self._closing and len(self._queue) < self._opt.max_queue:
                self._queue.append(record)
                self._enqueued += 1
                waiting = len(self._queue)
                if waiting == 1 or waiting == self._opt.batch_size:
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
                    self._opt.max_queue,
                )
        return False

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record queued so far is settled; ``False`` on timeout."""
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

    def begin_close(self, deadline: float | None) -> None:
        """Stop taking records; send the rest, giving up what is left at ``deadline``."""
        with self._lock:
            self._closing = True
            if deadline is not None and (self._give_up_at is None or deadline < self._give_up_at):
                self._give_up_at = deadline
            self._has_work.notify_all()
        self._interrupt.set()  # a sender sleeping before a retry looks at the deadline again

    def await_closed(self, deadline: float | None) -> bool:
        """Wait for the thread to end (until ``deadline``); ``True`` when it has."""
        if threading.current_thread() is self._thread:
            return False  # close() from inside on_error: the sender stops after this batch
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        self._thread.join(remaining)
        return not self._thread.is_alive()

    def stats(self) -> ClientStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return ClientStats(queued=self._enqueued - self._finished, **self._counts)

    # -- the thread --------------------------------------------------------------------------

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
                if (
                    waiting >= self._opt.batch_size
                    or self._closing
                    or self._taken < self._flush_upto
                ):
                    break
                now = time.monotonic()
                if first_seen is None:
                    first_seen = now
                left = first_seen + self._opt.flush_interval - now
                if left <= 0:
                    break
                self._has_work.wait(left)
            take = min(waiting, self._opt.batch_size)
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
            limit = self._opt.max_batch_bytes
            if len(line.data) + 1 > limit:
                message = f"{len(line.data)} bytes: over the {limit}-byte request limit"
                unsendable.append(_undelivered(line, "invalid", message, None))
                continue
            lines.append(line)
        if unsendable:
            self._count(rejected=len(unsendable))
            self._report(unsendable)
        for chunk in chunks(lines, self._opt.batch_size, self._opt.max_batch_bytes):
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
            if attempt >= self._opt.max_retries:
                self._give_up(part, f"{problem} (after {attempt} retries)", status)
                return []
            delay = retry_after
            if delay is None:
                delay = backoff_delay(
                    attempt, self._opt.backoff_base, self._opt.backoff_max, self._rng
                )
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
        accepted = min(max(accepted, 0), len(part))
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
        if self._opt.on_error is not None:
            try:
                self._opt.on_error(records)
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
