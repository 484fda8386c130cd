"""Receive a trace request: map its spans, check and redact them on the shared path, stage them.

Every span becomes a *fragment* record of its conversation (an interaction row carrying the
span's times and facts, plus the span's turns) and goes through the same checks
(:func:`daytwo.ingest.service.check`) and the same PII redaction
(:meth:`~daytwo.governance.plan.RedactionPlan.redact_batch`) as a record of the JSON door.
Spans that pass are staged in one transaction; the answer counts the others as rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from daytwo.clock import aware
from daytwo.errors import RecordError
from daytwo.governance.plan import RedactionPlan
from daytwo.ingest.decode import Decoded
from daytwo.ingest.otlp.grouped import StageGroup
from daytwo.ingest.otlp.spans import Limits, Mapped, SpanMapper
from daytwo.ingest.service import check
from daytwo.interactions.columns import ASSIST_EVENTS, INTERACTIONS, TS, TURNS, Batch, with_locators
from daytwo.store.events import EventStore
from daytwo.store.events.base import AuditCount
from daytwo.store.events.staging import STAGED

_FRAGMENT = with_locators(INTERACTIONS, pos=False)
_TURNS = with_locators(TURNS, pos=True)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EMPTY_ASSIST = with_locators(ASSIST_EVENTS, pos=True).empty_table()
# The staged columns a fragment (one per span) and a turn view are built from.
_HEAD_COLUMNS = [
    "conversation",
    "deployment",
    "span_start",
    "span_end",
    "channel",
    "journey",
    "customer_ref",
    "outcome",
    "_record",
]
_TURN_SOURCES = list(dict.fromkeys(["conversation", "part", *(f.name for f in _TURNS)]))


@dataclass(frozen=True, slots=True)
class Received:
    """What happened to one request's spans."""

    spans: int
    accepted: int
    rejected: int
    skipped: int  # accepted, but of no GenAI meaning: nothing staged
    turns: int
    conversations: int
    redacted: dict[str, int] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)

    def message(self, limit: int = 5) -> str:
        """The rejected spans in words, for ``partial_success.error_message``."""
        if not self.errors:
            return ""
        head = "; ".join(
            f"span {e.index}" + (f" (span id {e.id})" if e.id else "") + f", {e.field}: {e.message}"
            for e in self.errors[:limit]
        )
        more = len(self.errors) - limit
        tail = f"; and {more} more error(s)" if more > 0 else ""
        return f"{self.rejected} of {self.spans} spans rejected: {head}{tail}"


def receive(
    store: EventStore,
    request: ExportTraceServiceRequest,
    *,
    redaction: RedactionPlan,
    received_at: datetime,
    default_deployment: str | None = None,
    authorise: Callable[[Sequence[str]], None] | None = None,
    limits: Limits | None = None,
) -> Received:
    """Map, check, redact and stage the spans of ``request`` (see :func:`stage_mapped`)."""
    mapped = SpanMapper(default_deployment, limits).map(request)
    return stage_mapped(
        store, mapped, redaction=redaction, received_at=received_at, authorise=authorise
    )


