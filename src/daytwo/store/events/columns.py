"""Times as the events stores keep them: microseconds since the epoch (Arrow's
``timestamp[us]``), for a single time and for a whole column, where code compares or sorts
times as numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.clock import aware

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(at: datetime) -> int:
    """``at`` in microseconds since the epoch, as Arrow stores ``timestamp[us]`` (a naive time
    taken as UTC, as the stores do)."""
    return (aware(at) - EPOCH) // timedelta(microseconds=1)


def from_epoch_us(us: int) -> datetime:
    """The UTC time ``us`` microseconds after the epoch."""
    return EPOCH + timedelta(microseconds=us)


def column_us(values: pa.Array | pa.ChunkedArray, *, null: int | None = None) -> np.ndarray:
    """A timestamp column in microseconds since the epoch (a column of another unit is
    converted first); its nulls become ``null`` where given (otherwise a column with nulls
    comes back as floats, NaN for each)."""
    kind = values.type
    if pa.types.is_timestamp(kind) and kind.unit != "us":
        values = pc.cast(values, pa.timestamp("us", tz=kind.tz))
    ints = pc.cast(values, pa.int64())
    if null is not None:
        ints = pc.fill_null(ints, null)
    return np.asarray(ints.to_numpy(zero_copy_only=False))
