"""The rules every record must meet, whichever door it came through.

Rules run on the columnar :class:`~daytwo.interactions.columns.Batch` with Arrow compute, so a
million-row Parquet file is checked as fast as a ten-record API call. Each rule is a mask of
offending rows plus the field it concerns and a message; :func:`validate_batch` turns the masks
into :class:`~daytwo.errors.RecordError` values, and :func:`drop_records` removes the records
that failed, whole (an interaction is never stored without some of its turns).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.errors import RecordError
from daytwo.interactions.columns import ASSIST_ACTIONS, OUTCOMES, ROLES, Batch

DEPLOYMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# The size limits of one interaction's content (the byte-level ones, a record's size and
# nesting depth, are checked before parsing: daytwo.ingest.limits). docs/ingest.md lists both.
MAX_ID_CHARS = 200
MAX_TURNS = 100_000
MAX_TEXT_CHARS = 1024 * 1024  # a turn's text or error; a record's attributes as JSON
MAX_FIELD_CHARS = 1000  # every other string: channel, journey, refs, intent, model, segments
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Clocks drift and time zones get mislabelled; anything further ahead than this is a bug upstream.
MAX_FUTURE = timedelta(days=2)

Mask = Callable[[pa.Table], pa.Array | pa.ChunkedArray]
DUPLICATE_ID = "occurs more than once in this batch"


@dataclass(frozen=True, slots=True)
class Rule:
    """One check: rows where ``bad(table)`` is true break it."""

    table: str  # "interactions" | "turns" | "assist_events"
    field: str
    message: str
    bad: Mask


@dataclass(frozen=True, slots=True)
class _OnColumn:
    """A mask of one column that a null never breaks: a column of nulls only (as an OTLP
    span's interaction fields mostly are) needs no look at all."""

    column: str
    mask: Mask

    def __call__(self, t: pa.Table) -> pa.Array | pa.ChunkedArray:
        return self.mask(t)


def _null(col: str) -> Mask:
    return lambda t: pc.is_null(t[col])


def _not_in(col: str, allowed: tuple[str, ...]) -> Mask:
    values = pa.array(allowed)
    return _OnColumn(
        col,
        lambda t: pc.invert(pc.or_kleene(pc.is_in(t[col], value_set=values), pc.is_null(t[col]))),
    )


def _below(col: str, low: float) -> Mask:
    return _OnColumn(col, lambda t: pc.fill_null(pc.less(t[col], low), False))


def _above(col: str, high: float) -> Mask:
    return _OnColumn(col, lambda t: pc.fill_null(pc.greater(t[col], high), False))


def _ts_out_of_range(col: str) -> Mask:
    def bad(t: pa.Table) -> pa.Array:
        latest = datetime.now(UTC) + MAX_FUTURE
        early = pc.less(t[col], pa.scalar(EARLIEST, type=t.schema.field(col).type))
        late = pc.greater(t[col], pa.scalar(latest, type=t.schema.field(col).type))
        return pc.fill_null(pc.or_(early, late), False)

    return _OnColumn(col, bad)


def _length_over(col: str, limit: int) -> Mask:
    def bad(t: pa.Table) -> pa.Array:
        # A text has no more characters than bytes, and byte lengths come from the offsets
        # alone: only a column with a longer value needs its characters counted.
        longest = pc.max(pc.binary_length(t[col])).as_py()
        if longest is None or longest <= limit:
            return pa.array(np.zeros(t.num_rows, dtype=bool))
        return pc.fill_null(pc.greater(pc.utf8_length(t[col]), limit), False)

    return _OnColumn(col, bad)


def _not_finite(col: str) -> Mask:
    # Arrow's JSON reader takes NaN and Infinity literals; Parquet carries them too.
    return _OnColumn(col, lambda t: pc.fill_null(pc.invert(pc.is_finite(t[col])), False))


_SEGMENT_ENTRIES = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))


def _segment_over(limit: int) -> Mask:
    """Rows with a segment key or value longer than ``limit`` characters."""

    def bad(t: pa.Table) -> pa.Array:
        segments = t["segments"].combine_chunks().cast(_SEGMENT_ENTRIES)
        entries = pc.list_flatten(segments)
        if len(entries) == 0:
            return pa.array(np.zeros(t.num_rows, dtype=bool))
        long = pc.or_(
            pc.fill_null(pc.greater(pc.utf8_length(pc.struct_field(entries, 0)), limit), False),
            pc.fill_null(pc.greater(pc.utf8_length(pc.struct_field(entries, 1)), limit), False),
        )
        parents = pc.filter(pc.list_parent_indices(segments), long)
        return pc.is_in(pa.array(np.arange(t.num_rows)), value_set=parents)

    return _OnColumn("segments", bad)


def _size_rules(table: str, columns: tuple[str, ...], limit: int) -> tuple[Rule, ...]:
    return tuple(
        Rule(table, col, f"is longer than {limit:,} characters", _length_over(col, limit))
        for col in columns
    )


