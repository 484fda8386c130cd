"""`POST /api/v1/ingest`: JSON or NDJSON batches with per-record errors."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from daytwo.errors import InputError, PayloadTooLargeError, ValidationFailed
from daytwo.governance.policies import KeptPlans
from daytwo.http.access import Scope, check_deployments, requires
from daytwo.http.deps import EventsDep, LedgerDep, SettingsDep
from daytwo.ingest.decode import Decoded, decode_json, decode_ndjson
from daytwo.ingest.service import IngestResult, commit, prepare

router = APIRouter(prefix="/api/v1", tags=["ingest"])

NDJSON_TYPES = (
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/jsonlines",
)


def ingest_gate(request: Request) -> asyncio.Semaphore:
    """The semaphore that admits ``ingest_concurrency`` batches of this app at a time."""
    state = request.app.state
    gate: asyncio.Semaphore | None = getattr(state, "ingest_gate", None)
    if gate is None:
        gate = state.ingest_gate = asyncio.Semaphore(state.settings.ingest_concurrency)
    return gate


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"The body is {declared} bytes; the limit is {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"The body is over the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/ingest",
    response_model=IngestResult,
    summary="Ingest a batch of interactions",
    dependencies=[requires(Scope.ingest)],
    responses={
        400: {"description": "The body is not JSON/NDJSON at all."},
        413: {"description": "Over 20 MB or 5,000 interactions."},
        422: {"description": "Invalid records; nothing was stored. Lists every error."},
    },
)
async def ingest_batch(
    request: Request,
    events: EventsDep,
    ledger: LedgerDep,
    settings: SettingsDep,
    partial: Annotated[
        bool, Query(description="Store the valid records and report the rest.")
    ] = False,
) -> IngestResult:
    """Store a batch of interactions (wire format), idempotent by id.

    The body is `{"interactions": [...]}` (`application/json`) or one interaction per line
    (`application/x-ndjson`). A batch is all-or-nothing unless `partial=true`; either way a
    batch none of whose records can be stored is a 422.
    """
    body = await read_body(request, settings.ingest_max_bytes)
    if not body.strip():
        raise InputError('The body is empty: send {"interactions": [...]} or NDJSON lines.')
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    decoder = decode_ndjson if content_type in NDJSON_TYPES else decode_json

    def work() -> IngestResult:
        decoded: Decoded = decoder(body)
        if decoded.n_records > settings.ingest_max_interactions:
            raise PayloadTooLargeError(
                f"The batch has {decoded.n_records} interactions; the limit is "
                f"{settings.ingest_max_interactions} per request."
            )
        # Every deployment of the batch must be granted, valid records or not: a key of one
        # deployment cannot write another's, nor learn about it from the errors.
        check_deployments(
            request,
            Scope.ingest,
            [d for d in set(decoded.batch.interactions["deployment"].to_pylist()) if d],
        )
        plans: KeptPlans = request.app.state.redaction_plans
        plan = plans.current(ledger, settings.pseudonym_key())
        prepared = prepare(decoded, partial=partial, redaction=plan)
        if prepared.errors and not prepared.batch.n_records:
            # Partial or not, a batch of which nothing can be stored is refused as a whole.
            raise ValidationFailed(prepared.errors, received=decoded.n_records)
        return commit(events, prepared, source="api")

    # One batch at a time per process: writes to the store are serial anyway, and batches
    # decoding side by side would only take the CPU (and the interpreter) from the pages.
    async with ingest_gate(request):
        return await run_in_threadpool(work)
