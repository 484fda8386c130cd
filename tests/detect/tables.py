"""Comparing an engine's read with its twin computed from the raw rows, on weeks of stored
conversations."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.data import Window
from daytwo.ingest.decode import decode_json
from daytwo.store.events import EventStore

Record = Callable[[int, datetime, random.Random], dict[str, Any]]

# Not at midnight: the last days are counted back from the end; the baseline is UTC days.
END = datetime(2026, 10, 31, 15, 20, 7, 250_000, tzinfo=UTC)
MIDNIGHT = END.replace(hour=0, minute=0, second=0, microsecond=0)
WINDOW = Window(
    MIDNIGHT - timedelta(weeks=7), MIDNIGHT - timedelta(weeks=5), END - timedelta(days=7), END
)


def replay_looks(window: Window = WINDOW) -> list[Window]:
    """Two looks of a replay's history: ``window``'s current week ending three days before its
    end, and ending at its end."""
    end = window.current_end
    return [
        replace(window, current_start=e - timedelta(days=7), current_end=e)
        for e in (end - timedelta(days=3), end)
    ]


def store_weeks(events: EventStore, record: Record, end: datetime, seed: int) -> None:
    """Eight weeks of conversations made by ``record``, one every 12 minutes, up to ``end``."""
    rnd = random.Random(seed)
    start = end - timedelta(weeks=8)
    step = timedelta(minutes=12)
    records = [record(i, start + i * step, rnd) for i in range(int((end - start) / step))]
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    events.write(decoded.batch, source="test", batch_id="a")


def comparable_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """A read's rows in one order: times as microseconds, floats to 9 significant digits (the
    engine may add a mean's values in another order)."""
    columns = []
    for c in table.columns:
        if pa.types.is_timestamp(c.type):
            c = pc.cast(c, pa.int64())
        values = c.to_pylist()
        columns.append([float(f"{v:.9g}") if isinstance(v, float) else v for v in values])
    return sorted(zip(*columns, strict=True), key=repr)
