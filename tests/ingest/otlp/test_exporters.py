"""The real OpenTelemetry exporters and instrumentations, sending to a running server.

No client is mocked: the SDK's OTLP/HTTP protobuf exporter, the `openai` client instrumented
by OpenInference and by the official OpenTelemetry instrumentation, talking to an
OpenAI-compatible fake on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.ingest.otlp.conftest import LiveServer


@contextmanager
def provider(live: LiveServer, key: str, **resource: str) -> Iterator[TracerProvider]:
    exporter = OTLPSpanExporter(
        endpoint=f"{live.url}/v1/traces", headers={"Authorization": f"Bearer {key}"}
    )
    tp = TracerProvider(resource=Resource.create({"service.name": "care-bot", **resource}))
    tp.add_span_processor(BatchSpanProcessor(exporter))
    try:
        yield tp
    finally:
        tp.shutdown()


def _messages(*pairs: tuple[str, str]) -> str:
    import json

    return json.dumps([{"role": r, "parts": [{"type": "text", "content": c}]} for r, c in pairs])


@pytest.mark.parametrize("live", [2], indirect=True)  # the worker processes, as in serve
def test_sdk_exporter_conversations_over_many_requests(live: LiveServer) -> None:
    key = live.key()
    t0 = time.time_ns() - 3600 * 10**9
    with provider(live, key) as tp:
        tracer = tp.get_tracer("app")
        history: list[tuple[str, str]] = [("system", "You help with bills.")]
        for turn, (question, answer) in enumerate(
            [
                ("my card was charged twice, mail me at jo.smith@example.com", "Let me check."),
                ("any news?", "A refund is on its way."),
            ]
        ):
            history.append(("user", question))
            start = t0 + turn * 60 * 10**9
            span = tracer.start_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                start_time=start,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 100 + turn,
                    "gen_ai.usage.output_tokens": 10,
                    "gen_ai.conversation.id": "conv-1",
                    "user.id": "u-42",
                    "gen_ai.input.messages": _messages(*history),
                    "gen_ai.output.messages": _messages(("assistant", answer)),
                },
            )
            span.end(end_time=start + 1_500_000_000)
            history.append(("assistant", answer))
            # Each turn in its own request, as a slow conversation would arrive.
            assert tp.force_flush()
        failed = tracer.start_span(
            "chat gpt-4o-mini",
            start_time=t0 + 180 * 10**9,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.conversation.id": "conv-1",
                "error.type": "timeout",
                "gen_ai.input.messages": _messages(*history, ("user", "hello?")),
            },
        )
        failed.set_status(Status(StatusCode.ERROR, "upstream timed out"))
        failed.end(end_time=t0 + 190 * 10**9)
        tool = tracer.start_span(
            "execute_tool transfer_to_human",
            start_time=t0 + 200 * 10**9,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "transfer_to_human",
                "gen_ai.tool.call.id": "call-7",
                "gen_ai.conversation.id": "conv-1",
            },
        )
        tool.end(end_time=t0 + 200 * 10**9 + 300_000_000)
    # Nothing is written before the conversation ends.
    assert live.query("SELECT count(*) AS n FROM interactions")[0]["n"] == 0
    assert live.end_conversations() == 1
    inter = live.query("SELECT * FROM interactions")
    assert len(inter) == 1
    row = inter[0]
    assert (row["interaction_id"], row["deployment"]) == ("conv-1", "care-bot")
    assert row["customer_ref"] == "u-42"
    assert row["outcome"] == "escalated"  # the hand-off tool
    assert row["tokens_in"] == 201
    assert row["tokens_out"] == 20
    assert row["n_error_turns"] == 1
    turns = live.query("SELECT * FROM turns ORDER BY seq")
    assert [t["role"] for t in turns] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
    ]
    assert "<EMAIL>" in turns[1]["text"]
    assert "example.com" not in turns[1]["text"]
    assert turns[2]["model"] == "gpt-4o-mini-2024-07-18"
    assert turns[2]["latency_ms"] == pytest.approx(1500)
    assert turns[6]["error"] == "upstream timed out"
    assert turns[7]["latency_ms"] == pytest.approx(300)


def test_resent_batch_changes_no_count_and_late_span_lands(live: LiveServer) -> None:
    key = live.key()
    memory = InMemorySpanExporter()
    tp = TracerProvider(resource=Resource.create({"service.name": "care-bot"}))
    tp.add_span_processor(SimpleSpanProcessor(memory))
    tracer = tp.get_tracer("app")
    t0 = time.time_ns() - 7200 * 10**9
    for i in range(3):
        span = tracer.start_span(
            "chat",
            start_time=t0 + i * 10**10,
            attributes={
                "gen_ai.operation.name": "chat",
                "session.id": "s-9",
                "gen_ai.input.messages": _messages(("user", f"question {i}")),
                "gen_ai.output.messages": _messages(("assistant", f"answer {i}")),
            },
        )
        span.end(end_time=t0 + i * 10**10 + 10**9)
    spans = memory.get_finished_spans()
    exporter = OTLPSpanExporter(
        endpoint=f"{live.url}/v1/traces", headers={"Authorization": f"Bearer {key}"}
    )
    for _ in range(3):  # sent three times, as a retrying exporter might
        assert exporter.export(spans[:2]).name == "SUCCESS"
    live.end_conversations()
    assert live.query("SELECT count(*) AS n FROM turns")[0]["n"] == 4
    # A late span: its conversation was written already; it lands in it.
    assert exporter.export(spans[2:]).name == "SUCCESS"
    live.end_conversations()
    rows = live.query("SELECT interaction_id, n_turns FROM interactions")
    assert rows == [{"interaction_id": "s-9", "n_turns": 6}]
    texts = [r["text"] for r in live.query("SELECT text FROM turns ORDER BY seq")]
    assert texts == [f"{w} {i}" for i in range(3) for w in ("question", "answer")]
    # And sending everything again changes nothing.
    assert exporter.export(spans).name == "SUCCESS"
    live.end_conversations()
    assert live.query("SELECT count(*) AS n FROM turns")[0]["n"] == 6
    assert live.query("SELECT count(*) AS n FROM interactions")[0]["n"] == 1
    exporter.shutdown()


def _chat(base_url: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key="not-a-real-key", max_retries=0)
    messages = [
        {"role": "system", "content": "You are the bank's assistant."},
        {"role": "user", "content": "my phone is +44 7911 123456, why was I charged twice?"},
    ]
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    messages += [
        {"role": "assistant", "content": answer.choices[0].message.content or ""},
        {"role": "user", "content": "please fail now"},
    ]
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)


def _assert_conversation(live: LiveServer, conversation: str) -> None:
    live.end_conversations()
    inter = live.query("SELECT * FROM interactions")
    assert [r["interaction_id"] for r in inter] == [conversation]
    assert inter[0]["tokens_in"] == 21
    assert inter[0]["tokens_out"] == 9
    assert inter[0]["n_error_turns"] == 1
    turns = live.query("SELECT * FROM turns ORDER BY seq")
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "user", "assistant"]
    assert "<PHONE>" in turns[1]["text"]
    assert "7911" not in turns[1]["text"]
    assert turns[2]["model"] == "gpt-4o-mini-2024-07-18"
    assert turns[2]["text"].startswith("Noted:")
    assert turns[2]["latency_ms"] > 0
    assert turns[4]["error"]
    assert "500" in turns[4]["error"]


def test_openai_client_with_openinference(live: LiveServer, fake_openai: str) -> None:
    from openinference.instrumentation import using_session
    from openinference.instrumentation.openai import OpenAIInstrumentor

    key = live.key()
    instrumentor = OpenAIInstrumentor()
    with provider(live, key) as tp:
        instrumentor.instrument(tracer_provider=tp)
        try:
            with using_session("chat-77"):
                _chat(fake_openai)
        finally:
            instrumentor.uninstrument()
    _assert_conversation(live, "chat-77")


def test_openai_client_with_official_instrumentation(
    live: LiveServer, fake_openai: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    # The latest GenAI conventions, messages on the span (see docs/otlp.md).
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    key = live.key()
    instrumentor = OpenAIInstrumentor()
    with provider(live, key) as tp:
        instrumentor.instrument(tracer_provider=tp)
        try:
            tracer = tp.get_tracer("app")
            # The app's own span names the conversation; the model calls are its children.
            with tracer.start_as_current_span(
                "invoke_agent support", attributes={"gen_ai.conversation.id": "ticket-5"}
            ):
                _chat(fake_openai)
        finally:
            instrumentor.uninstrument()
    _assert_conversation(live, "ticket-5")
