"""Arbitrary and adversarial JSON and NDJSON: the decoders and the check-and-store path answer
with records or a 4xx error, never a crash, an unexpected exception or a 500.

Hypothesis builds the inputs: any JSON value, valid interactions with one field replaced by an
arbitrary value, deep nesting, NaN and infinity literals, cut lines, random bytes.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daytwo.errors import DaytwoError
from daytwo.ingest.decode import Decoded, decode_json, decode_ndjson
from daytwo.ingest.limits import MAX_DEPTH
from daytwo.ingest.service import prepare
from tests.factory import interaction

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    # Just past what the store keeps (int32 seq, int64 tokens), on both sides.
    | st.sampled_from([2**31, -(2**31) - 1, -140_531_309_942_170, 2**63, -(2**63) - 1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
FIELDS = [
    "id",
    "deployment",
    "started_at",
    "ended_at",
    "channel",
    "journey",
    "customer_ref",
    "segments",
    "outcome",
    "csat",
    "handle_time_s",
    "cost",
    "ai_used",
    "turns",
    "assist_events",
]
TURN_FIELDS = [
    "seq",
    "ts",
    "role",
    "text",
    "intent",
    "confidence",
    "fallback",
    "latency_ms",
    "error",
    "tokens_in",
    "cost",
]


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid interaction with a field, or a field of one of its turns, set to anything."""
    rec = interaction(draw(st.integers(0, 50)), turns=draw(st.integers(0, 4)))
    if rec["turns"] and draw(st.booleans()):
        rec["turns"][0][draw(st.sampled_from(TURN_FIELDS))] = draw(json_values)
    else:
        rec[draw(st.sampled_from(FIELDS))] = draw(json_values)
    return rec


def dumps(value: Any) -> bytes:
    # The standard library writes integers of any size (orjson stops at 64 bits).
    return json.dumps(value, allow_nan=False, ensure_ascii=False).encode()


def nested(depth: int, kind: str) -> bytes:
    return (
        (b"[" * depth + b"]" * depth)
        if kind == "list"
        else (b'{"a":' * depth + b"1" + b"}" * depth)
    )


@st.composite
def hostile_lines(draw: st.DrawFn) -> bytes:
    """One NDJSON line: a mutated interaction, spliced with literals, nesting or a cut."""
    line = dumps(draw(mutated()))
    trick = draw(st.sampled_from(["none", "literal", "nest", "cut", "bytes", "value"]))
    if trick == "literal":
        line = line.replace(
            b"0.031", draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400"]))
        )
    elif trick == "nest":
        depth = draw(st.sampled_from([MAX_DEPTH - 2, MAX_DEPTH, MAX_DEPTH + 1, 300, 5000]))
        line = (
            line[:-1] + b',"x":' + nested(depth, draw(st.sampled_from(["list", "object"]))) + b"}"
        )
    elif trick == "cut":
        line = line[: draw(st.integers(0, max(0, len(line) - 1)))]
    elif trick == "bytes":
        line = draw(st.binary(max_size=200)).replace(b"\n", b" ")
    elif trick == "value":
        line = dumps(draw(json_values))
    return line


def _settles(decode: Any, data: bytes) -> None:
    """Decoding, checking and redacting ``data`` ends in records or a 4xx, nothing else."""
    refused: DaytwoError | None = None
    try:
        decoded: Decoded = decode(data)
        prepared = prepare(decoded, partial=True)
    except DaytwoError as exc:
        refused = exc
    if refused is not None:
        assert 400 <= refused.http_status < 500, refused
        return
    assert prepared.rejected + prepared.batch.n_records == decoded.n_records
    for error in decoded.errors:
        assert error.message


@SETTINGS
@given(st.lists(hostile_lines(), min_size=1, max_size=6))
def test_ndjson_of_hostile_lines_settles(lines: list[bytes]) -> None:
    _settles(decode_ndjson, b"\n".join(lines) + b"\n")


@SETTINGS
@given(st.lists(hostile_lines(), min_size=1, max_size=6), st.sampled_from(["envelope", "list"]))
def test_json_of_hostile_records_settles(lines: list[bytes], shape: str) -> None:
    body = b"[" + b",".join(lines) + b"]"
    if shape == "envelope":
        body = b'{"interactions": ' + body + b"}"
    _settles(decode_json, body)


@SETTINGS
@given(json_values)
def test_any_json_value_settles(value: Any) -> None:
    data = dumps(value)
    _settles(decode_json, data)
    _settles(decode_ndjson, data + b"\n")


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_settle(data: bytes) -> None:
    _settles(decode_json, data)
    _settles(decode_ndjson, data)


@SETTINGS
@given(st.lists(mutated(), min_size=1, max_size=5))
def test_ndjson_and_json_agree_on_which_records_fail(records: list[dict[str, Any]]) -> None:
    as_lines = decode_ndjson(b"\n".join(dumps(r) for r in records))
    as_json = decode_json(dumps({"interactions": records}))
    assert {e.index for e in as_lines.errors} == {e.index for e in as_json.errors}
    assert as_lines.batch.n_records == as_json.batch.n_records


def test_whole_numbers_past_what_the_store_keeps_are_named_on_both_decoders() -> None:
    """A turn's seq of -140,531,309,942,170 (found by the API fuzzing) was a 500: the wire model
    took any integer and the store's int32 column could not."""
    rec = interaction(1, turns=2)
    rec["turns"][0]["seq"] = -140_531_309_942_170
    rec["turns"][1]["tokens_in"] = 2**70
    other = interaction(2, turns=1)
    for decoded in (
        decode_ndjson(dumps(rec) + b"\n" + dumps(other)),
        decode_json(dumps({"interactions": [rec, other]})),
        decode_json(dumps({"interactions": [rec, other], "extra": {"x": [1, "a"]}})),
    ):
        fields = {e.field for e in decoded.errors if e.index == 0}
        assert "turns.0.seq" in fields
        assert all(e.index == 0 for e in decoded.errors)
        prepared = prepare(decoded, partial=True)
        assert prepared.batch.n_records == 1
