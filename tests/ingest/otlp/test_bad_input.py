"""Bad input on `/v1/traces`: the answer the OTLP spec prescribes, a clear message, nothing
half-written, and the server still serving."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from daytwo.governance.models import KeyScope
from tests.ingest.otlp.conftest import LiveServer, all_staged

PB = {"content-type": "application/x-protobuf"}


def _span(i: int = 1, **attrs: object) -> Span:
    now = time.time_ns()
    span = Span(
        trace_id=bytes([i]) * 16,
        span_id=bytes([i]) * 8,
        name="chat",
        start_time_unix_nano=now - 2 * 10**9,
        end_time_unix_nano=now - 10**9,
    )
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
        **attrs,
    }
    for key, value in base.items():
        any_value = (
            AnyValue(int_value=value)
            if isinstance(value, int)
            else AnyValue(string_value=str(value))
        )
        span.attributes.append(KeyValue(key=key, value=any_value))
    return span


def _request(*spans: Span) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="care-bot"))
    )
    rs.scope_spans.add().spans.extend(spans)
    return req


@pytest.fixture
def post(live: LiveServer) -> Iterator[httpx.Client]:
    key = live.key()
    with httpx.Client(
        base_url=live.url, headers={"authorization": f"Bearer {key}"}, timeout=120
    ) as client:
        yield client


def _staged(live: LiveServer) -> int:
    return live.events.staged_stats().rows


def _still_serving(live: LiveServer, client: httpx.Client) -> None:
    assert httpx.get(live.url + "/healthz", timeout=10).status_code == 200
    ok = client.post("/v1/traces", content=_request(_span(99)).SerializeToString(), headers=PB)
    assert ok.status_code == 200


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, written by hand."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _status(response: httpx.Response) -> status_pb2.Status:
    return status_pb2.Status.FromString(response.content)


def test_malformed_protobuf_is_400_with_a_status(live: LiveServer, post: httpx.Client) -> None:
    r = post.post("/v1/traces", content=b"\x0a\xff\xff\xff\x0f garbage", headers=PB)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/x-protobuf"
    assert "not a protobuf ExportTraceServiceRequest" in _status(r).message
    assert _staged(live) == 0
    _still_serving(live, post)


def test_json_that_is_not_otlp_is_400(live: LiveServer, post: httpx.Client) -> None:
    r = post.post("/v1/traces", json={"interactions": [{"id": "c-1"}]})
    assert r.status_code == 400
    assert "resourceSpans" in r.json()["message"]
    r = post.post("/v1/traces", content=b"[1, 2", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["message"]
    r = post.post("/v1/traces", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert _staged(live) == 0
    _still_serving(live, post)


def test_otlp_json_is_accepted(live: LiveServer, post: httpx.Client) -> None:
    now = time.time_ns()
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "care-bot"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "chat",
                                "kind": 3,
                                "startTimeUnixNano": str(now - 10**9),
                                "endTimeUnixNano": str(now),
                                "attributes": [
                                    {
                                        "key": "gen_ai.operation.name",
                                        "value": {"stringValue": "chat"},
                                    },
                                    {
                                        "key": "gen_ai.usage.input_tokens",
                                        "value": {"intValue": "12"},
                                    },
                                    {
                                        "key": "gen_ai.output.messages",
                                        "value": {
                                            "stringValue": orjson.dumps(
                                                [
                                                    {
                                                        "role": "assistant",
                                                        "parts": [
                                                            {"type": "text", "content": "hello"}
                                                        ],
                                                    }
                                                ]
                                            ).decode()
                                        },
                                    },
                                ],
                                "unknownField": 1,
                            }
                        ]
                    }
                ],
            }
        ]
    }
    r = post.post(
        "/v1/traces",
        content=gzip.compress(orjson.dumps(body)),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {}
    assert _staged(live) == 1
    r = post.post(
        "/v1/traces",
        json={
            "resourceSpans": [
                {"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "eee19b7ec3c1b174"}]}]}
            ]
        },
    )
    assert r.status_code == 400
    assert "resourceSpans[0].scopeSpans[0].spans[0].traceId" in r.json()["message"]


def test_bad_spans_are_rejected_one_by_one(live: LiveServer, post: httpx.Client) -> None:
    no_trace = _span(2)
    no_trace.trace_id = b""
    spans = [
        _span(1),
        no_trace,
        _span(3, **{"gen_ai.usage.input_tokens": "many"}),
        _span(4, **{"gen_ai.input.messages": "this is not json"}),
        _span(5, **{"gen_ai.usage.output_tokens": -3}),
    ]
    r = post.post("/v1/traces", content=_request(*spans).SerializeToString(), headers=PB)
    assert r.status_code == 200
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 4
    message = answer.partial_success.error_message
    assert "4 of 5 spans rejected" in message
    assert "span 1 (span id 0202020202020202), trace_id: is missing or invalid" in message
    assert (
        "attributes.gen_ai.usage.input_tokens: must be an integer, got the text 'many'" in message
    )
    assert "attributes.gen_ai.input.messages: is not a JSON array of messages" in message
    assert "must not be negative" in message
    # Only the good span is staged.
    rows = set(all_staged(live.events)["span_id"].to_pylist())
    assert rows == {(bytes([1]) * 8).hex()}
    _still_serving(live, post)


def test_oversized_bodies_are_413(live: LiveServer, post: httpx.Client) -> None:
    huge = _span(7, **{"gen_ai.input.messages": "x" * (100 * 1024 * 1024)})
    body = _request(huge).SerializeToString()
    r = post.post(
        "/v1/traces",
        content=gzip.compress(body, compresslevel=1),
        headers={**PB, "content-encoding": "gzip"},
    )
    assert r.status_code == 413
    assert "once decompressed" in _status(r).message
    r = post.post("/v1/traces", content=body[: 25 * 1024 * 1024], headers=PB)
    assert r.status_code == 413
    assert _staged(live) == 0
    _still_serving(live, post)


def test_a_million_attributes_is_a_rejected_span(live: LiveServer, post: httpx.Client) -> None:
    one = Span(attributes=[KeyValue(key="k", value=AnyValue(int_value=1))]).SerializeToString()
    span = Span.FromString(_span(8).SerializeToString() + one * 1_000_000)
    assert len(span.attributes) > 1_000_000
    r = post.post("/v1/traces", content=_request(span).SerializeToString(), headers=PB)
    assert r.status_code == 200
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 1
    assert "attributes: has 1,000,002 attributes; the limit is 10,000" in (
        answer.partial_success.error_message
    )
    assert _staged(live) == 0
    _still_serving(live, post)


def test_a_key_of_another_deployment_is_403(live: LiveServer) -> None:
    other = live.key(deployment="hr-bot")
    r = httpx.post(
        live.url + "/v1/traces",
        content=_request(_span(1)).SerializeToString(),
        headers={**PB, "authorization": f"Bearer {other}"},
    )
    assert r.status_code == 403
    assert "care-bot" in _status(r).message
    assert _staged(live) == 0
    # Without a key: 401; a read key: 403.
    r = httpx.post(live.url + "/v1/traces", content=b"", headers=PB)
    assert r.status_code == 401
    reader = live.key(scope=KeyScope.read)
    r = httpx.post(
        live.url + "/v1/traces", content=b"", headers={**PB, "authorization": f"Bearer {reader}"}
    )
    assert r.status_code == 403
    # The key's own deployment names spans whose resource names none.
    own = live.key(deployment="hr-bot")
    req = _request(_span(3))
    del req.resource_spans[0].resource.attributes[:]
    r = httpx.post(
        live.url + "/v1/traces",
        content=req.SerializeToString(),
        headers={**PB, "authorization": f"Bearer {own}"},
    )
    assert r.status_code == 200
    assert set(all_staged(live.events)["deployment"].to_pylist()) == {"hr-bot"}


def test_pressure_answers_retry_after(live: LiveServer, post: httpx.Client) -> None:
    door = live.app.state.trace_door
    door.staged_rows = door.max_staged + 1
    r = post.post("/v1/traces", content=_request(_span(1)).SerializeToString(), headers=PB)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    door.staged_rows = 0
    door._busy = door.max_concurrent
    r = post.post("/v1/traces", content=_request(_span(1)).SerializeToString(), headers=PB)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    door._busy = 0
    _still_serving(live, post)


@pytest.mark.parametrize("levels", [1_000, 7_000])
def test_deep_nesting_is_refused_and_the_server_keeps_serving(
    live: LiveServer, post: httpx.Client, levels: int
) -> None:
    """The crash of the reliability issue (a small, deeply nested body), on this door: a JSON
    body, a protobuf attribute value and a message array nested thousands of levels deep."""
    deep_json = b'{"resourceSpans": ' + b"[" * levels + b"]" * levels + b"}"
    r = post.post("/v1/traces", content=deep_json, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["message"]

    # Built on the wire: the protobuf runtime refuses to build (or copy) so deep a message.
    value = AnyValue(string_value="leaf").SerializeToString()
    for _ in range(levels):
        value = _field(5, _field(1, value))  # AnyValue.array_value -> ArrayValue.values
    attribute = _field(1, b"app.deep") + _field(2, value)  # KeyValue
    span = _span(7).SerializeToString() + _field(9, attribute)  # Span.attributes
    empty = _request()
    resource = empty.resource_spans[0].resource.SerializeToString()
    body = _field(1, _field(1, resource) + _field(2, _field(2, span)))
    r = post.post("/v1/traces", content=body, headers=PB)
    assert r.status_code == 400, r.content
    assert "not a protobuf ExportTraceServiceRequest" in _status(r).message

    messages = "[" * levels + "]" * levels
    r = post.post(
        "/v1/traces",
        content=_request(_span(8, **{"gen_ai.input.messages": messages})).SerializeToString(),
        headers=PB,
    )
    assert r.status_code == 200, r.content
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 1
    assert "gen_ai.input.messages" in answer.partial_success.error_message
    assert _staged(live) == 0
    _still_serving(live, post)


def test_a_conversation_of_50000_turns_and_10_mb_is_stored(
    live: LiveServer, post: httpx.Client
) -> None:
    """The large interaction of the reliability issue, on this door: one conversation of
    25,000 model calls (50,000 turns, over 10 MB of text) sent as an exporter would, in
    batches, is stored whole once it ends."""
    calls, per_request = 25_000, 2_500
    start = time.time_ns() - 3 * 3600 * 10**9
    text = "Where is my parcel? It has not arrived yet and the tracking page is blank. " * 3
    for first in range(0, calls, per_request):
        spans = []
        for i in range(first, first + per_request):
            at = start + i * 10**8
            span = Span(
                trace_id=b"\x5a" * 16,
                span_id=(i + 1).to_bytes(8, "big"),
                name="chat",
                start_time_unix_nano=at,
                end_time_unix_nano=at + 5 * 10**7,
            )
            for key, value in {
                "gen_ai.operation.name": "chat",
                "gen_ai.conversation.id": "c-huge",
                "gen_ai.input.messages": orjson.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": f"{i} {text}"}]}]
                ).decode(),
                "gen_ai.output.messages": orjson.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": text}]}]
                ).decode(),
            }.items():
                span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
            spans.append(span)
        r = post.post("/v1/traces", content=_request(*spans).SerializeToString(), headers=PB)
        assert r.status_code == 200, r.content
        assert not ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans
    assert live.end_conversations() == 1
    [row] = live.query(
        "SELECT count(*) AS turns, sum(length(text)) AS chars FROM turns"
        " WHERE interaction_id = 'c-huge'"
    )
    assert row["turns"] == 2 * calls
    assert row["chars"] > 10_000_000
    assert _staged(live) == 0
    _still_serving(live, post)
