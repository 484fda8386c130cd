"""Comparing an engine's read with its twin computed from the raw rows."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


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
