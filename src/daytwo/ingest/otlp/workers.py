"""Decoding and mapping trace requests in worker processes.

Reading a span's attributes is Python work, one span at a time; one process runs it on one
core. The door hands each request body to a pool of worker processes (``otlp_workers``, by
default one per core) that decompress, parse and map it, and send back the staged rows as Arrow
IPC; the server process only checks, redacts and stages them (Arrow and the store, which release
the GIL). A body that crashes a worker's parser takes only that worker down: the request gets a
503 and the pool is built again.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pyarrow as pa

from daytwo.errors import Overloaded, RecordError
from daytwo.ingest.otlp.decode import decompress, media_type, parse_request
from daytwo.ingest.otlp.spans import Limits, Mapped, SpanMapper

log = logging.getLogger("daytwo.otlp")

_Result = tuple[bytes, list[RecordError], int, int, dict[int, str]]


def decode_and_map(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    max_bytes: int,
    default_deployment: str | None,
    limits: Limits,
) -> Mapped:
    """The whole per-span part of a request: decompress, parse, map."""
    raw = decompress(body, content_encoding, max_bytes)
    request = parse_request(raw, media_type(content_type))
    return SpanMapper(default_deployment, limits).map(request)


def _in_worker(*args: Any) -> _Result:
    """:func:`decode_and_map` in a worker: the rows go back as Arrow IPC bytes."""
    mapped = decode_and_map(*args)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, mapped.rows.schema) as writer:
        writer.write_table(mapped.rows)
    return (
        sink.getvalue().to_pybytes(),
        mapped.errors,
        mapped.spans,
        mapped.skipped,
        (mapped.deployments),
    )


def _ready() -> bool:
    return True


class MappingPool:
    """``workers`` processes that map request bodies; 0 maps in the server's own threads."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: the server has threads and open stores that a fork would copy.
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    def start(self) -> None:
        """Start the workers now (each imports the mapper once, seconds on a small machine),
        so the first requests do not wait for them."""
        if self.workers:
            pool = self._executor()
            for _ in range(self.workers):
                pool.submit(_ready)

    async def map(
        self,
        body: bytes,
        content_type: str | None,
        content_encoding: str | None,
        max_bytes: int,
        default_deployment: str | None,
        limits: Limits,
    ) -> Mapped:
        args = (body, content_type, content_encoding, max_bytes, default_deployment, limits)
        loop = asyncio.get_running_loop()
        if self.workers == 0:
            return await loop.run_in_executor(None, decode_and_map, *args)
        pool = self._executor()
        try:
            ipc, errors, spans, skipped, deployments = await loop.run_in_executor(
                pool, _in_worker, *args
            )
        except BrokenProcessPool:
            log.error("a trace worker died mapping a request of %d bytes", len(body))
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise Overloaded(
                "The worker mapping this request stopped; retry in a few seconds.", retry_after=5
            ) from None
        rows = pa.ipc.open_stream(ipc).read_all()
        return Mapped(rows, errors, spans, skipped, deployments)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