def _finite_rules(table: str, columns: tuple[str, ...]) -> tuple[Rule, ...]:
    return tuple(
        Rule(table, col, "must be a finite number (not NaN or infinity)", _not_finite(col))
        for col in columns
    )


def _deployment_name(t: pa.Table) -> pa.Array:
    # A batch names few deployments: each distinct name is matched once, in Python (Arrow
    # would compile the pattern again on every call). A missing name breaks the rule too.
    column = t["deployment"]
    wrong = [
        name
        for name in pc.unique(column).to_pylist()
        if name is not None and DEPLOYMENT_NAME.fullmatch(name) is None
    ]
    missing = pc.is_null(column)
    if not wrong:
        return missing
    return pc.or_(missing, pc.is_in(column, value_set=pa.array(wrong, type=pa.string())))


def _ended_before_start(t: pa.Table) -> pa.Array:
    return pc.fill_null(pc.less(t["ended_at"], t["started_at"]), False)


def _empty_id(t: pa.Table) -> pa.Array:
    return pc.fill_null(pc.equal(pc.utf8_length(t["interaction_id"]), 0), True)


def _duplicated(keys: tuple[str, ...]) -> Mask:
    """Rows whose key occurs more than once in the table (every occurrence is flagged)."""

    def bad(t: pa.Table) -> pa.Array:
        if t.num_rows == 0:
            return pa.array([], type=pa.bool_())
        if _all_distinct(t, keys):
            return pa.array(np.zeros(t.num_rows, dtype=bool))
        columns = [t[k] for k in keys]
        if all(pa.types.is_integer(c.type) and c.null_count == 0 for c in columns):
            return _duplicated_integers([c.to_numpy() for c in columns])
        counts = t.select(list(keys)).group_by(list(keys)).aggregate([([], "count_all")])
        dup = counts.filter(pc.greater(counts["count_all"], 1))
        if dup.num_rows == 0:
            return pa.array(np.zeros(t.num_rows, dtype=bool))
        indexed = t.select(list(keys)).append_column("_row", pa.array(range(t.num_rows)))
        hits = indexed.join(dup, keys=list(keys), join_type="inner")["_row"]
        return pc.is_in(pa.array(range(t.num_rows)), value_set=hits.combine_chunks())

    return bad


def _all_distinct(t: pa.Table, keys: tuple[str, ...]) -> bool:
    """A quick proof that no key occurs twice, for the usual batch (``False``: look closer).

    Integer keys in strictly increasing order (turns by record and seq, as most sources send
    them) or a single value in the first key column with a second column of distinct values
    (one deployment's ids) cannot repeat; the hash grouping that finds the repeats costs ten
    times more.
    """
    columns = [t[k] for k in keys]
    if any(c.null_count for c in columns):
        return False
    first, second = columns
    if pa.types.is_integer(first.type) and pa.types.is_integer(second.type):
        a = first.to_numpy()
        b = second.to_numpy()
        step = np.diff(a)
        return bool(np.all((step > 0) | ((step == 0) & (np.diff(b) > 0))))
    if pc.count_distinct(first).as_py() != 1:
        return False
    return bool(pc.count_distinct(second).as_py() == t.num_rows)


def _duplicated_integers(keys: list[np.ndarray]) -> pa.Array:
    """Rows whose integer key occurs more than once: sorted, each row compared with the next
    (a few times cheaper than a group-by and a join for the turns' (record, seq))."""
    order = np.lexsort(keys[::-1])
    same = np.ones(len(order) - 1, dtype=bool)
    for column in keys:
        ordered = column[order]
        same &= ordered[1:] == ordered[:-1]
    flagged = np.zeros(len(order), dtype=bool)
    flagged[1:] |= same
    flagged[:-1] |= same
    mask = np.empty(len(order), dtype=bool)
    mask[order] = flagged
    return pa.array(mask)


