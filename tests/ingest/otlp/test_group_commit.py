"""Requests staged at once share a transaction; each still answers for its own rows only."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pytest

from daytwo.ingest.otlp.grouped import StageGroup
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.events.base import AuditCount
from daytwo.store.events.staging import STAGED
from tests.ingest.otlp.conftest import all_staged


def _rows(conversation: str, n: int, deployment: str | None = "care-bot") -> pa.Table:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "deployment": [deployment] * n,
        "conversation": [conversation] * n,
        "keyed": [True] * n,
        "trace_id": ["t" * 32] * n,
        "span_id": [f"{conversation}-{i}" for i in range(n)],
        "part": [0] * n,
        "source": ["llm"] * n,
        "span_start": [now] * n,
        "span_end": [now] * n,
        "received_at": [now] * n,
        "role": ["user"] * n,
        "text": ["hello"] * n,
    }
    schema = STAGED
    if deployment is None:  # breaks the store's NOT NULL, as only a fault could
        schema = pa.schema([f.with_nullable(True) for f in STAGED])
    columns = [values.get(f.name, [None] * n) for f in schema]
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


class _SlowFirst:
    """The store, its first staging held until the others are waiting."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.calls: list[int] = []
        self.release = threading.Event()

    def stage(self, rows: pa.Table, audit: Sequence[AuditCount] = ()) -> None:
        self.calls.append(rows.num_rows)
        if len(self.calls) == 1:
            self.release.wait(10)
        self.store.stage(rows, audit)


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return open_event_store(f"duckdb:///{tmp_path}/events.duckdb")


def _caller(name: str) -> AuditCount:
    return AuditCount(name, "http.post", "/v1/traces", None, "10.0.0.1", 200, "/v1/traces")


def _stage_at_once(
    group: StageGroup,
    tables: list[pa.Table],
    slow: _SlowFirst,
    callers: list[AuditCount | None] | None = None,
) -> list[Any]:
    outcomes: list[Any] = [None] * len(tables)

    def send(i: int) -> None:
        try:
            group.stage(tables[i], callers[i] if callers else None)
            outcomes[i] = "ok"
        except Exception as exc:
            outcomes[i] = exc

    first = threading.Thread(target=send, args=(0,))
    first.start()
    while not slow.calls:
        time.sleep(0.01)
    rest = [threading.Thread(target=send, args=(i,)) for i in range(1, len(tables))]
    for t in rest:
        t.start()
    deadline = time.monotonic() + 10
    while len(group._queue) < len(rest) and time.monotonic() < deadline:
        time.sleep(0.01)
    slow.release.set()
    for t in [first, *rest]:
        t.join(10)
    return outcomes


def test_waiting_requests_share_one_transaction(store: EventStore) -> None:
    slow = _SlowFirst(store)
    group = StageGroup(cast(EventStore, slow))
    tables = [_rows(f"c{i}", 3 + i) for i in range(4)]
    outcomes = _stage_at_once(group, tables, slow)
    assert outcomes == ["ok"] * 4
    # The first alone, then the three that waited for it together.
    assert slow.calls == [3, 4 + 5 + 6]
    assert group.transactions == 2
    staged = all_staged(store)["conversation"].to_pylist()
    assert sorted(Counter(staged).items()) == [(f"c{i}", 3 + i) for i in range(4)]


def test_a_failing_request_fails_alone(store: EventStore) -> None:
    slow = _SlowFirst(store)
    group = StageGroup(cast(EventStore, slow))
    bad = _rows("bad", 2, deployment=None)
    tables = [_rows("c0", 1), _rows("c1", 2), bad.cast(bad.schema), _rows("c3", 3)]
    tables = [t.cast(tables[2].schema) for t in tables]  # one schema, as the door sends
    outcomes = _stage_at_once(group, tables, slow)
    assert outcomes[0] == outcomes[1] == outcomes[3] == "ok"
    assert isinstance(outcomes[2], Exception)
    staged = all_staged(store)["conversation"].to_pylist()
    assert sorted(set(staged)) == ["c0", "c1", "c3"]


def test_each_callers_requests_are_counted_in_the_transaction_of_their_rows(
    store: EventStore,
) -> None:
    """A shared transaction holds one audit count per caller, summing its requests; a request
    that fails alone takes its count with it, and the others keep theirs."""
    slow = _SlowFirst(store)
    group = StageGroup(cast(EventStore, slow))
    bad = _rows("bad", 2, deployment=None)
    tables = [_rows("c0", 1), _rows("c1", 2), bad, _rows("c3", 3), _rows("c4", 1)]
    tables = [t.cast(bad.schema) for t in tables]
    a, b = _caller("key:a"), _caller("key:b")
    outcomes = _stage_at_once(group, tables, slow, [a, a, b, a, b])
    assert [o == "ok" for o in outcomes] == [True, True, False, True, True]
    counts: Counter[str] = Counter()
    for row in store.staged_audit().to_pylist():
        counts[row["actor"]] += row["requests"]
    assert sorted(counts.items()) == [("key:a", 3), ("key:b", 1)]
