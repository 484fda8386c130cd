"""What the SDK puts on the wire, and when it tries again.

Pure functions, no threads and no I/O: turning what the host app logs into NDJSON lines, the
outcome types the client reports (:class:`ClientStats`, :class:`UndeliveredRecord`), and the
timing rules of re-sending (full-jitter backoff, ``Retry-After``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import orjson

#: The server's limits per request (see ``POST /api/v1/ingest``).
MAX_BATCH_RECORDS = 5000
MAX_BATCH_BYTES = 20 * 1024 * 1024

#: A ``Retry-After`` longer than this is taken as this: a misconfigured proxy must not park the
#: sender for hours.
RETRY_AFTER_CAP_S = 300.0

# Naive datetimes inside a logged dict are read as UTC (the same rule `log_interaction` applies,
# with its warning); numpy values and non-string keys (``{3: "x"}``) serialise instead of failing.
_ORJSON_OPTIONS = (
    orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
)


@dataclass(frozen=True, slots=True)
class ClientStats:
    """A snapshot of what a :class:`~daytwo.sdk.Client` has done with what it was given.

    Every record that ``log()`` accepted is, at any moment, in exactly one of ``queued``,
    ``accepted``, ``rejected`` or ``failed``; records ``log()`` refused are counted in
    ``dropped`` and nowhere else.
    """

    queued: int = 0
    """Accepted by ``log()``, not yet delivered or given up (waiting, or in flight)."""
    sent: int = 0
    """Records in requests the server acknowledged with a 2xx answer."""
    accepted: int = 0
    """Records the server stored."""
    rejected: int = 0
    """Records refused as invalid (by the server, or unserialisable / too large here)."""
    failed: int = 0
    """Records given up: retries exhausted, a non-retryable answer, or shutdown time out."""
    dropped: int = 0
    """Records ``log()`` refused because the queue was full or the client closed."""
    retries: int = 0
    """Requests sent again after a retryable failure."""
    failed_batches: int = 0
    """Requests given up (their records are counted in ``failed``)."""


@dataclass(frozen=True, slots=True)
class UndeliveredRecord:
    """One record that will not be stored; handed to ``on_error`` and never re-sent.

    ``reason`` is ``"invalid"`` when the record itself is at fault (re-sending cannot help)
    and ``"failed"`` when delivery was given up (the record may be fine: ``line`` is the exact
    NDJSON line, ready for a dead-letter file that ``daytwo import`` reads back; empty when
    the record could not be serialised at all).
    """

    id: str | None
    reason: Literal["invalid", "failed"]
    message: str
    status: int | None = None
    """The HTTP status of the answer that settled it, if there was one."""
    fields: tuple[str, ...] = ()
    """The offending fields, for ``"invalid"`` records the server named."""
    line: bytes = b""


@dataclass(frozen=True, slots=True)
class Line:
    """One serialised interaction: its id (for error reports) and its JSON bytes."""

    id: str | None
    data: bytes


def _fallback(value: Any) -> Any:
    # orjson calls this for types it does not know; keep numbers numbers, the rest as text.
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True, by_alias=True)
    return str(value)


def record_id(record: object) -> str | None:
    """The ``id`` of a logged record, however it was given; ``None`` when it has none."""
    value = record.get("id") if isinstance(record, Mapping) else getattr(record, "id", None)
    return None if value is None else str(value)


def encode(record: object) -> Line:
    """Serialise one logged record (a mapping, pydantic model or dataclass) to a JSON line.

    Raises ``TypeError`` when it cannot be serialised or is not a JSON object.
    """
    payload: Any = record
    if isinstance(record, Mapping):
        if not isinstance(record, dict):
            payload = dict(record)
    else:
        dump = getattr(record, "model_dump", None)
        if callable(dump):
            payload = dump(exclude_none=True, by_alias=True)
    data = orjson.dumps(payload, default=_fallback, option=_ORJSON_OPTIONS)
    if not data.startswith(b"{"):
        raise TypeError(f"an interaction must be a JSON object, not {type(record).__name__}")
    return Line(id=record_id(payload), data=data)


def ndjson(lines: Sequence[Line]) -> bytes:
    """The request body: one JSON object per line."""
    return b"".join(line.data + b"\n" for line in lines)


def chunks(lines: Sequence[Line], max_records: int, max_bytes: int) -> Iterator[list[Line]]:
    """Split ``lines`` into request bodies within both limits, keeping their order.

    Each line must itself fit in ``max_bytes`` (with its newline).
    """
    chunk: list[Line] = []
    size = 0
    for line in lines:
        cost = len(line.data) + 1
        if chunk and (len(chunk) >= max_records or size + cost > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += cost
    if chunk:
        yield chunk


def wire_datetimes(value: Any, on_naive: Callable[[], None]) -> Any:
    """``value`` with every datetime (also inside dicts and lists) as ISO-8601 with a zone.

    A naive datetime is taken as UTC and ``on_naive`` is called, so the caller can warn.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            on_naive()
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: wire_datetimes(v, on_naive) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wire_datetimes(v, on_naive) for v in value]
    return value


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2**attempt)]``."""
    return rng.uniform(0.0, min(cap, base * 2.0 ** min(attempt, 60)))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)