RULES: tuple[Rule, ...] = (
    Rule("interactions", "id", "is required and must not be empty", _empty_id),
    Rule(
        "interactions",
        "id",
        f"is longer than {MAX_ID_CHARS} characters",
        _length_over("interaction_id", MAX_ID_CHARS),
    ),
    Rule(
        "interactions",
        "id",
        DUPLICATE_ID,
        _duplicated(("deployment", "interaction_id")),
    ),
    Rule(
        "interactions",
        "deployment",
        "must be 1-100 characters of letters, digits, '.', '_' or '-', starting with a "
        "letter or digit",
        _deployment_name,
    ),
    Rule(
        "interactions",
        "turns",
        f"has more than {MAX_TURNS:,} turns",
        _above("n_turns", MAX_TURNS),
    ),
    Rule(
        "interactions",
        "segments",
        f"has a key or value longer than {MAX_FIELD_CHARS:,} characters",
        _segment_over(MAX_FIELD_CHARS),
    ),
    *_size_rules(
        "interactions",
        ("channel", "journey", "customer_ref", "agent_ref", "outcome"),
        MAX_FIELD_CHARS,
    ),
    *_size_rules("interactions", ("attributes",), MAX_TEXT_CHARS),
    *_finite_rules("interactions", ("csat", "handle_time_s", "cost")),
    *_size_rules("turns", ("role", "intent", "model"), MAX_FIELD_CHARS),
    *_size_rules("turns", ("text", "error", "attributes"), MAX_TEXT_CHARS),
    *_finite_rules("turns", ("confidence", "latency_ms", "cost")),
    *_size_rules("assist_events", ("agent_ref", "feature", "action"), MAX_FIELD_CHARS),
    *_size_rules("assist_events", ("attributes",), MAX_TEXT_CHARS),
    Rule("interactions", "started_at", "is required", _null("started_at")),
    Rule(
        "interactions",
        "started_at",
        "is out of range (before 2000-01-01 or more than 2 days in the future)",
        _ts_out_of_range("started_at"),
    ),
    Rule(
        "interactions",
        "ended_at",
        "is out of range (before 2000-01-01 or more than 2 days in the future)",
        _ts_out_of_range("ended_at"),
    ),
    Rule("interactions", "ended_at", "is before started_at", _ended_before_start),
    Rule(
        "interactions",
        "outcome",
        "must be one of " + ", ".join(OUTCOMES),
        _not_in("outcome", OUTCOMES),
    ),
    Rule("interactions", "csat", "must be between 0 and 10", _below("csat", 0)),
    Rule("interactions", "csat", "must be between 0 and 10", _above("csat", 10)),
    Rule("interactions", "handle_time_s", "must not be negative", _below("handle_time_s", 0)),
    Rule("interactions", "cost", "must not be negative", _below("cost", 0)),
    Rule("turns", "seq", "is required", _null("seq")),
    Rule("turns", "seq", "must not be negative", _below("seq", 0)),
    Rule(
        "turns",
        "seq",
        "repeats within the interaction",
        _duplicated(("_record", "seq")),  # a record is one interaction of the batch
    ),
    Rule("turns", "role", "must be one of " + ", ".join(ROLES), _not_in("role", ROLES)),
    Rule("turns", "role", "is required", _null("role")),
    Rule(
        "turns",
        "ts",
        "is out of range (before 2000-01-01 or more than 2 days in the future)",
        _ts_out_of_range("ts"),
    ),
    Rule("turns", "confidence", "must be between 0 and 1", _below("confidence", 0)),
    Rule("turns", "confidence", "must be between 0 and 1", _above("confidence", 1)),
    Rule("turns", "latency_ms", "must not be negative", _below("latency_ms", 0)),
    Rule("turns", "tokens_in", "must not be negative", _below("tokens_in", 0)),
    Rule("turns", "tokens_out", "must not be negative", _below("tokens_out", 0)),
    Rule("turns", "cost", "must not be negative", _below("cost", 0)),
    Rule(
        "assist_events",
        "action",
        "must be one of " + ", ".join(ASSIST_ACTIONS),
        _not_in("action", ASSIST_ACTIONS),
    ),
    Rule("assist_events", "action", "is required", _null("action")),
    Rule(
        "assist_events",
        "ts",
        "is out of range (before 2000-01-01 or more than 2 days in the future)",
        _ts_out_of_range("ts"),
    ),
)

_PREFIX = {"interactions": "", "turns": "turns", "assist_events": "assist_events"}


def _errors_for(rule: Rule, table: pa.Table) -> Iterator[RecordError]:
    if table.num_rows == 0:
        return
    bad = rule.bad
    if isinstance(bad, _OnColumn) and table[bad.column].null_count == table.num_rows:
        return
    mask = bad(table)
    if not pc.any(mask).as_py():
        return
    hits = table.filter(mask)
    records = hits["_record"].to_pylist()
    ids = hits["interaction_id"].to_pylist()
    positions = hits["_pos"].to_pylist() if "_pos" in hits.column_names else [None] * len(records)
    prefix = _PREFIX[rule.table]
    for record, iid, pos in zip(records, ids, positions, strict=True):
        field = f"{prefix}.{pos}.{rule.field}" if prefix else rule.field
        yield RecordError(index=int(record), id=iid, field=field, message=rule.message)


def validate_batch(batch: Batch, *, fragments: bool = False) -> list[RecordError]:
    """Every rule violation in the batch, ordered by record, then field.

    With ``fragments`` each record is a piece of an interaction (a span of a conversation)
    rather than a whole one, so several records may carry the same id.
    """
    tables = {
        "interactions": batch.interactions,
        "turns": batch.turns,
        "assist_events": batch.assist_events,
    }
    found: list[RecordError] = []
    for rule in RULES:
        if fragments and rule.message == DUPLICATE_ID:
            continue
        found.extend(_errors_for(rule, tables[rule.table]))
    found.sort(key=lambda e: (e.index, e.field))
    return found


def drop_records(batch: Batch, records: set[int]) -> Batch:
    """The batch without the given source records (each dropped whole: interaction + children)."""
    if not records:
        return batch
    bad = pa.array(sorted(records), type=pa.int64())

    def keep(table: pa.Table) -> pa.Table:
        return table.filter(pc.invert(pc.is_in(table["_record"], value_set=bad)))

    return Batch(keep(batch.interactions), keep(batch.turns), keep(batch.assist_events))
