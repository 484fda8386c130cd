"""The fast path's second half: Arrow's table of wire records reshaped into the canonical
columns of a :class:`~daytwo.interactions.Batch` with Arrow compute, every value the reshaping
refuses named by record and field.

What only the exact path can judge (a type Arrow inferred differently, a nested extra, a
non-scalar segment) raises :class:`NeedsExactPath`; :mod:`daytwo.ingest.decode` then sends the
records through the pydantic wire models, which write unknown keys as canonical JSON text in
the reserved :data:`PREPARED` column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.errors import RecordError
from daytwo.interactions.columns import (
    ASSIST_ACTION_ALIASES,
    ASSIST_EVENTS,
    INTERACTIONS,
    SEGMENTS,
    TS,
    TURNS,
    Batch,
    with_locators,
)

_WIRE_TURN = pa.struct(
    [
        ("seq", pa.int64()),
        ("ts", pa.string()),
        ("role", pa.string()),
        ("text", pa.string()),
        ("intent", pa.string()),
        ("confidence", pa.float64()),
        ("fallback", pa.bool_()),
        ("latency_ms", pa.float64()),
        ("error", pa.string()),
        ("model", pa.string()),
        ("tokens_in", pa.int64()),
        ("tokens_out", pa.int64()),
        ("cost", pa.float64()),
    ]
)
_WIRE_ASSIST = pa.struct(
    [
        ("ts", pa.string()),
        ("agent_ref", pa.string()),
        ("feature", pa.string()),
        ("action", pa.string()),
    ]
)
WIRE = pa.schema(
    [
        ("id", pa.string()),
        ("deployment", pa.string()),
        ("started_at", pa.string()),
        ("ended_at", pa.string()),
        ("channel", pa.string()),
        ("journey", pa.string()),
        ("customer_ref", pa.string()),
        ("agent_ref", pa.string()),
        ("segments", pa.struct([])),
        ("outcome", pa.string()),
        ("csat", pa.float64()),
        ("handle_time_s", pa.float64()),
        ("cost", pa.float64()),
        ("ai_used", pa.bool_()),
        ("turns", pa.list_(_WIRE_TURN)),
        ("assist_events", pa.list_(_WIRE_ASSIST)),
    ]
)
_RENAME = {"id": "interaction_id"}
# Where the exact path puts unknown keys, already as canonical JSON text.
PREPARED = "__attributes__"
_TZ_SUFFIX = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_INT32_MAX = 2**31 - 1
_SEQ_RANGE = f"is out of range ({-_INT32_MAX - 1} to {_INT32_MAX})"
_SCALAR_TYPES = (
    pa.types.is_string,
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_null,
)


class NeedsExactPath(Exception):
    """The fast path met something only the exact path can judge or coerce."""


def attributes_json(extra: dict[str, Any] | None) -> str | None:
    """Keys outside the wire format as one canonical JSON text (sorted keys, nulls left out),
    or None when there are none."""
    kept = {k: v for k, v in (extra or {}).items() if v is not None}
    if not kept:
        return None
    return orjson.dumps(kept, default=str, option=orjson.OPT_SORT_KEYS).decode()


def to_batch(table: pa.Table, records: pa.Array) -> tuple[Batch, list[RecordError]]:
    """The canonical batch of ``table`` (read against :data:`WIRE`), record ``i`` numbered
    ``records[i]``, and the errors of the values it refused."""
    errors: list[RecordError] = []
    interactions = _interactions(table, records, errors)
    turns = _children(table, "turns", _WIRE_TURN, records, errors)
    assist = _children(table, "assist_events", _WIRE_ASSIST, records, errors)
    return Batch(interactions, turns, assist), errors


def _interactions(table: pa.Table, records: pa.Array, errors: list[RecordError]) -> pa.Table:
    ids = table["id"].combine_chunks()
    cols: dict[str, Any] = {}
    for name in INTERACTIONS.names:
        source = next((k for k, v in _RENAME.items() if v == name), name)
        if name == "segments":
            cols[name] = _segments_to_map(table["segments"].combine_chunks())
        elif name in ("started_at", "ended_at"):
            cols[name] = _timestamps(table[name].combine_chunks(), name, None, records, ids, errors)
        elif name == "attributes":
            cols[name] = _extras(table, WIRE.names)
        elif name == "n_turns":
            cols[name] = pc.cast(pc.fill_null(pc.list_value_length(table["turns"]), 0), pa.int32())
        else:
            cols[name] = table[source].combine_chunks()
    cols["_record"] = records
    return pa.Table.from_pydict(cols, schema=with_locators(INTERACTIONS, pos=False))


def _children(
    table: pa.Table,
    column: str,
    wire: pa.StructType,
    records: pa.Array,
    errors: list[RecordError],
) -> pa.Table:
    schema = TURNS if column == "turns" else ASSIST_EVENTS
    lists = table[column].combine_chunks()
    if not isinstance(lists, pa.ListArray):
        raise NeedsExactPath(f"{column} is not a list")
    flat = lists.flatten()
    parents = pc.list_parent_indices(lists)
    offsets = np.asarray(lists.offsets)
    positions = np.arange(len(flat), dtype=np.int64) - offsets[np.asarray(parents)]
    ids = pc.take(table["id"].combine_chunks(), parents)
    rec = pc.take(records, parents)
    pos = pa.array(positions.astype(np.int32))
    present = {flat.type.field(i).name for i in range(flat.type.num_fields)}
    wire_names = [wire.field(i).name for i in range(wire.num_fields)]
    cols: dict[str, Any] = {
        "interaction_id": ids,
        "deployment": pc.take(table["deployment"].combine_chunks(), parents),
    }
    for name in schema.names:
        if name in cols:
            continue
        if name == "attributes":
            extra = [n for n in present if n not in wire_names]
            cols[name] = _struct_extras(flat, extra)
        elif name == "seq" and column == "assist_events":
            cols[name] = pos
        elif name == "seq":
            seq = pc.struct_field(flat, "seq")
            outside = pc.fill_null(
                pc.or_(pc.greater(seq, _INT32_MAX), pc.less(seq, -_INT32_MAX - 1)), False
            )
            _report(outside, rec, ids, pos, f"{column}.{{pos}}.seq", _SEQ_RANGE, errors)
            cols[name] = pc.cast(pc.if_else(outside, None, seq), pa.int32())
        elif name == "ts":
            cols[name] = _timestamps(
                pc.struct_field(flat, "ts"), "ts", column, rec, ids, errors, pos
            )
        elif name == "action":
            action = pc.struct_field(flat, "action")
            for alias, canonical in ASSIST_ACTION_ALIASES.items():
                action = pc.if_else(pc.fill_null(pc.equal(action, alias), False), canonical, action)
            cols[name] = action
        else:
            cols[name] = pc.struct_field(flat, name)
    cols["_record"] = rec
    cols["_pos"] = pos
    return pa.Table.from_pydict(cols, schema=with_locators(schema, pos=True))


def _report(
    mask: pa.Array,
    records: pa.Array,
    ids: pa.Array,
    positions: pa.Array | None,
    field_template: str,
    message: str,
    errors: list[RecordError],
) -> None:
    if not pc.any(mask).as_py():
        return
    recs = pc.filter(records, mask).to_pylist()
    idl = pc.filter(ids, mask).to_pylist()
    posl = pc.filter(positions, mask).to_pylist() if positions is not None else [0] * len(recs)
    for r, i, p in zip(recs, idl, posl, strict=True):
        errors.append(RecordError(int(r), i, field_template.format(pos=p), message))


def _timestamps(
    values: pa.Array,
    name: str,
    parent: str | None,
    records: pa.Array,
    ids: pa.Array,
    errors: list[RecordError],
    positions: pa.Array | None = None,
) -> pa.Array:
    """ISO-8601 strings with a zone to UTC timestamps; naive or unparsable ones are errors."""
    template = f"{parent}.{{pos}}.{name}" if parent else name
    no_zone = pc.invert(pc.fill_null(pc.match_substring_regex(values, _TZ_SUFFIX), True))
    _report(
        no_zone,
        records,
        ids,
        positions,
        template,
        "has no timezone: send ISO-8601 with 'Z' or an offset such as +01:00",
        errors,
    )
    values = pc.if_else(no_zone, None, values)
    try:
        return pc.cast(values, TS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # Rare: find the unparsable entries one by one so each can be named.
    bad = []
    for v in values.to_pylist():
        if v is None:
            bad.append(False)
            continue
        try:
            datetime.fromisoformat(v)
            pc.cast(pa.array([v]), TS)
            bad.append(False)
        except (ValueError, pa.ArrowInvalid):
            bad.append(True)
    mask = pa.array(bad)
    _report(mask, records, ids, positions, template, "is not a valid ISO-8601 timestamp", errors)
    return pc.cast(pc.if_else(mask, None, values), TS)


def _segments_to_map(struct: pa.StructArray) -> pa.Array:
    n = len(struct)
    # Sorted keys: the same segments give the same map whatever else is in the batch.
    names = sorted(struct.type.field(i).name for i in range(struct.type.num_fields))
    if not names:
        return pa.nulls(n, type=SEGMENTS)
    keys_m = np.empty((n, len(names)), dtype=object)
    vals_m = np.empty((n, len(names)), dtype=object)
    valid = np.zeros((n, len(names)), dtype=bool)
    for j, key in enumerate(names):
        child = pc.struct_field(struct, key)
        if not any(check(child.type) for check in _SCALAR_TYPES):
            raise NeedsExactPath(f"segment {key!r} is not a scalar")
        if pa.types.is_floating(child.type):
            # Keep what the sender wrote: 3 not 3.0 where the value is whole.
            as_int = pc.cast(child, pa.int64(), safe=False)
            back = pc.cast(as_int, pa.float64(), safe=False)
            whole = pc.fill_null(pc.equal(back, child), False)
            text = pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(child, pa.string()))
        else:
            text = pc.cast(child, pa.string())
        keys_m[:, j] = key
        vals_m[:, j] = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
        valid[:, j] = np.asarray(pc.is_valid(text))
    counts = valid.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    mask = pa.array(counts == 0)
    return pa.MapArray.from_arrays(
        pa.array(offsets),
        pa.array(keys_m[valid], type=pa.string()),
        pa.array(vals_m[valid], type=pa.string()),
        mask=mask,
    ).cast(SEGMENTS)


def _extras(table: pa.Table, known: Sequence[str]) -> pa.Array:
    if PREPARED in table.column_names:
        return pc.cast(table[PREPARED].combine_chunks(), pa.string())
    extra = [n for n in table.column_names if n not in known]
    if not extra:
        return pa.nulls(table.num_rows, type=pa.string())
    return _rows_to_json(table.select(extra))


def _struct_extras(flat: pa.StructArray, names: Sequence[str]) -> pa.Array:
    if PREPARED in names:
        return pc.cast(pc.struct_field(flat, PREPARED), pa.string())
    if not names:
        return pa.nulls(len(flat), type=pa.string())
    return _rows_to_json(
        pa.Table.from_arrays([pc.struct_field(flat, n) for n in names], names=list(names))
    )


def _faithful(dtype: pa.DataType) -> bool:
    # Arrow's inference keeps these exactly as sent; floats (1 vs 1.0) and nested objects
    # (keys of other rows filled with nulls) it does not, so those records take the exact path.
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_int64(dtype)
        or pa.types.is_boolean(dtype)
        or pa.types.is_null(dtype)
    )


def _rows_to_json(table: pa.Table) -> pa.Array:
    for f in table.schema:
        if not _faithful(f.type):
            raise NeedsExactPath(f"extra field {f.name!r} of type {f.type}")
    # Column by column, over the values present only: a batch whose rows each carry keys of
    # their own has many columns, almost all null, and row by row would visit every cell.
    rows: list[dict[str, Any]] = [{} for _ in range(table.num_rows)]
    for name, column in zip(table.column_names, table.columns, strict=True):
        if column.null_count == len(column):
            continue
        present = pc.is_valid(column)
        positions = np.flatnonzero(present.to_numpy(zero_copy_only=False))
        for position, value in zip(positions, pc.filter(column, present).to_pylist(), strict=True):
            rows[position][name] = value
    return pa.array([attributes_json(row) for row in rows], type=pa.string())
