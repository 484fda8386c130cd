"""An OTLP/HTTP trace request body to the official ``ExportTraceServiceRequest`` message.

Binary protobuf (``application/x-protobuf``) is parsed by the protobuf runtime against the
definitions of ``opentelemetry-proto``. OTLP/JSON (``application/json``) is the protobuf JSON
mapping with the differences the OTLP specification prescribes: trace and span ids are hex
strings (not base64), enums are integers, unknown fields are ignored. Both may arrive
gzip-compressed (``Content-Encoding: gzip``); the decompressed size is bounded too, so a small
compressed body cannot expand without limit.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from daytwo.errors import InputError, PayloadTooLargeError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class UnsupportedMediaType(InputError):
    code = "unsupported_media_type"
    http_status = 415


def media_type(content_type: str | None) -> str:
    """The request's OTLP encoding from its ``Content-Type``: protobuf or JSON."""
    base = (content_type or "").split(";")[0].strip().lower()
    if base in (PROTOBUF, "application/protobuf", "application/octet-stream", ""):
        return PROTOBUF
    if base == JSON:
        return JSON
    raise UnsupportedMediaType(
        f"Content-Type {base!r} is not OTLP: send application/x-protobuf or application/json."
    )


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its ``Content-Encoding`` (identity or gzip), at most ``limit`` bytes."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    if name != "gzip":
        raise UnsupportedMediaType(
            f"Content-Encoding {name!r} is not supported: send gzip or no encoding."
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InputError(f"The body is not valid gzip: {exc}.") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLargeError(
            f"The body is over the limit of {limit} bytes once decompressed."
        )
    if not inflater.eof:
        raise InputError("The body is not valid gzip: it ends before the gzip stream does.")
    return out


def parse_request(body: bytes, kind: str) -> ExportTraceServiceRequest:
    """Parse a decompressed body; an unusable one is an :class:`InputError` (400)."""
    if kind == PROTOBUF:
        try:
            parsed: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(body)
            return parsed
        except DecodeError as exc:
            raise InputError(
                f"The body is not a protobuf ExportTraceServiceRequest ({exc})."
            ) from None
    return _parse_json(body)


def _parse_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        doc = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InputError(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(doc, dict):
        raise InputError(
            "The body is not an OTLP ExportTraceServiceRequest: expected a JSON object "
            f"with a 'resourceSpans' array, got {type(doc).__name__}."
        )
    spans = doc.get("resourceSpans", doc.get("resource_spans"))
    if doc and spans is None:
        raise InputError(
            "The body is not an OTLP ExportTraceServiceRequest: it has no 'resourceSpans' "
            f"array (its keys: {sorted(doc)[:10]})."
        )
    if spans is not None and not isinstance(spans, list):
        raise InputError("'resourceSpans' must be an array of ResourceSpans.")
    _hex_ids_to_base64(doc, "")
    try:
        request = ExportTraceServiceRequest()
        json_format.ParseDict(doc, request, ignore_unknown_fields=True, max_recursion_depth=64)
        return request
    except (json_format.ParseError, RecursionError) as exc:
        raise InputError(f"The body is not an OTLP ExportTraceServiceRequest: {exc}") from None


def _hex_ids_to_base64(node: Any, path: str) -> None:
    """OTLP/JSON ids are hex; the protobuf JSON mapping of ``bytes`` is base64."""
    stack = [(node, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                here = f"{where}.{key}" if where else key
                if key in _ID_FIELDS and isinstance(value, str):
                    item[key] = _hex_to_base64(value, here)
                elif isinstance(value, dict | list):
                    stack.append((value, here))
        elif isinstance(item, list):
            stack.extend((value, f"{where}[{i}]") for i, value in enumerate(item))


def _hex_to_base64(value: str, where: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InputError(
            f"{where}: {value[:40]!r} is not a hex id (OTLP/JSON sends trace and span ids "
            "as hex strings)."
        ) from None
    return base64.b64encode(raw).decode()
