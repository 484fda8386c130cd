"""`POST /v1/traces`: the OTLP/HTTP trace receiver.

Answers as the OTLP specification prescribes, in the encoding of the request (protobuf or
JSON): ``200`` with an ``ExportTraceServiceResponse`` (its ``partial_success`` counts the
rejected spans and says why), ``400`` for a body that is not an OTLP request (not retried by
exporters), ``429`` / ``503`` with ``Retry-After`` under pressure (retried after the wait), and
a ``google.rpc.Status`` body for every failure.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool

from daytwo.errors import DaytwoError, InputError, Overloaded, RateLimited
from daytwo.governance import audit
from daytwo.http.access import Scope, check_deployments, current_principal, requires
from daytwo.http.deps import EventsDep, LedgerDep, SettingsDep
from daytwo.ingest.api import read_body
from daytwo.ingest.otlp.decode import JSON, PROTOBUF, media_type
from daytwo.ingest.otlp.receive import Received, stage_prepared
from daytwo.ingest.otlp.service import TraceDoor
from daytwo.ingest.otlp.workers import Job
from daytwo.store.events.base import AuditCount
from daytwo.telemetry import TELEMETRY

router = APIRouter(tags=["otlp"])

_GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.NOT_FOUND,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    422: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


def _encoding(request: Request) -> str:
    try:
        return media_type(request.headers.get("content-type"))
    except InputError:
        return JSON


def status_response(request: Request, exc: DaytwoError) -> Response:
    """A failure as OTLP/HTTP answers it: a ``google.rpc.Status`` in the request's encoding."""
    status = status_pb2.Status(
        code=_GRPC_CODES.get(exc.http_status, code_pb2.INTERNAL), message=exc.message
    )
    if exc.http_status == 400:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field="(body)", description=exc.message)
            ]
        )
        status.details.add().Pack(bad)
    headers = {}
    if isinstance(exc, RateLimited | Overloaded):
        headers["Retry-After"] = str(exc.retry_after)
    if _encoding(request) == PROTOBUF:
        return Response(
            status.SerializeToString(),
            status_code=exc.http_status,
            media_type=PROTOBUF,
            headers=headers,
        )
    body = orjson.dumps(json_format.MessageToDict(status))
    return Response(body, status_code=exc.http_status, media_type=JSON, headers=headers)


def _answer(kind: str, result: Received) -> Response:
    response = ExportTraceServiceResponse()
    if result.rejected:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(
                rejected_spans=result.rejected, error_message=result.message()
            )
        )
    if kind == PROTOBUF:
        return Response(response.SerializeToString(), media_type=PROTOBUF)
    return Response(orjson.dumps(json_format.MessageToDict(response)), media_type=JSON)


@router.post(
    "/v1/traces",
    summary="Receive OpenTelemetry traces (OTLP/HTTP)",
    dependencies=[requires(Scope.ingest)],
    response_class=Response,
    responses={
        status: {"description": text, "content": {PROTOBUF: {}, JSON: {}}}
        for status, text in {
            200: "Stored; `partialSuccess` counts and explains rejected spans.",
            400: "Not an OTLP trace request; not retried.",
            401: "No or unknown key.",
            403: "A span of a deployment the key may not write; nothing stored.",
            413: "The body (or its decompressed form) is over the limit.",
            415: "Neither application/x-protobuf nor application/json.",
            429: "Too many requests at once or per minute; see Retry-After.",
            503: "Too much waiting to be written; see Retry-After.",
        }.items()
    },
)
async def export_traces(
    request: Request, events: EventsDep, ledger: LedgerDep, settings: SettingsDep
) -> Response:
    """Spans in the OTLP/HTTP encoding (protobuf or JSON, optionally gzip), with an `ingest`
    key as `Authorization: Bearer dt_...` (`OTEL_EXPORTER_OTLP_HEADERS`). Spans map onto
    conversations and turns as `docs/otlp.md` describes; a conversation is written once it has
    ended."""
    kind = media_type(request.headers.get("content-type"))
    door: TraceDoor = request.app.state.trace_door
    door.enter()
    staged = 0
    try:
        body = await read_body(request, settings.ingest_max_bytes)
        principal = current_principal(request)
        own = (
            next(iter(principal.deployments))
            if principal is not None
            and principal.deployments is not None
            and len(principal.deployments) == 1
            else None
        )

        plan = await run_in_threadpool(door.redaction_plan, ledger, settings.pseudonym_key())
        prepared = await door.pool.prepare(
            Job(
                body,
                request.headers.get("content-type"),
                request.headers.get("content-encoding"),
                settings.ingest_max_bytes,
                own,
                door.limits,
                plan,
            )
        )

        # Audited in the transaction of its rows where the store can (the count is folded
        # into the ledger's chain later): no ledger write waits before the answer.
        counted = (
            AuditCount(*audit.request_fields(request.scope, 200)) if events.stages_audit else None
        )

        def work() -> Received:
            return stage_prepared(
                events,
                prepared,
                received_at=datetime.now(UTC),
                authorise=lambda names: check_deployments(request, Scope.ingest, names),
                group=door.group(events),
                audit=counted,
            )

        result = await run_in_threadpool(work)
        if counted is not None:
            request.state.audit_staged = True
        staged = result.turns
    finally:
        door.leave(staged)
    TELEMETRY.count_ingest("otlp", accepted=result.accepted, rejected=result.rejected)
    TELEMETRY.otlp_spans(result)
    return _answer(kind, result)
