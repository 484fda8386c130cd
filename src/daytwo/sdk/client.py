"""The daytwo SDK client: log interactions from the app itself, batched, retried, non-blocking.

::

    from datetime import UTC, datetime

    from daytwo.sdk import Client

    with Client("https://daytwo.example.com", api_key="dt_...") as daytwo:
        daytwo.log_interaction(
            id="c-000123",
            deployment="care-bot",
            started_at=datetime.now(UTC),
            outcome="contained",
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
import time
import weakref
from collections.abc import Mapping
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from daytwo.sdk._sender import OnError, Sender, SenderOptions
from daytwo.sdk._wire import MAX_BATCH_BYTES, MAX_BATCH_RECORDS, ClientStats, wire_datetimes

if TYPE_CHECKING:
    from pydantic import BaseModel

log = logging.getLogger("daytwo.sdk")


def _user_agent() -> str:
    try:
        return f"daytwo-python/{version('daytwo')}"
    except PackageNotFoundError:
        return "daytwo-python"


class Client:
    """Sends interactions to a daytwo server in the background.

    Args:
        base_url: the server, e.g. ``"https://daytwo.example.com"``.
        api_key: sent as ``Authorization: Bearer <api_key>``; default: ``$DAYTWO_API_KEY``.
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

    Bad options raise ``ValueError`` here; after that the client never raises into the host
    application: ``log()`` is O(1) and never blocks, and trouble is counted in :attr:`stats`
    and logged on the ``daytwo.sdk`` logger. Records still queued when the interpreter exits
    are sent within ``shutdown_timeout`` (an ``atexit`` hook); call :meth:`close` to do it
    earlier. A process forked after the client was made gets its own sender and an empty
    queue.

    Retries are safe: ingest is idempotent by interaction ``id``, so a batch sent again
    (because its answer was lost, say) replaces its own earlier copy and is never counted
    twice.
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
        # The environment is read here, when a client is made, never at import.
        self._api_key = api_key or os.environ.get("DAYTWO_API_KEY") or None
        self._timeout = timeout
        self._transport = transport
        self._shutdown_timeout = shutdown_timeout
        self._options = SenderOptions(
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            partial=partial,
            max_batch_bytes=max_batch_bytes,
            on_error=on_error,
        )
        self._warned_naive = False
        self._sender = self._new_sender()
        _LIVE.add(self)

    def _new_sender(self) -> Sender:
        headers = {"content-type": "application/x-ndjson", "user-agent": _user_agent()}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=self._timeout,
            transport=self._transport,
        )
        return Sender(self._options, http)

    def _restart_after_fork(self) -> None:
        # The parent's thread does not exist in a forked child and its locks may be held: a
        # new sender with an empty queue (the parent still sends what it had queued).
        self._sender = self._new_sender()

    # -- the host application's side ---------------------------------------------------------

    def log(self, interaction: Mapping[str, Any] | BaseModel) -> bool:
        """Queue one interaction (wire format: a dict, a pydantic model or a dataclass).

        Never blocks and never raises: returns ``False`` (and counts the record in
        ``stats.dropped``) when the queue is full or the client is closed. The record is
        serialised later, on the sender thread, so do not change it after logging it.
        """
        return self._sender.put(interaction)

    def log_interaction(
        self, *, id: str, deployment: str, started_at: datetime | str, **fields: Any
    ) -> bool:
        """Build a wire-format interaction from keyword arguments and queue it.

        Datetimes anywhere in it (``started_at``, ``ended_at``, ``turns[].ts``...) become
        ISO-8601 strings with their zone; naive datetimes are taken as UTC (warned once).
        Returns what :meth:`log` returns. ::

            client.log_interaction(
                id="c-1", deployment="care-bot", started_at=datetime.now(UTC),
                outcome="escalated", turns=[{"seq": 0, "role": "user", "text": "hi"}],
            )
        """
        record = {"id": id, "deployment": deployment, "started_at": started_at, **fields}
        try:
            record = wire_datetimes(record, self._naive_datetime)
        except Exception:  # e.g. a self-referencing value: the sender reports it as invalid
            log.debug("daytwo: could not convert the datetimes of %r", id, exc_info=True)
        return self.log(record)

    def _naive_datetime(self) -> None:
        if not self._warned_naive:
            self._warned_naive = True
            log.warning("daytwo: naive datetimes are taken as UTC; pass aware datetimes")

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every record logged so far is delivered or given up.

        Returns ``False`` if ``timeout`` seconds passed first (the records stay queued), or
        when called from ``on_error`` (the sender cannot wait for itself).
        """
        return self._sender.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Send what is queued, stop the sender and release its connections.

        Waits until everything is delivered or given up, at most ``timeout`` seconds when
        given (then what is left is given up and reported). Later ``log()`` calls drop.
        Returns ``True`` when the sender finished in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._sender.begin_close(deadline)
        _LIVE.discard(self)
        return self._sender.await_closed(deadline)

    def report_friction(
        self,
        deployment: str,
        text: str,
        *,
        author: str | None = None,
        interaction_id: str | None = None,
        theme: str | None = None,
    ) -> int:
        """Send an agent's friction report now (not queued) and return its feedback id.

        Unlike :meth:`log`, this waits for the server: a refused report (an unknown
        deployment or interaction, say) raises ``ValueError`` with the server's message, and
        a server that cannot be reached raises ``httpx.HTTPError``.
        """
        body = {"deployment": deployment, "source": "agent", "kind": "friction", "text": text,
                "author": author, "interaction_id": interaction_id, "theme": theme}  # fmt: skip
        headers = {"user-agent": _user_agent()}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        with httpx.Client(
            base_url=self.base_url, headers=headers, timeout=self._timeout,
            transport=self._transport,
        ) as http:  # fmt: skip
            r = http.post("/api/v1/feedback", json=body)
        if r.status_code >= 500:
            r.raise_for_status()
        if r.status_code != 201:
            try:
                message = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = r.text[:300]
            raise ValueError(f"daytwo refused the report ({r.status_code}): {message}")
        return int(r.json()["id"])

    @property
    def stats(self) -> ClientStats:
        """A consistent snapshot of the counters (see :class:`ClientStats`)."""
        return self._sender.stats()

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


# -- process-wide hooks: one per process, whatever the number of clients --------------------

_LIVE: weakref.WeakSet[Client] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    """Interpreter exit: all clients flush at once, each within its ``shutdown_timeout``."""
    started = time.monotonic()
    clients = list(_LIVE)
    for client in clients:
        client._sender.begin_close(started + client._shutdown_timeout)
    for client in clients:
        client._sender.await_closed(started + client._shutdown_timeout)


def _restart_in_forked_child() -> None:
    for client in list(_LIVE):
        client._restart_after_fork()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_in_forked_child)
