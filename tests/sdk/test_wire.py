"""The SDK's pure rules: serialisation, body splitting, backoff and Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

import orjson
import pytest

from daytwo.sdk._wire import (
    RETRY_AFTER_CAP_S,
    Line,
    backoff_delay,
    chunks,
    encode,
    ndjson,
    parse_retry_after,
    wire_datetimes,
)


@dataclass
class Odd:
    id: str
    deployment: str


def test_encode_handles_odd_types_without_failing() -> None:
    line = encode(
        {
            "id": 7,
            "deployment": "d",
            "started_at": datetime(2026, 3, 2, 9, 0),
            "cost": Decimal("0.031"),
            "tags": {"b"},
            "segments": {3: "x"},
            "other": complex(1, 2),
        }
    )
    assert line.id == "7"
    assert orjson.loads(line.data) == {
        "id": 7,
        "deployment": "d",
        "started_at": "2026-03-02T09:00:00Z",
        "cost": 0.031,
        "tags": ["b"],
        "segments": {"3": "x"},
        "other": "(1+2j)",
    }


def test_encode_takes_mappings_and_dataclasses() -> None:
    assert encode(MappingProxyType({"id": "a"})).data == b'{"id":"a"}'
    assert encode(Odd("b", "d")) == Line(id="b", data=b'{"id":"b","deployment":"d"}')


def test_encode_refuses_what_is_not_an_object() -> None:
    with pytest.raises(TypeError):
        encode(["not", "an", "object"])
    with pytest.raises(TypeError):
        encode(object())


def test_ndjson_is_one_line_per_record_even_with_newlines_in_text() -> None:
    lines = [encode({"id": "a", "text": "two\nlines"}), encode({"id": "b"})]
    body = ndjson(lines)
    assert body.count(b"\n") == 2
    assert [orjson.loads(x)["id"] for x in body.splitlines()] == ["a", "b"]


def test_chunks_respect_both_limits_and_order() -> None:
    lines = [Line(str(n), b"x" * 9) for n in range(10)]  # 10 bytes each with the newline
    assert [len(c) for c in chunks(lines, max_records=4, max_bytes=1000)] == [4, 4, 2]
    assert [len(c) for c in chunks(lines, max_records=100, max_bytes=30)] == [3, 3, 3, 1]
    assert [x for c in chunks(lines, 3, 25) for x in c] == lines
    assert list(chunks([], 3, 25)) == []


def test_wire_datetimes_converts_nested_values_and_reports_naive_ones() -> None:
    naive: list[int] = []
    value = {
        "a": datetime(2026, 1, 1, tzinfo=UTC),
        "b": [{"ts": datetime(2026, 1, 1, 12)}],
        "c": (date(2026, 1, 2), "text", 3),
    }
    assert wire_datetimes(value, lambda: naive.append(1)) == {
        "a": "2026-01-01T00:00:00+00:00",
        "b": [{"ts": "2026-01-01T12:00:00+00:00"}],
        "c": ["2026-01-02", "text", 3],
    }
    assert naive == [1]


def test_backoff_is_full_jitter_under_the_cap() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range, not a fixed step
    assert backoff_delay(10_000, 0.5, 30.0, rng) <= 30.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 0.25 ", 0.25),
        ("-4", 0.0),
        ("100000", RETRY_AFTER_CAP_S),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date() -> None:
    now = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=12)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now=now) == 12.0
    assert parse_retry_after("Mon, 02 Mar 2026 08:00:00 GMT", now=now) == 0.0
