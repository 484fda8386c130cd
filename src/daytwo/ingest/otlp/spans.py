"""Spans of an ``ExportTraceServiceRequest`` to staged turn rows (see ``docs/otlp.md``).

One pass over the request: each span's attributes are read once into a dict, the span is
classified (a model call, a tool call, an agent or chain step, or a span that only carries
facts about its conversation), and it yields rows of
:data:`~daytwo.store.events.staging.STAGED`. Spans of no GenAI meaning (HTTP, database…)
yield nothing. A span whose attributes break the conventions (a token count that is text, a
message array that is not JSON) yields an error naming the span and the attribute instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from daytwo.errors import RecordError
from daytwo.ingest.otlp import messages as msg
from daytwo.ingest.otlp.attributes import Attributes, SpanError, read_attributes, value_of
from daytwo.interactions.columns import TS
from daytwo.interactions.validate import DEPLOYMENT_NAME
from daytwo.store.events.staging import STAGED

# Whether a span means anything here, from its attribute names joined by newlines (one regular
# expression over one string is cheaper than a test per name).
_GENAI_NAMES = re.compile(
    r"(?m)^(gen_ai\.|llm\.|openinference\.|daytwo\.|session\.id|input\.value)"
)
_MODEL_CALLS = frozenset({"chat", "text_completion", "generate_content"})
_AGENT_STEPS = frozenset({"invoke_agent", "create_agent", "invoke_workflow"})
_ERROR = 2  # Status.STATUS_CODE_ERROR
_UNKNOWN_SERVICE = "unknown_service"
# The rows' columns: STAGED's without received_at, then the locators. A span's rows share the
# columns of _SPAN_COLUMNS (one tuple per span, repeated for its rows in Arrow); the others are
# each row's own (_ROW_COLUMNS, one tuple per row).
_COLUMNS = [n for n in STAGED.names if n != "received_at"] + ["_record", "_pos"]
_SPAN_COLUMNS = (
    "deployment",
    "conversation",
    "keyed",
    "trace_id",
    "span_id",
    "span_start",
    "span_end",
    "customer_ref",
    "channel",
    "journey",
    "outcome",
    "segments",
    "scores",
    "_record",
)
_ROW_COLUMNS = tuple(n for n in _COLUMNS if n not in _SPAN_COLUMNS)
_NS = {"span_start", "span_end", "ts"}
_SCHEMA = pa.schema(
    [STAGED.field(n) for n in _COLUMNS if n in STAGED.names]
    + [pa.field("_record", pa.int64()), pa.field("_pos", pa.int32())]
)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may hold (see ``Settings``)."""

    max_attributes: int = 10_000
    max_events: int = 1_000
    max_text_chars: int = 1_000_000


@dataclass(slots=True)
class Mapped:
    """Rows of the spans that mapped, the errors of those that did not, and the counts."""

    rows: pa.Table
    errors: list[RecordError] = field(default_factory=list)
    spans: int = 0
    skipped: int = 0
    # Per span index (record): its deployment, where one could be named.
    deployments: dict[int, str] = field(default_factory=dict)


# A turn a span yields: role, text, ts (ns), attributes, call id, tool name, input position.
_Turn = tuple[str, str | None, int, dict[str, Any], str | None, str | None, int | None]


@dataclass(frozen=True, slots=True)
class _Resource:
    deployment: str | None
    customer_ref: str | None
    channel: str | None
    segments: dict[str, str]
    # Whether ``deployment`` is a valid name: checked once per resource, not per span.
    named: bool = False


def _resource(attrs: Attributes, default_deployment: str | None) -> _Resource:
    deployment = attrs.text("daytwo.deployment")
    if deployment is None:
        service = attrs.text("service.name")
        if service and not service.startswith(_UNKNOWN_SERVICE):
            deployment = service
    deployment = deployment or default_deployment
    return _Resource(
        deployment,
        attrs.text("user.id", "enduser.id"),
        attrs.text("daytwo.channel"),
        _segments(attrs),
        deployment is not None and DEPLOYMENT_NAME.match(deployment) is not None,
    )


def _segments(attrs: Attributes) -> dict[str, str]:
    if "daytwo.segment." not in attrs.names:
        return {}
    found = attrs.flat("daytwo.segment.")
    return {k: str(v) for k, v in found.items() if v is not None and not isinstance(v, list)}


