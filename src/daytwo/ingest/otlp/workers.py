"""Decoding, mapping, checking and redacting trace requests in worker processes.

Reading a span's attributes is Python work, one span at a time; one process runs it on one
core. The door hands each request body, with the redaction plan of the moment, to a pool of
worker processes (``otlp_workers``, by default one per core) that decompress, parse and map it,
run the shared checks and the PII redaction on the whole batch, and send back the rows ready to
stage as Arrow IPC; the server process only authorises the deployments and stages the rows, so
its one interpreter lock is not what limits a busy door. A body that crashes a worker's parser
takes only that worker down: the request gets a 503 and the pool is built again.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from daytwo import worker_start
from daytwo.errors import Overloaded
from daytwo.governance.plan import RedactionPlan
from daytwo.ingest.otlp.decode import decompress, media_type, parse_request
from daytwo.ingest.otlp.receive import Prepared, Received, prepare
from daytwo.ingest.otlp.spans import Limits, SpanMapper
from daytwo.store.events.ipc import from_ipc, to_ipc

log = logging.getLogger("daytwo.otlp")


@dataclass(frozen=True, slots=True)
class Job:
    """One request body and what preparing it needs."""

    body: bytes
    content_type: str | None
    content_encoding: str | None
    max_bytes: int
    default_deployment: str | None  # the key's own deployment, if it has one
    limits: Limits
    redaction: RedactionPlan


def decode_and_prepare(job: Job) -> Prepared:
    """Everything of a request that needs no store: decompress, parse, map, check, redact."""
    raw = decompress(job.body, job.content_encoding, job.max_bytes)
    request = parse_request(raw, media_type(job.content_type))
    mapped = SpanMapper(job.default_deployment, job.limits).map(request)
    return prepare(mapped, job.redaction)


# Rows cross from a worker to the server as Arrow IPC stream bytes.
rows_to_ipc = to_ipc
rows_from_ipc = from_ipc


def answer(prepared: Prepared) -> tuple[bytes, list[str], Received]:
    """What a worker sends back for ``prepared``: the rows as Arrow IPC bytes, the rest as it
    is. (Not as a ``Prepared`` with an empty table: pickling a table, even an empty one,
    writes its schema field by field, about 1.2 ms in the worker and 0.6 ms in the server's
    pool thread per request.)"""
    return rows_to_ipc(prepared.rows), prepared.deployments, prepared.received


def _in_worker(job: Job) -> tuple[bytes, list[str], Received]:
    """:func:`decode_and_prepare` in a worker, sent back as :func:`answer` makes it."""
    return answer(decode_and_prepare(job))


def _warm_up_body() -> bytes:
    """A one-span request that takes every step of the path (messages, checks, redaction)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def kv(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "warm-up"))
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id = b"\x01" * 16, b"\x01" * 8
    span.start_time_unix_nano, span.end_time_unix_nano = 10**18, 10**18 + 10**9
    span.attributes.extend(
        [
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.conversation.id", "warm-up"),
            kv("gen_ai.input.messages", '[{"role": "user", "parts": [{"content": "hi"}]}]'),
            kv("gen_ai.output.messages", '[{"role": "assistant", "parts": [{"content": "ok"}]}]'),
        ]
    )
    body: bytes = request.SerializeToString()
    return body


def _ready() -> bool:
    """Run one small request through the whole path, so that what it loads on first use
    (Arrow's compute and query engine, the redaction patterns) is loaded before the first
    real request: a second or so per worker, at start rather than in a request."""
    job = Job(_warm_up_body(), None, None, 1 << 20, None, Limits(), RedactionPlan())
    decode_and_prepare(job)
    return True


class MappingPool:
    """``workers`` processes that prepare request bodies; 0 prepares them in the server's own
    threads.

    A new pool's workers are spawned and warmed up (each imports the mapper and maps one small
    request, seconds on a small machine, over ten on a busy one); until the warm-ups are done,
    requests are prepared in the server's threads, as with 0 workers, rather than waiting for
    the workers behind them: an exporter gives up on a request after 10 s by default, and
    drops its spans.
    """

    def __init__(self, workers: int, warm_up: Callable[[], object] = _ready) -> None:
        self.workers = workers
        self._warm_up = warm_up
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._warming: list[Future[object]] = []
        self.in_thread = 0  # requests prepared in the server's threads while the pool warmed up

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: the server has threads and open stores that a fork would copy.
                # Each worker leaves pandas out before it imports the mapper (40 MB each),
                # and leaves when this process is gone (a kill -9 cannot shut the pool down).
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=worker_start.start,
                    initargs=(os.getpid(),),
                )
                # Twice as many as workers: each worker is likely to take one.
                self._warming = [self._pool.submit(self._warm_up) for _ in range(2 * self.workers)]
            return self._pool

    def start(self) -> None:
        """Start the workers now, so that the first requests find them warm."""
        if self.workers:
            self._executor()

    def ready(self, timeout: float | None = None) -> bool:
        """Whether the pool's warm-ups are done, waiting up to ``timeout`` seconds for them."""
        with self._lock:
            warming = list(self._warming) if self._pool is not None else None
        if warming is None:
            return False
        done, _ = wait(warming, timeout=timeout)
        return len(done) == len(warming)

    def _warm(self) -> bool:
        return all(f.done() for f in self._warming)

    async def prepare(self, job: Job) -> Prepared:
        loop = asyncio.get_running_loop()
        if self.workers == 0:
            return await loop.run_in_executor(None, decode_and_prepare, job)
        pool = self._executor()
        if not self._warm():
            self.in_thread += 1
            return await loop.run_in_executor(None, decode_and_prepare, job)
        try:
            ipc, deployments, received = await loop.run_in_executor(pool, _in_worker, job)
        except BrokenProcessPool:
            log.error("a trace worker died mapping a request of %d bytes", len(job.body))
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise Overloaded(
                "The worker mapping this request stopped; retry in a few seconds.", retry_after=5
            ) from None
        return Prepared(rows_from_ipc(ipc), deployments, received)

    def close(self) -> None:
        """Shut the workers down. The server has answered every request when it closes the
        pool, so what a worker may still be doing is its warm-up, and that is not waited for
        (a server stopped soon after it started would wait seconds, over ten on a busy
        machine, for workers it no longer needs)."""
        with self._lock:
            pool, self._pool = self._pool, None
            warming, self._warming = self._warming, []
        if pool is None:
            return
        if not all(f.done() for f in warming):
            # The executor has no public way to stop a worker in the middle of a call before
            # Python 3.14's terminate_workers().
            for process in list((pool._processes or {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
