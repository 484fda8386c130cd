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

import numpy as np
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
_GENAI_PREFIXES = ("gen_ai.", "llm.", "openinference.", "daytwo.", "session.id", "input.value")
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


# A turn a span yields: role, text, ts (ns), attributes (as JSON), call id, tool name, input
# position.
_Turn = tuple[str, str | None, int, str | None, str | None, str | None, int | None]
# The columns of a row without a turn, from ts to cost.
_NO_TURN = (None,) * 12
_NO_TRACE = bytes(16)
_NO_SPAN = bytes(8)


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
        counts: list[int] = []  # per span in ``heads``: how many rows it yields
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
                    counts.append(len(own))
                    heads.append(head)
                    rows.extend(own)
        return Mapped(_table(_rekey(heads), rows, counts), errors, index, skipped, deployments)

    def _span(
        self, span: Span, record: int, resource: _Resource
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None:
        limits = self.limits
        pairs = span.attributes
        n_attrs = len(pairs)
        if n_attrs > limits.max_attributes:
            raise SpanError(
                "attributes",
                f"has {n_attrs:,} attributes; the limit is {limits.max_attributes:,} per span",
            )
        span_events = span.events
        n_events = len(span_events)
        if n_events > limits.max_events:
            raise SpanError(
                "events",
                f"has {n_events:,} events; the limit is {limits.max_events:,} per span",
            )
        raw = read_attributes(pairs)
        names = "\n".join(raw)
        # The first name usually answers (a name at the start of the string is on its line).
        relevant = names.startswith(_GENAI_PREFIXES) or _GENAI_NAMES.search(names) is not None
        events = [e for e in span_events if e.name.startswith("gen_ai.")] if n_events else []
        if not relevant and not events:
            return None
        trace_id = span.trace_id
        if len(trace_id) != 16 or trace_id == _NO_TRACE:
            raise SpanError(
                "trace_id", "is missing or invalid: a span needs a 16-byte, non-zero trace id"
            )
        span_id = span.span_id
        if len(span_id) != 8 or span_id == _NO_SPAN:
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
            return self._rows(span, record, resource, attrs, events, start, end, trace_id, span_id)
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
        trace_id: bytes,
        span_id: bytes,
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        """The span's _SPAN_COLUMNS and its rows' _ROW_COLUMNS (the ids as ``_span`` read them).

        The attributes are read in a fixed order, so that a span with several wrong ones is
        named by the same one every time; an attribute that holds text (nearly all of them)
        is taken straight from the dict, any other goes through the typed getter, which
        converts it or names the type it should have had.
        """
        raw = attrs.raw
        get = raw.get
        text = attrs.text
        trace_hex = trace_id.hex()
        span_hex = span_id.hex()
        v = get("gen_ai.conversation.id")
        conversation = (
            (v or None) if type(v) is str else text("gen_ai.conversation.id", "session.id")
        )
        keyed = conversation is not None
        v = get("gen_ai.operation.name")
        op = v.lower() if type(v) is str else (text("gen_ai.operation.name") or "").lower()
        v = get("openinference.span.kind")
        oi_kind = v.upper() if type(v) is str else (text("openinference.span.kind") or "").upper()
        v = get("gen_ai.response.model")
        if type(v) is str:
            model = v or None
        else:
            model = text("gen_ai.response.model", "llm.model_name", "gen_ai.request.model")
        v = get("gen_ai.usage.input_tokens")
        if type(v) is int:
            tokens_in: int | None = v
        else:
            tokens_in = attrs.integer(
                "gen_ai.usage.input_tokens", "llm.token_count.prompt", "gen_ai.usage.prompt_tokens"
            )
        v = get("gen_ai.usage.output_tokens")
        if type(v) is int:
            tokens_out: int | None = v
        else:
            tokens_out = attrs.integer(
                "gen_ai.usage.output_tokens",
                "llm.token_count.completion",
                "gen_ai.usage.completion_tokens",
            )
        if tokens_in is not None and tokens_in < 0:
            raise SpanError("attributes.gen_ai.usage.input_tokens", "must not be negative")
        if tokens_out is not None and tokens_out < 0:
            raise SpanError("attributes.gen_ai.usage.output_tokens", "must not be negative")
        names = attrs.names  # one substring test rules out a family of absent attributes
        cost = None
        if "llm.cost." in names:
            cost = attrs.number("llm.cost.total")
            if cost is None:
                parts = [attrs.number("llm.cost.prompt"), attrs.number("llm.cost.completion")]
                cost = sum(p for p in parts if p is not None) if any(parts) else None
        status = span.status
        failed = status.code == _ERROR
        v = get("error.type")
        error_type = (v or None) if type(v) is str or v is None else text("error.type")
        error = None
        if failed or error_type:
            error = status.message or error_type or "error"
        v = get("user.id")
        if type(v) is str:
            customer = v or resource.customer_ref
        else:
            customer = text("user.id", "enduser.id") or resource.customer_ref
        segments = resource.segments
        if "daytwo." in names:
            v = get("daytwo.channel")
            channel = (v or None) if type(v) is str else text("daytwo.channel")
            v = get("daytwo.journey")
            journey = (v or None) if type(v) is str else text("daytwo.journey")
            v = get("daytwo.outcome")
            outcome = (v or None) if type(v) is str else text("daytwo.outcome")
            hints = (customer, channel or resource.channel, journey, outcome)
            if "daytwo.segment." in names:
                segments = {**segments, **_segments(attrs)}
            v = get("daytwo.intent")
            intent = (v or None) if type(v) is str else text("daytwo.intent")
            v = get("daytwo.confidence")
            confidence = None if v is None else attrs.number("daytwo.confidence")
            v = get("daytwo.fallback")
            fallback = v if type(v) is bool else attrs.flag("daytwo.fallback")
        else:
            hints = (customer, resource.channel, None, None)
            intent, confidence, fallback = None, None, None
        scores = _scores(events) if events else None
        v = get("gen_ai.agent.name")
        agent = (v or None) if type(v) is str else text("gen_ai.agent.name", "agent.name")
        v = get("gen_ai.provider.name")
        if type(v) is str:
            provider = v or None
        else:
            provider = text("gen_ai.provider.name", "llm.provider", "gen_ai.system", "llm.system")

        if op in _MODEL_CALLS or oi_kind == "LLM":
            source = "llm"
        elif op == "execute_tool" or oi_kind == "TOOL":
            source = "tool"
        elif op in _AGENT_STEPS or oi_kind in ("AGENT", "CHAIN"):
            source = "chain"
        elif (
            "gen_ai.input.messages" in raw
            or "gen_ai.output.messages" in raw
            or any(k.startswith("llm.input_messages.") for k in raw)
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

        turns: list[_Turn]
        if source == "llm":
            turns = self._model_turns(attrs, events, start, end, extra, error, model)
        elif source == "tool":
            turns = self._tool_turn(attrs, start, extra)
        elif source == "chain":
            turns = []
            text_in = text("input.value")
            text_out = text("output.value")
            if text_in:
                turns.append(("user", text_in, start, None, None, None, None))
            if text_out:
                turns.append(("assistant", text_out, end, _json(extra), None, None, None))
        else:
            turns = []

        head = (
            resource.deployment,
            conversation or trace_hex,
            keyed,
            trace_hex,
            span_hex,
            start,
            end,
            *hints,
            _json(segments) if segments else None,
            _json(scores) if scores else None,
            record,
        )
        if not turns:
            # A span with no turn of its own still tells about its conversation.
            meta_attrs = {k: v for k, v in extra.items() if k != "span.name"}
            return head, [(-1, "meta", *_NO_TURN, _json(meta_attrs), None, None, None, 0)]
        latency = (end - start) / 1e6
        max_chars = self.limits.max_text_chars
        out: list[tuple[Any, ...]] = []
        counted = True  # the first answer of the span carries its tokens and cost
        for part, (role, body, ts, t_json, call_id, tool_name, input_index) in enumerate(turns):
            if body is not None and len(body) > max_chars:
                raise SpanError(
                    f"turn {part} text",
                    f"has {len(body):,} characters; the limit is {max_chars:,} per message",
                )
            if role == "assistant":
                if counted:
                    counted = False
                    out.append(
                        (part, source, ts, role, body, intent, confidence, fallback, latency,
                         error, model, tokens_in, tokens_out, cost, t_json, call_id,
                         input_index, tool_name, part)
                    )  # fmt: skip
                else:
                    out.append(
                        (part, source, ts, role, body, intent, confidence, fallback, latency,
                         error, model, None, None, None, t_json, call_id, input_index,
                         tool_name, part)
                    )  # fmt: skip
            elif role == "tool" and source == "tool":
                out.append(
                    (part, source, ts, role, body, None, None, None, latency, error, None, None,
                     None, None, t_json, call_id, input_index, tool_name, part)
                )  # fmt: skip
            else:
                out.append(
                    (part, source, ts, role, body, None, None, None, None, None, None, None,
                     None, None, t_json, call_id, input_index, tool_name, part)
                )  # fmt: skip
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
        turns: list[_Turn] = [
            (m.role, m.text, start, None, m.call_id, m.tool_name, i)
            for i, m in new
            if m.role != "assistant"
        ]
        answers = [m for m in outputs if m.role == "assistant"] or outputs[:1]
        if answers:
            plain = None  # the answers' attributes as JSON, where they add nothing to extra
            for m in answers:
                if m.tool_calls or m.finish_reason:
                    t_attrs = dict(extra)
                    if m.tool_calls:
                        t_attrs["tool_calls"] = list(m.tool_calls)
                    if m.finish_reason:
                        t_attrs["finish_reason"] = m.finish_reason
                    t_json = _json(t_attrs)
                else:
                    if plain is None:
                        plain = _json(extra)
                    t_json = plain
                turns.append(("assistant", m.text, end, t_json, None, None, None))
        elif error or model or "gen_ai.usage.output_tokens" in attrs.raw:
            # The call happened (and may have failed) without a recorded answer.
            turns.append(("assistant", None, end, _json(extra), None, None, None))
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
        return [("tool", text, start, _json(t_attrs), call_id, name, None)]


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


def _struct(names: Iterable[str]) -> pa.StructType:
    """The columns ``names`` as one struct type (times in nanoseconds, as the tuples hold them):
    Arrow reads a list of tuples into it in one call, without transposing them in Python."""
    return pa.struct(
        [pa.field(n, pa.int64() if n in _NS else _SCHEMA.field(n).type) for n in names]
    )


_SPAN_STRUCT = _struct(_SPAN_COLUMNS)
_ROW_STRUCT = _struct(_ROW_COLUMNS)


def _columns(tuples: pa.StructArray) -> dict[str, pa.Array]:
    """The fields of ``tuples`` as columns of the rows' types."""
    out: dict[str, pa.Array] = {}
    for f, values in zip(tuples.type, tuples.flatten(), strict=True):
        if f.name in _NS:  # nanoseconds (None where absent) to microseconds, in Arrow
            out[f.name] = pc.divide(values, 1000).cast(TS)
        else:
            out[f.name] = values
    return out


def _table(
    heads: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], counts: list[int]
) -> pa.Table:
    """The rows, each with the columns of its span (``counts``: how many rows each span in
    ``heads`` yields, its rows one after the other)."""
    if not rows:
        return _SCHEMA.empty_table()
    spans = pa.array(heads, type=_SPAN_STRUCT)
    if len(heads) != len(rows):
        owners = np.repeat(np.arange(len(heads), dtype=np.int32), counts)
        spans = spans.take(pa.array(owners))
    columns = {**_columns(pa.array(rows, type=_ROW_STRUCT)), **_columns(spans)}
    return pa.Table.from_arrays([columns[n] for n in _COLUMNS], schema=_SCHEMA)