class SpanMapper:
    """Maps the spans of one request; ``default_deployment`` is the key's own, if it has one."""

    def __init__(self, default_deployment: str | None, limits: Limits | None = None) -> None:
        self.default_deployment = default_deployment
        self.limits = limits or Limits()

    def map(self, request: ExportTraceServiceRequest) -> Mapped:
        heads: list[tuple[Any, ...]] = []  # per span that yields rows: its _SPAN_COLUMNS
        rows: list[tuple[Any, ...]] = []  # per row: its _ROW_COLUMNS
        owners: list[int] = []  # per row: its span's position in ``heads``
        errors: list[RecordError] = []
        deployments: dict[int, str] = {}
        index = 0
        skipped = 0
        for rs in request.resource_spans:
            resource = _resource(
                Attributes(read_attributes(rs.resource.attributes)),
                self.default_deployment,
            )
            for ss in rs.scope_spans:
                for span in ss.spans:
                    record = index
                    index += 1
                    try:
                        made = self._span(span, record, resource)
                    except SpanError as exc:
                        sid = span.span_id.hex() or None
                        errors.append(RecordError(record, sid, exc.field, exc.message))
                        continue
                    if made is None:
                        skipped += 1
                        continue
                    if resource.deployment is not None:
                        deployments[record] = resource.deployment
                    head, own = made
                    owners.extend([len(heads)] * len(own))
                    heads.append(head)
                    rows.extend(own)
        return Mapped(_table(_rekey(heads), rows, owners), errors, index, skipped, deployments)

    def _span(
        self, span: Span, record: int, resource: _Resource
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None:
        limits = self.limits
        n_attrs = len(span.attributes)
        if n_attrs > limits.max_attributes:
            raise SpanError(
                "attributes",
                f"has {n_attrs:,} attributes; the limit is {limits.max_attributes:,} per span",
            )
        n_events = len(span.events)
        if n_events > limits.max_events:
            raise SpanError(
                "events",
                f"has {n_events:,} events; the limit is {limits.max_events:,} per span",
            )
        raw = read_attributes(span.attributes)
        names = "\n".join(raw)
        relevant = _GENAI_NAMES.search(names) is not None
        events = [e for e in span.events if e.name.startswith("gen_ai.")] if n_events else []
        if not relevant and not events:
            return None
        trace_id = span.trace_id
        if len(trace_id) != 16 or not any(trace_id):
            raise SpanError(
                "trace_id", "is missing or invalid: a span needs a 16-byte, non-zero trace id"
            )
        span_id = span.span_id
        if len(span_id) != 8 or not any(span_id):
            raise SpanError(
                "span_id", "is missing or invalid: a span needs an 8-byte, non-zero span id"
            )
        start, end = span.start_time_unix_nano, span.end_time_unix_nano
        if start == 0 or end == 0:
            raise SpanError("start_time_unix_nano", "and end_time_unix_nano are required")
        if resource.deployment is None:
            raise SpanError(
                "resource.daytwo.deployment",
                "names no deployment: set the resource attribute daytwo.deployment (for "
                "example OTEL_RESOURCE_ATTRIBUTES=daytwo.deployment=care-bot) or service.name, "
                "or send a key of one deployment",
            )
        if not resource.named:
            raise SpanError(
                "resource.daytwo.deployment",
                f"{resource.deployment[:60]!r} is not a deployment name: 1-100 letters, "
                "digits, '.', '_' or '-'",
            )
        attrs = Attributes(raw, names)
        try:
            return self._rows(span, record, resource, attrs, events, start, end)
        except msg.MessageError as exc:
            where = exc.args[1] if len(exc.args) > 1 else "messages"
            raise SpanError(f"attributes.{where}", str(exc.args[0])) from None

    def _rows(
        self,
        span: Span,
        record: int,
        resource: _Resource,
        attrs: Attributes,
        events: list[Any],
        start: int,
        end: int,
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        """The span's _SPAN_COLUMNS and its rows' _ROW_COLUMNS."""
        trace_hex = span.trace_id.hex()
        span_hex = span.span_id.hex()
        conversation = attrs.text("gen_ai.conversation.id", "session.id")
        keyed = conversation is not None
        op = (attrs.text("gen_ai.operation.name") or "").lower()
        oi_kind = (attrs.text("openinference.span.kind") or "").upper()
        model = attrs.text("gen_ai.response.model", "llm.model_name", "gen_ai.request.model")
        tokens_in = attrs.integer(
            "gen_ai.usage.input_tokens", "llm.token_count.prompt", "gen_ai.usage.prompt_tokens"
        )
        tokens_out = attrs.integer(
            "gen_ai.usage.output_tokens",
            "llm.token_count.completion",
            "gen_ai.usage.completion_tokens",
        )
        for name, value in (("input", tokens_in), ("output", tokens_out)):
            if value is not None and value < 0:
                raise SpanError(f"attributes.gen_ai.usage.{name}_tokens", "must not be negative")
        names = attrs.names  # one substring test rules out a family of absent attributes
        cost = None
        if "llm.cost." in names:
            cost = attrs.number("llm.cost.total")
            if cost is None:
                parts = [attrs.number("llm.cost.prompt"), attrs.number("llm.cost.completion")]
                cost = sum(p for p in parts if p is not None) if any(parts) else None
        status = span.status
        failed = status.code == _ERROR
        error_type = attrs.text("error.type")
        error = None
        if failed or error_type:
            error = status.message or error_type or "error"
        customer = attrs.text("user.id", "enduser.id") or resource.customer_ref
        segments = resource.segments
        if "daytwo." in names:
            hints = (
                customer,
                attrs.text("daytwo.channel") or resource.channel,
                attrs.text("daytwo.journey"),
                attrs.text("daytwo.outcome"),
            )
            segments = {**segments, **_segments(attrs)}
            intent = attrs.text("daytwo.intent")
            confidence = attrs.number("daytwo.confidence")
            fallback = attrs.flag("daytwo.fallback")
        else:
            hints = (customer, resource.channel, None, None)
            intent, confidence, fallback = None, None, None
        scores = _scores(events) if events else {}
        agent = attrs.text("gen_ai.agent.name", "agent.name")
        provider = attrs.text("gen_ai.provider.name", "llm.provider", "gen_ai.system", "llm.system")

        if op in _MODEL_CALLS or oi_kind == "LLM":
            source = "llm"
        elif op == "execute_tool" or oi_kind == "TOOL":
            source = "tool"
        elif op in _AGENT_STEPS or oi_kind in ("AGENT", "CHAIN"):
            source = "chain"
        elif (
            "gen_ai.input.messages" in attrs
            or "gen_ai.output.messages" in attrs
            or any(k.startswith("llm.input_messages.") for k in attrs.raw)
        ):
            source = "llm"
        else:
            source = "meta"

        extra = attrs.rest() if source != "meta" else {}
        if agent:
            extra["gen_ai.agent.name"] = agent
        if provider:
            extra["gen_ai.provider.name"] = provider
        extra["span.name"] = span.name

        turns: list[_Turn] = []
        if source == "llm":
            turns = self._model_turns(attrs, events, start, end, extra, error, model)
        elif source == "tool":
            turns = self._tool_turn(attrs, start, extra)
        elif source == "chain":
            text_in = attrs.text("input.value")
            text_out = attrs.text("output.value")
            if text_in:
                turns.append(("user", text_in, start, {}, None, None, None))
            if text_out:
                turns.append(("assistant", text_out, end, dict(extra), None, None, None))

        latency = (end - start) / 1e6
        head = (
            resource.deployment,
            conversation or trace_hex,
            keyed,
            trace_hex,
            span_hex,
            start,
            end,
            *hints,
            _json(segments),
            _json(scores),
            record,
        )
        out: list[tuple[Any, ...]] = []
        first_answer = _first_answer(turns)
        for part, (role, text, ts, t_attrs, call_id, tool_name, input_index) in enumerate(turns):
            if text is not None and len(text) > self.limits.max_text_chars:
                raise SpanError(
                    f"turn {part} text",
                    f"has {len(text):,} characters; the limit is "
                    f"{self.limits.max_text_chars:,} per message",
                )
            answer = role == "assistant"
            tool = role == "tool" and source == "tool"
            counted = answer and part == first_answer
            out.append(
                (
                    part,
                    source,
                    ts,
                    role,
                    text,
                    intent if answer else None,
                    confidence if answer else None,
                    fallback if answer else None,
                    latency if answer or tool else None,
                    error if answer or tool else None,
                    model if answer else None,
                    tokens_in if counted else None,
                    tokens_out if counted else None,
                    cost if counted else None,
                    _json(t_attrs),
                    call_id,
                    input_index,
                    tool_name,
                    part,
                )
            )
        if not out:
            # A span with no turn of its own still tells about its conversation.
            meta_attrs = {k: v for k, v in extra.items() if k != "span.name"}
            out.append(
                (
                    -1,
                    "meta",
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    _json(meta_attrs),
                    None,
                    None,
                    None,
                    0,
                )
            )
        return head, out

    def _model_turns(
        self,
        attrs: Attributes,
        events: list[Any],
        start: int,
        end: int,
        extra: dict[str, Any],
        error: str | None,
        model: str | None,
    ) -> list[_Turn]:
        new, outputs = msg.span_messages(attrs, events)
        turns: list[_Turn] = []
        for i, m in new:
            if m.role != "assistant":
                turns.append((m.role, m.text, start, {}, m.call_id, m.tool_name, i))
        answers = [m for m in outputs if m.role == "assistant"] or outputs[:1]
        for m in answers:
            t_attrs = dict(extra)
            if m.tool_calls:
                t_attrs["tool_calls"] = list(m.tool_calls)
            if m.finish_reason:
                t_attrs["finish_reason"] = m.finish_reason
            turns.append(("assistant", m.text, end, t_attrs, None, None, None))
        if not answers and (error or model or "gen_ai.usage.output_tokens" in attrs):
            # The call happened (and may have failed) without a recorded answer.
            turns.append(("assistant", None, end, dict(extra), None, None, None))
        return turns

    def _tool_turn(self, attrs: Attributes, start: int, extra: dict[str, Any]) -> list[_Turn]:
        name = attrs.text("gen_ai.tool.name", "tool.name")
        call_id = attrs.text("gen_ai.tool.call.id", "tool_call.id")
        result = attrs.value("gen_ai.tool.call.result")
        if result is None:
            result = attrs.value("output.value")
        arguments = attrs.value("gen_ai.tool.call.arguments")
        if arguments is None:
            arguments = attrs.value("tool.parameters")
        if arguments is None:
            arguments = attrs.value("input.value")
        t_attrs = dict(extra)
        if arguments is not None:
            t_attrs["arguments"] = arguments
        if call_id:
            t_attrs["tool.call_id"] = call_id
        if name:
            t_attrs["tool.name"] = name
        text = result if isinstance(result, str) or result is None else _json(result)
        return [("tool", text, start, t_attrs, call_id, name, None)]


def _first_answer(turns: list[_Turn]) -> int:
    for i, t in enumerate(turns):
        if t[0] == "assistant":
            return i
    return -1


def _scores(events: Iterable[Any]) -> dict[str, Any]:
    scores: dict[str, Any] = {}
    for e in events:
        if e.name != "gen_ai.evaluation.result":
            continue
        fields = {kv.key: value_of(kv.value) for kv in e.attributes}
        name = fields.get("gen_ai.evaluation.name")
        value = fields.get("gen_ai.evaluation.score.value")
        if value is None:
            value = fields.get("gen_ai.evaluation.score.label")
        if name is not None and value is not None:
            scores[str(name)] = value
    return scores


def _json(value: Mapping[str, Any]) -> str | None:
    if not value:
        return None
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


def _rekey(heads: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Spans without a conversation key join the conversation another span of their trace
    names, when one in the request does."""
    by_trace = {h[3]: h[1] for h in heads if h[2]}
    if not by_trace:
        return heads
    return [
        (h[0], by_trace[h[3]], True, *h[3:]) if not h[2] and h[3] in by_trace else h for h in heads
    ]


def _arrays(names: Iterable[str], tuples: list[tuple[Any, ...]]) -> dict[str, pa.Array]:
    """The columns ``names`` of ``tuples``, as Arrow arrays of the rows' types."""
    out: dict[str, pa.Array] = {}
    for name, values in zip(names, zip(*tuples, strict=True), strict=True):
        if name in _NS:  # nanoseconds (None where absent) to microseconds, in Arrow
            ns = pa.array(values, type=pa.int64())
            out[name] = pc.divide(ns, 1000).cast(TS)
        else:
            out[name] = pa.array(values, type=_SCHEMA.field(name).type)
    return out


def _table(
    heads: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], owners: list[int]
) -> pa.Table:
    """The rows, each with the columns of its span (``owners``: each row's span in ``heads``)."""
    if not rows:
        return _SCHEMA.empty_table()
    spans = pa.table(_arrays(_SPAN_COLUMNS, heads))
    if len(heads) != len(rows):
        spans = spans.take(pa.array(owners, type=pa.int32()))
    columns = {**_arrays(_ROW_COLUMNS, rows), **{n: spans[n] for n in _SPAN_COLUMNS}}
    return pa.Table.from_arrays([columns[n] for n in _COLUMNS], schema=_SCHEMA)
