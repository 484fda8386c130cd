"""The trace workers' warm-up request goes the whole way, so a worker has loaded what the
first real request needs before it arrives; rows cross from a worker as Arrow IPC intact."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from daytwo.governance.plan import RedactionPlan
from daytwo.ingest.otlp.spans import Limits
from daytwo.ingest.otlp.workers import (
    Job,
    MappingPool,
    _ready,
    _warm_up_body,
    answer,
    decode_and_prepare,
    rows_from_ipc,
    rows_to_ipc,
)


def test_the_warm_up_request_is_mapped_checked_and_redacted_like_a_real_one() -> None:
    job = Job(_warm_up_body(), None, None, 1 << 20, None, Limits(), RedactionPlan())
    prepared = decode_and_prepare(job)
    assert prepared.received.accepted == 1
    assert prepared.received.rejected == 0
    assert prepared.deployments == ["warm-up"]
    assert prepared.rows.column("role").to_pylist() == ["user", "assistant"]
    assert prepared.rows.column("text").to_pylist() == ["hi", "ok"]
    assert _ready() is True
    assert rows_from_ipc(rows_to_ipc(prepared.rows)).equals(prepared.rows)


def test_a_workers_answer_carries_the_rows_as_ipc_and_no_table() -> None:
    """Pickling a table, even an empty one, costs milliseconds per request in the worker and
    in the server's pool thread: the answer holds only bytes and plain values."""
    job = Job(_warm_up_body(), None, None, 1 << 20, None, Limits(), RedactionPlan())
    prepared = decode_and_prepare(job)
    ipc, deployments, received = pickle.loads(pickle.dumps(answer(prepared)))
    assert not any(isinstance(part, pa.Table) for part in answer(prepared))
    assert rows_from_ipc(ipc).equals(prepared.rows)
    assert deployments == prepared.deployments
    assert received == prepared.received


def test_a_worker_maps_without_pandas() -> None:
    """pyarrow imports pandas on its first array where it is installed (40 MB a worker); the
    workers leave it out and map, check and redact all the same."""
    pool = MappingPool(1)
    try:
        pool.start()
        assert pool.ready(timeout=120)
        job = Job(_warm_up_body(), None, None, 1 << 20, None, Limits(), RedactionPlan())
        prepared = asyncio.run(pool.prepare(job))
        assert prepared.rows.column("text").to_pylist() == ["hi", "ok"]
        assert pool.in_thread == 0  # the worker mapped it
        with pytest.raises(ImportError, match="left out of daytwo's worker processes"):
            pool._executor().submit(importlib.util.find_spec, "pandas").result(timeout=60)
    finally:
        pool.close()


def test_requests_are_prepared_in_the_server_until_the_workers_are_warm() -> None:
    """Spawning and warming a worker takes over ten seconds on a busy machine, past an
    exporter's 10 s timeout: a request does not wait for it, the server prepares it."""
    pool = MappingPool(1, warm_up=functools.partial(time.sleep, 0.5))
    job = Job(_warm_up_body(), None, None, 1 << 20, None, Limits(), RedactionPlan())
    try:
        assert not pool.ready(timeout=0)  # no pool yet
        pool.start()
        prepared = asyncio.run(pool.prepare(job))  # the worker is still sleeping
        assert prepared.rows.column("text").to_pylist() == ["hi", "ok"]
        assert pool.in_thread == 1
        assert pool.ready(timeout=120)
        prepared = asyncio.run(pool.prepare(job))
        assert prepared.rows.column("text").to_pylist() == ["hi", "ok"]
        assert pool.in_thread == 1  # this one went to the worker
    finally:
        pool.close()


def test_a_server_stopping_does_not_wait_for_the_warm_ups() -> None:
    """A server stopped soon after it started closes a pool whose workers are still warming
    up: they are stopped, not waited for."""
    pool = MappingPool(1, warm_up=functools.partial(time.sleep, 120))
    pool.start()
    assert not pool.ready(timeout=0)
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 60  # the warm-up alone would take 120 s
    assert not pool.ready(timeout=0)  # closed: no pool


_ORPHAN_SCRIPT = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from daytwo import worker_start

if __name__ == "__main__":
    pool = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker_start.start,
        initargs=(os.getpid(), 0.1),
    )
    print(pool.submit(os.getpid).result(timeout=60), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waiting for its new parent to reap it counts as gone
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def test_a_worker_leaves_when_its_server_is_killed(tmp_path: Path) -> None:
    """A server killed with kill -9 cannot shut its pool down; its workers see their parent
    gone and end instead of running on as orphans (100 MB or more each)."""
    script = tmp_path / "server.py"
    script.write_text(_ORPHAN_SCRIPT)
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        worker = int(server.stdout.readline())
        assert _alive(worker)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), f"worker {worker} outlived its killed server"
    finally:
        server.kill()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
