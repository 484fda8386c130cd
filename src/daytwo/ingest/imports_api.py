"""`POST /api/v1/imports`: ``daytwo import`` of files on this machine, run by the server.

While ``daytwo serve`` holds the events store, ``daytwo import`` sends its files here by path
(with the server's local credential, see :mod:`daytwo.http.link`) and the server imports
them exactly as the command would: the same reader, checks, redaction, rejects file and
audit entry. Only the command line of the server's own machine may ask: a path names a file
the server can read, which is no business of a remote caller (they use ``/api/v1/ingest``).

The answer streams one JSON object per line: ``{"total": N}`` (bytes or rows to go), then
``{"advance": n}`` as chunks are stored, and finally ``{"summary": {...}}`` or
``{"error": {...}}`` (the error shape of every route).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from daytwo.errors import DaytwoError, PermissionDenied
from daytwo.governance import audit
from daytwo.governance.policies import KeptPlans
from daytwo.http.access import Scope, current_principal, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.ingest.files import ImportSummary, detect_format, import_file, progress_total
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

router = APIRouter(prefix="/api/v1", tags=["ingest"])


class ImportRequest(BaseModel):
    """One file to import, as ``daytwo import`` names it."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Absolute path of the file on the server's machine.")
    format: str | None = Field(default=None, description="jsonl, csv or parquet.")
    mapping: str | None = Field(default=None, description="Column mapping (YAML) path.")
    deployment: str | None = Field(default=None, description="For flat files without one.")
    strict: bool = Field(default=False, description="Store nothing if any record fails.")
    rejects: str | None = Field(default=None, description="Where invalid records go.")


def summary_json(summary: ImportSummary) -> dict[str, Any]:
    return asdict(summary)


def summary_from_json(data: dict[str, Any]) -> ImportSummary:
    from daytwo.errors import RecordError

    fields = dict(data)
    fields["first_errors"] = [RecordError(**e) for e in fields.get("first_errors", [])]
    return ImportSummary(**fields)


def _run(
    ledger: Ledger,
    events: EventStore,
    spec: ImportRequest,
    actor: str,
    lines: queue.Queue[bytes],
    pseudonym_key: bytes | None,
    plans: KeptPlans,
) -> None:
    def say(obj: dict[str, Any]) -> None:
        lines.put(orjson.dumps(obj) + b"\n")

    path = Path(spec.path)
    try:
        kind = detect_format(path, spec.format) if path.exists() else (spec.format or "?")
        if path.exists():
            say({"total": progress_total(path, kind)})
        summary = import_file(
            events,
            path,
            fmt=spec.format,
            mapping=Path(spec.mapping) if spec.mapping else None,
            deployment=spec.deployment,
            strict=spec.strict,
            rejects=Path(spec.rejects) if spec.rejects else None,
            progress=lambda n: say({"advance": n}),
            redaction=plans.current(ledger, pseudonym_key),
        )
        with ledger.session() as session:
            audit.record(
                session,
                actor=actor,
                action="import",
                target=path.name,
                after={
                    "records": summary.records,
                    "accepted": summary.accepted,
                    "rejected": summary.rejected,
                    "redacted": summary.redacted,
                },
            )
        say({"summary": summary_json(summary)})
    except DaytwoError as exc:
        say({"error": exc.as_dict()})
    except Exception:  # the stream has begun: say so rather than cut it short
        import logging

        logging.getLogger("daytwo.server").exception("import of %s failed", spec.path)
        say({"error": {"code": "internal_error", "message": "Internal server error."}})
    finally:
        lines.put(b"")


@router.post(
    "/imports",
    summary="Import a file on the server's machine (the command line of that machine only)",
    dependencies=[requires(Scope.admin)],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def import_local_file(
    request: Request, spec: ImportRequest, ledger: LedgerDep, events: EventsDep
) -> StreamingResponse:
    """What ``daytwo import FILE`` does, done by the server that holds the events store."""
    principal = current_principal(request)
    if principal is None or not principal.local:
        raise PermissionDenied(
            "Imports by path are for the command line on the server's machine; send data "
            "to /api/v1/ingest instead."
        )
    lines: queue.Queue[bytes] = queue.Queue()
    worker = threading.Thread(
        target=_run,
        args=(
            ledger,
            events,
            spec,
            principal.name,
            lines,
            request.app.state.settings.pseudonym_key(),
            request.app.state.redaction_plans,
        ),
        name="daytwo-import",
        daemon=True,
    )
    worker.start()

    def stream() -> Iterator[bytes]:
        while line := lines.get():
            yield line

    return StreamingResponse(stream(), media_type="application/x-ndjson")
