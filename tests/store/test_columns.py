"""Times as numbers: the one conversion of a time or a timestamp column to microseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa

from daytwo.store.events.columns import column_us, epoch_us, from_epoch_us


def test_a_time_and_back() -> None:
    at = datetime(2026, 10, 20, 9, 30, 0, 123456, tzinfo=UTC)
    assert epoch_us(at) == 1_792_488_600_123_456
    assert from_epoch_us(epoch_us(at)) == at
    # A naive time is UTC, as the stores keep it; another zone counts from the same instant.
    assert epoch_us(at.replace(tzinfo=None)) == epoch_us(at)
    paris = at.astimezone(timezone(timedelta(hours=2)))
    assert epoch_us(paris) == epoch_us(at)


def test_a_column_in_any_unit_comes_back_in_microseconds() -> None:
    times = [datetime(2026, 10, 20, 9, 30, tzinfo=UTC), datetime(1969, 12, 31, 23, 0, tzinfo=UTC)]
    want = [epoch_us(t) for t in times]
    for unit in ("s", "ms", "us", "ns"):
        for tz in (None, "UTC"):
            column = pa.array(times, type=pa.timestamp(unit, tz=tz))
            assert column_us(column).tolist() == want, (unit, tz)
    chunked = pa.chunked_array(
        [pa.array(times[:1], pa.timestamp("us")), pa.array(times[1:], pa.timestamp("us"))]
    )
    out = column_us(chunked)
    assert out.dtype == np.int64
    assert out.tolist() == want


def test_a_missing_time_takes_the_number_asked_for() -> None:
    column = pa.array([datetime(2026, 1, 1, tzinfo=UTC), None], type=pa.timestamp("us", tz="UTC"))
    low = int(np.iinfo(np.int64).min)
    assert column_us(column, null=low).tolist() == [epoch_us(datetime(2026, 1, 1, tzinfo=UTC)), low]
    assert np.isnan(column_us(column)[1])
