"""The mapper's rows, in process: a span's own columns on every row it yields, whatever the
number of rows, and messages read the same on the short path as on the general one."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from daytwo.ingest.otlp import messages as msg
from daytwo.ingest.otlp.spans import SpanMapper
from daytwo.store.events.staging import STAGED

T0 = 1_700_000_000 * 10**9


def _span(trace: int, sid: int, start_s: int, **attrs: object) -> Span:
    span = Span(
        trace_id=bytes([trace]) * 16,
        span_id=bytes([sid]) * 8,
        name=f"span-{sid}",
        start_time_unix_nano=T0 + start_s * 10**9,
        end_time_unix_nano=T0 + (start_s + 1) * 10**9,
    )
    for key, value in attrs.items():
        any_value = (
            AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
        )
        span.attributes.append(KeyValue(key=key, value=any_value))
    return span


def _messages(*pairs: tuple[str, str]) -> str:
    return orjson.dumps(
        [{"role": r, "parts": [{"type": "text", "content": c}]} for r, c in pairs]
    ).decode()


def _request(*spans: Span) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="care-bot"))
    )
    rs.resource.attributes.append(KeyValue(key="user.id", value=AnyValue(string_value="c-9")))
    rs.scope_spans.add().spans.extend(spans)
    return request


def test_each_row_carries_its_spans_columns() -> None:
    request = _request(
        # Three rows: system and user inputs, and the answer.
        _span(
            1,
            1,
            0,
            **{
                "gen_ai.operation.name": "chat",
                "gen_ai.conversation.id": "conv-a",
                "daytwo.journey": "booking",
                "gen_ai.input.messages": _messages(("system", "Be brief."), ("user", "Hi")),
                "gen_ai.output.messages": _messages(("assistant", "Hello")),
                "gen_ai.usage.input_tokens": 7,
            },
        ),
        # Of no GenAI meaning: no row.
        _span(1, 2, 1, **{"http.method": "GET"}),
        # No conversation key: joins the conversation its trace names elsewhere; one row.
        _span(1, 3, 2, **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "look"}),
        # Another trace without a key: its trace id is its conversation; a facts-only row.
        _span(2, 4, 3, **{"gen_ai.operation.name": "chat"}),
    )
    mapped = SpanMapper(None).map(request)
    rows = mapped.rows.to_pylist()
    assert (mapped.spans, mapped.skipped, mapped.errors) == (4, 1, [])
    assert mapped.rows.schema.names == [n for n in STAGED.names if n != "received_at"] + [
        "_record",
        "_pos",
    ]
    got = [
        (r["span_id"][:2], r["_record"], r["part"], r["_pos"], r["role"], r["conversation"])
        for r in rows
    ]
    assert got == [
        ("01", 0, 0, 0, "system", "conv-a"),
        ("01", 0, 1, 1, "user", "conv-a"),
        ("01", 0, 2, 2, "assistant", "conv-a"),
        ("03", 2, 0, 0, "tool", "conv-a"),
        ("04", 3, -1, 0, None, "02" * 16),
    ]
    by_span: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_span.setdefault(r["span_id"], []).append(r)
    for span_rows in by_span.values():  # the span's own columns, the same on each of its rows
        for name in ("trace_id", "span_start", "span_end", "journey", "customer_ref", "keyed"):
            assert len({r[name] for r in span_rows}) == 1
    first = by_span["01" * 8]
    assert [r["journey"] for r in first] == ["booking"] * 3
    assert [r["customer_ref"] for r in rows] == ["c-9"] * 5
    assert [r["keyed"] for r in rows] == [True, True, True, True, False]
    assert [r["source"] for r in rows] == ["llm", "llm", "llm", "tool", "meta"]
    assert [r["tokens_in"] for r in first] == [None, None, 7]
    assert rows[0]["span_start"].timestamp() == T0 / 1e9
    assert rows[3]["span_end"].timestamp() == T0 / 1e9 + 3


def _typed_span(**attrs: AnyValue) -> Span:
    span = Span(
        trace_id=b"\x05" * 16,
        span_id=b"\x06" * 8,
        name="chat m-1",
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 2 * 10**9,
    )
    for key, value in attrs.items():
        span.attributes.append(KeyValue(key=key.replace("__", "."), value=value))
    return span


def test_attributes_of_other_types_than_text_read_as_the_typed_getters_read_them() -> None:
    """Most attributes are text or integers and are read straight from the dict; any other
    type takes the typed getter, which converts it as the conventions allow."""
    answer = _messages(("assistant", "Done."))
    span = _typed_span(
        gen_ai__operation__name=AnyValue(string_value="chat"),
        gen_ai__conversation__id=AnyValue(int_value=42),
        gen_ai__usage__input_tokens=AnyValue(string_value="12"),
        gen_ai__usage__output_tokens=AnyValue(double_value=3.0),
        llm__provider=AnyValue(string_value="acme"),
        llm__model_name=AnyValue(string_value="m-1"),
        daytwo__fallback=AnyValue(string_value="TRUE"),
        daytwo__intent=AnyValue(int_value=7),
        daytwo__confidence=AnyValue(string_value="0.5"),
        error__type=AnyValue(int_value=500),
        user__id=AnyValue(int_value=9),
        gen_ai__output__messages=AnyValue(string_value=answer),
    )
    mapped = SpanMapper(None).map(_request(span))
    assert mapped.errors == []
    (row,) = mapped.rows.to_pylist()
    assert (row["conversation"], row["keyed"], row["customer_ref"]) == ("42", True, "9")
    assert (row["role"], row["text"], row["model"]) == ("assistant", "Done.", "m-1")
    assert (row["tokens_in"], row["tokens_out"]) == (12, 3)
    assert (row["intent"], row["confidence"], row["fallback"]) == ("7", 0.5, True)
    assert row["error"] == "500"
    assert orjson.loads(row["attributes"]) == {
        "gen_ai.provider.name": "acme",
        "span.name": "chat m-1",
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("gen_ai.conversation.id", AnyValue(double_value=1.5), "must be a string, got a float"),
        (
            "gen_ai.usage.input_tokens",
            AnyValue(bool_value=True),
            "must be an integer, got a boolean",
        ),
        ("daytwo.fallback", AnyValue(int_value=1), "must be a boolean, got an integer"),
        ("gen_ai.usage.output_tokens", AnyValue(int_value=-1), "must not be negative"),
    ],
)
def test_a_wrong_type_on_a_usual_attribute_still_names_it(
    key: str, value: AnyValue, message: str
) -> None:
    span = _typed_span(
        gen_ai__operation__name=AnyValue(string_value="chat"), **{key.replace(".", "__"): value}
    )
    mapped = SpanMapper(None).map(_request(span))
    assert mapped.rows.num_rows == 0
    (error,) = mapped.errors
    assert (error.field, error.message) == (f"attributes.{key}", message)


def test_no_span_yields_no_rows() -> None:
    mapped = SpanMapper(None).map(_request(_span(1, 1, 0, **{"http.method": "GET"})))
    assert mapped.rows.num_rows == 0
    assert mapped.rows.schema.names[-2:] == ["_record", "_pos"]


@pytest.mark.parametrize(
    "parts",
    [
        [{"type": "text", "content": "hi"}],
        [{"type": "input_text", "text": "hi"}],
        [{"content": "hi"}],
        [{"type": "text", "content": ["not", "text"]}],
        [{"type": ["odd"], "content": "hi"}],
        [{"type": "tool_call", "name": "look", "id": "c1"}],
        [{"type": "tool_call_response", "id": "c1", "response": "found"}],
        ["plain"],
        [{"type": "text", "content": "a"}, {"type": "text", "content": "b"}],
        [],
    ],
)
def test_one_part_messages_read_as_the_general_path_reads_them(parts: list[Any]) -> None:
    general = msg._parts_text([*parts, {"type": "image"}])  # two parts: never the short path
    assert msg._parts_text(parts) == general


@pytest.mark.parametrize("role", ["user", "User", "AI", "model", "bot", "tool", "other", None, 3])
def test_roles_read_the_same_whatever_their_case(role: object) -> None:
    expected = "user" if role is None else msg._ROLES.get(str(role).lower(), "user")
    assert msg.role_of(role) == expected
