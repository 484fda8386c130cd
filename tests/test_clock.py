"""The clock's one way to give a stored time its zone back: naive is UTC, aware stays as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from daytwo.clock import aware, aware_from_iso


def test_a_naive_time_is_utc_and_an_aware_one_keeps_its_zone() -> None:
    assert aware(datetime(2026, 3, 1, 9)) == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert aware(datetime(2026, 3, 1, 9)).tzinfo is UTC
    dublin_summer = timezone(timedelta(hours=1))
    at = datetime(2026, 7, 1, 9, tzinfo=dublin_summer)
    assert aware(at) is at  # not moved to UTC: the callers that need UTC say so
    assert aware(at).astimezone(UTC).hour == 8


def test_iso_text_without_an_offset_is_utc() -> None:
    assert aware_from_iso("2026-03-01T09:00:00") == datetime(2026, 3, 1, 9, tzinfo=UTC)
    at = aware_from_iso("2026-03-01T09:00:00+02:00")
    assert at.utcoffset() == timedelta(hours=2)
    assert at == datetime(2026, 3, 1, 7, tzinfo=UTC)
