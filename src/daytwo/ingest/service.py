"""Validate a decoded unit of input and store it: all-or-nothing, or partial on request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from pydantic import BaseModel, Field

from daytwo.errors import RecordError, ValidationFailed
from daytwo.governance.plan import DEFAULT_PLAN, RedactionPlan
from daytwo.governance.redact import Redactor
from daytwo.ingest.decode import Decoded
from daytwo.interactions.columns import Batch
from daytwo.interactions.facts import add_facts
from daytwo.interactions.validate import drop_records, validate_batch
from daytwo.store.events import EventStore
from daytwo.telemetry import TELEMETRY


class RecordErrorOut(BaseModel):
    index: int = Field(description="Position of the record in the request (or line in a file).")
    id: str | None = Field(description="The record's interaction id, where it could be read.")
    field: str = Field(description="Path of the offending field, e.g. `turns.3.seq`.")
    message: str


class IngestResult(BaseModel):
    """What happened to a batch."""

    batch_id: str
    received: int = Field(description="Records in the request.")
    accepted: int = Field(description="Records stored.")
    rejected: int = Field(description="Records not stored because they are invalid.")
    inserted: int = Field(description="Stored records whose id was new.")
    replaced: int = Field(description="Stored records that replaced an earlier copy (same id).")
    turns: int
    assist_events: int
    redacted: dict[str, int] = Field(
        default_factory=dict,
        description="PII replaced by placeholders before storage, by kind (e.g. `email`).",
    )
    errors: list[RecordErrorOut] = Field(default_factory=list)


def check(decoded: Decoded, *, fragments: bool = False) -> list[RecordError]:
    """Every error of the unit: decoding errors first, then the shared rules, one per field.

    ``fragments``: the records are pieces of interactions that may share an id (see
    :func:`~daytwo.interactions.validate.validate_batch`).
    """
    seen: set[tuple[int, str]] = set()
    merged: list[RecordError] = []
    for err in [*decoded.errors, *validate_batch(decoded.batch, fragments=fragments)]:
        key = (err.index, err.field)
        if key not in seen:
            seen.add(key)
            merged.append(err)
    merged.sort(key=lambda e: (e.index, e.field))
    # A message may quote the value it refuses (a flat file's cell): never PII.
    return [_without_pii(e) for e in merged]


_ERROR_REDACTOR = Redactor()


def _without_pii(error: RecordError) -> RecordError:
    redacted = _ERROR_REDACTOR.redact(error.message)
    return replace(error, message=redacted.text) if redacted.counts else error


@dataclass(frozen=True, slots=True)
class Prepared:
    """A checked unit of input, ready to write: its valid records (with facts) and errors."""

    batch: Batch
    errors: list[RecordError]
    received: int
    rejected: int
    redacted: dict[str, int]


def prepare(
    decoded: Decoded, *, partial: bool = False, redaction: RedactionPlan | None = None
) -> Prepared:
    """Check ``decoded``, keep its valid records and redact their PII (see :func:`ingest`).

    Redaction always runs: without a ``redaction`` plan every deployment gets the default
    policy (every built-in kind), so no path can store unredacted text by forgetting it.
    """
    errors = check(decoded)
    if errors and not partial:
        raise ValidationFailed(errors, received=decoded.n_records)
    bad = {e.index for e in errors}
    batch, redacted = (redaction or DEFAULT_PLAN).redact_batch(drop_records(decoded.batch, bad))
    # Facts here rather than in the store's write: in a pipelined import this runs on the
    # checking thread, leaving the writer thread to the database alone.
    batch = add_facts(batch)
    return Prepared(batch, errors, decoded.n_records, len(bad), redacted)


def commit(
    store: EventStore, prepared: Prepared, *, source: str = "api", batch_id: str | None = None
) -> IngestResult:
    """Write a prepared unit in one transaction and say what happened."""
    batch_id = batch_id or uuid.uuid4().hex
    written = store.write(prepared.batch, source=source, batch_id=batch_id)
    TELEMETRY.count_ingest(
        source.split(":")[0], accepted=prepared.batch.n_records, rejected=prepared.rejected
    )
    return IngestResult(
        batch_id=batch_id,
        received=prepared.received,
        accepted=prepared.batch.n_records,
        rejected=prepared.rejected,
        inserted=written.inserted,
        replaced=written.replaced,
        turns=written.turns,
        assist_events=written.assist_events,
        redacted=prepared.redacted,
        errors=[RecordErrorOut(**e.as_dict()) for e in prepared.errors],
    )


def ingest(
    store: EventStore,
    decoded: Decoded,
    *,
    partial: bool = False,
    source: str = "api",
    batch_id: str | None = None,
    redaction: RedactionPlan | None = None,
) -> IngestResult:
    """Store the valid records of ``decoded``, PII redacted under ``redaction``.

    Without ``partial`` a single invalid record rejects the whole unit and nothing is written
    (:class:`ValidationFailed` lists every error). With ``partial`` the valid records are
    stored and the invalid ones reported. Either way the write itself is one transaction.
    """
    try:
        prepared = prepare(decoded, partial=partial, redaction=redaction)
    except ValidationFailed as exc:
        TELEMETRY.count_ingest(source.split(":")[0], accepted=0, rejected=exc.received)
        raise
    return commit(store, prepared, source=source, batch_id=batch_id)
