"""The trace workers' warm-up request goes the whole way, so a worker has loaded what the
first real request needs before it arrives; rows cross from a worker as Arrow IPC intact."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from daytwo.governance.plan import RedactionPlan
from daytwo.ingest.otlp.spans import Limits
from daytwo.ingest.otlp.workers import (
    Job,
    MappingPool,
    _ready,
    _warm_up_body,
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


def test_a_worker_maps_without_pandas() -> None:
    """pyarrow imports pandas on its first array where it is installed (40 MB a worker); the
    workers leave it out and map, check and redact all the same."""
    pool = MappingPool(1)
    try:
        job = Job(_warm_up_body(), None, None, 1 << 20, None, Limits(), RedactionPlan())
        prepared = asyncio.run(pool.prepare(job))
        assert prepared.rows.column("text").to_pylist() == ["hi", "ok"]
        with pytest.raises(ImportError, match="left out of daytwo's worker processes"):
            pool._executor().submit(importlib.util.find_spec, "pandas").result(timeout=60)
    finally:
        pool.close()