def stage_mapped(
    store: EventStore,
    mapped: Mapped,
    *,
    redaction: RedactionPlan,
    received_at: datetime,
    authorise: Callable[[Sequence[str]], None] | None = None,
) -> Received:
    """Check, redact and stage mapped spans.

    ``authorise`` is called with every deployment the request writes before anything is
    staged; it raises to refuse the whole request (a key of another deployment).
    """
    return stage_prepared(
        store, prepare(mapped, redaction), received_at=received_at, authorise=authorise
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request's spans checked and redacted, ready to stage: the part of a request that
    needs no store, so that a worker process can do it (see :mod:`.workers`)."""

    rows: pa.Table  # STAGED without received_at
    deployments: list[str]  # every deployment a span names, checked or not
    received: Received


def prepare(mapped: Mapped, redaction: RedactionPlan) -> Prepared:
    """Check the mapped spans on the shared path, drop the rejected ones, redact the rest."""
    rows = mapped.rows
    fragments = _fragments(rows)
    decoded = Decoded(
        Batch(fragments, turns_view(rows), _EMPTY_ASSIST), mapped.errors, mapped.spans
    )
    errors = check(decoded, fragments=True)
    bad = sorted({e.index for e in errors})
    if bad:
        keep = pc.invert(pc.is_in(rows["_record"], value_set=pa.array(bad, type=pa.int64())))
        rows = rows.filter(keep)
        fragments = fragments.filter(
            pc.invert(pc.is_in(fragments["_record"], value_set=pa.array(bad, type=pa.int64())))
        )
    redacted_batch, redacted = redaction.redact_batch(Batch(fragments, rows, _EMPTY_ASSIST))
    staged = redacted_batch.turns.drop_columns(["_record", "_pos"])
    turns = int(pc.sum(pc.is_valid(rows["role"])).as_py() or 0) if rows.num_rows else 0
    conversations = (
        len(
            pc.unique(pc.binary_join_element_wise(rows["deployment"], rows["conversation"], "\x1f"))
        )
        if rows.num_rows
        else 0
    )
    n_bad = len(bad)
    received = Received(
        spans=mapped.spans,
        accepted=mapped.spans - n_bad,
        rejected=n_bad,
        skipped=mapped.skipped,
        turns=turns,
        conversations=conversations,
        redacted=redacted,
        errors=errors,
    )
    return Prepared(staged, sorted(set(mapped.deployments.values())), received)


def stage_prepared(
    store: EventStore,
    prepared: Prepared,
    *,
    received_at: datetime,
    authorise: Callable[[Sequence[str]], None] | None = None,
    group: StageGroup | None = None,
    audit: AuditCount | None = None,
) -> Received:
    """Stage prepared rows in one transaction, once ``authorise`` allowed every deployment;
    with ``group``, the transaction may hold other requests' rows too (a group commit);
    ``audit`` is the request's audit count, committed in that transaction."""
    if authorise is not None:
        authorise(prepared.deployments)
    rows = prepared.rows
    # One timestamp for every row, built without a Python object per row.
    received_at = aware(received_at)
    at = (received_at - _EPOCH) // timedelta(microseconds=1)
    stamp = pa.array(np.full(rows.num_rows, at, dtype=np.int64)).cast(TS)
    staged = rows.append_column(STAGED.field("received_at"), stamp)
    staged = staged.select(STAGED.names)
    if not staged.schema.equals(STAGED, check_metadata=True):  # the workers' rows have it
        staged = staged.cast(STAGED)
    if group is not None and group.store is store:
        group.stage(staged, audit)
    else:
        store.stage(staged, [audit] if audit is not None else [])
    return prepared.received


def _fragments(rows: pa.Table) -> pa.Table:
    """One interaction row per span (its first staged row), for the shared checks."""
    if rows.num_rows == 0:
        return _FRAGMENT.empty_table()
    rec = rows["_record"].to_numpy()
    first = np.flatnonzero(np.r_[True, rec[1:] != rec[:-1]])
    # Only the columns a fragment reads are taken (not the turns' texts and attributes).
    head = rows.select(_HEAD_COLUMNS).take(pa.array(first, type=pa.int64()))
    n = head.num_rows
    columns = {
        "interaction_id": head["conversation"],
        "deployment": head["deployment"],
        "started_at": head["span_start"],
        "ended_at": head["span_end"],
        "channel": head["channel"],
        "journey": head["journey"],
        "customer_ref": head["customer_ref"],
        "outcome": head["outcome"],
        "_record": head["_record"],
    }
    arrays = [columns[f.name] if f.name in columns else pa.nulls(n, type=f.type) for f in _FRAGMENT]
    return pa.Table.from_arrays(arrays, schema=_FRAGMENT)


def turns_view(rows: pa.Table) -> pa.Table:
    """The staged rows that are turns, in the canonical turn columns (for the checks)."""
    # Only the columns a turn has are filtered (not the span's own columns).
    names = set(rows.column_names)
    wanted = [n for n in _TURN_SOURCES if n in names]
    turns = rows.select(wanted).filter(pc.is_valid(rows["role"]))
    columns = {"interaction_id": turns["conversation"], "seq": turns["part"]}
    arrays = [columns.get(f.name, turns[f.name] if f.name in names else None) for f in _TURNS]
    return pa.Table.from_arrays(
        [
            a if a is not None else pa.nulls(turns.num_rows, type=f.type)
            for a, f in zip(arrays, _TURNS, strict=True)
        ],
        schema=_TURNS,
    )
