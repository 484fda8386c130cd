"""JSON and NDJSON input to the canonical columnar :class:`~daytwo.interactions.Batch`.

Two paths, one result:

* the **fast path** parses NDJSON with Arrow's multi-threaded JSON reader against the wire
  schema and reshapes it with Arrow compute (hundreds of thousands of turns a second);
* the **exact path** runs when the fast path cannot (a type it would have to coerce, a
  malformed line, bad UTF-8): each line is checked by the pydantic wire models, which name the
  record and field of every problem and coerce what the wire format allows (a number where a
  reference string is expected, ``"error": true``); the records that pass are re-serialised in
  canonical form and go through the fast path, so both paths produce identical columns.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from pydantic import ValidationError

from daytwo.errors import InputError, RecordError, ValidationFailed
from daytwo.ingest.limits import (
    MAX_RECORD_BYTES,
    deep_lines,
    find_too_deep,
    too_deep_message,
    too_long_message,
)
from daytwo.interactions.columns import (
    ASSIST_ACTION_ALIASES,
    ASSIST_EVENTS,
    INTERACTIONS,
    SEGMENTS,
    TS,
    TURNS,
    Batch,
    concat_batches,
    with_locators,
)
from daytwo.interactions.wire import InteractionIn

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
_WIRE = pa.schema(
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
_PREPARED = "__attributes__"
_TZ_SUFFIX = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_INT32_MAX = 2**31 - 1
_SEQ_RANGE = f"is out of range ({-_INT32_MAX - 1} to {_INT32_MAX})"
# Keys Arrow may infer beyond the wire schema per call (see _decode_kept), and the most keys an
# object of the wire format has of its own (an interaction: 16; a turn: 13).
_EXCESS_BUDGET = 2000
_EXACT_EXCESS = 32
_KNOWN_KEYS_PER_OBJECT = 16
# Arrow reads NDJSON in blocks that parse in parallel; a line must fit in one block.
_BLOCK_BYTES = 1 << 20
_OBJECT_START = re.compile(rb"[ \t\r]*\{")
_NOT_AN_OBJECT = "must be a JSON object"
_ID_PREFIX = re.compile(rb'"id"\s*:\s*"([^"\\]{1,200})"')
_SCALAR_TYPES = (
    pa.types.is_string,
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_null,
)


class _NeedsExactPath(Exception):
    """The fast path met something only the exact path can judge or coerce."""


@dataclass(slots=True)
class Decoded:
    """A decoded unit of input: the batch of well-formed records and the errors of the rest."""

    batch: Batch
    errors: list[RecordError] = field(default_factory=list)
    n_records: int = 0


def decode_ndjson(data: bytes, *, first_index: int = 0, exact: bool = False) -> Decoded:
    """Decode newline-delimited JSON; record ``i`` is the ``i``-th line (blank lines count).

    Lines over the size or depth limits (:mod:`daytwo.ingest.limits`) are refused by name
    before any parser sees them. ``exact`` skips the fast path (for tests and for diagnosing
    a file).
    """
    lines = data.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    present = [i for i, line in enumerate(lines) if line.strip()]
    if not present:
        return Decoded(Batch.empty(), [], 0)
    refused = _refused(lines, data, first_index)
    kept = [i for i in present if i not in refused] if refused else present
    indexes = [first_index + i for i in kept]
    body = data if len(kept) == len(lines) else b"\n".join(lines[i] for i in kept)
    errors = list(refused.values())
    if not kept:
        return Decoded(Batch.empty(), errors, len(present))
    if exact:
        decoded = _exact([lines[i] for i in kept], indexes)
    else:
        decoded = _decode_kept([lines[i] for i in kept], indexes, body)
    decoded.errors = sorted(errors + decoded.errors, key=lambda e: (e.index, e.field))
    decoded.n_records = len(present)
    return decoded


def _refused(lines: Sequence[bytes], data: bytes, first_index: int) -> dict[int, RecordError]:
    """The lines no parser may see, by position in ``lines``, each with its error: over the
    size or depth limit, or not an object at all (Arrow's reader crashes on a first line of
    ``null``)."""
    refused: dict[int, RecordError] = {}
    if len(data) > MAX_RECORD_BYTES:
        for i, line in enumerate(lines):
            if len(line) > MAX_RECORD_BYTES:
                refused[i] = _refusal(first_index + i, line, too_long_message(len(line)))
    for i in deep_lines(data):
        if i < len(lines) and i not in refused:
            refused[i] = _refusal(first_index + i, lines[i], too_deep_message())
    for i, line in enumerate(lines):
        starts_an_object = line[:1] == b"{" or _OBJECT_START.match(line)
        if not starts_an_object and i not in refused and line.strip():
            refused[i] = RecordError(first_index + i, None, "(record)", _NOT_AN_OBJECT)
    return refused


def _refusal(index: int, line: bytes, message: str) -> RecordError:
    # Name the record by its id when the line starts like an interaction (no parser runs).
    found = _ID_PREFIX.search(line, 0, 4096)
    return RecordError(
        index, found.group(1).decode("utf-8", "replace") if found else None, "(record)", message
    )


def decode_json(data: bytes) -> Decoded:
    """Decode a JSON body: ``{"interactions": [...]}``, a bare list, or one object.

    A record nested deeper than the limit refuses the whole body before it is parsed (a
    parser that recursed into it could not be trusted to come back).
    """
    deep = find_too_deep(data)
    if deep is not None:
        if deep.index is None:
            raise InputError(f"The body {too_deep_message()} inside one interaction.")
        raise ValidationFailed(
            [RecordError(deep.index, None, "(record)", too_deep_message())],
            received=deep.records,
        )
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"The body is not valid JSON: {exc}") from None
    items: Any
    if isinstance(doc, dict) and "interactions" in doc:
        items = doc["interactions"]
    elif isinstance(doc, dict):
        items = [doc]
    else:
        items = doc
    if not isinstance(items, list):
        raise InputError("'interactions' must be a list of interaction objects")
    return decode_objects(items)


def decode_objects(items: Sequence[Any]) -> Decoded:
    """Decode already-parsed JSON values (dicts); item ``i`` is record ``i``."""
    lines: list[bytes] = []
    errors: list[RecordError] = []
    keep: list[int] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(RecordError(i, None, "(record)", _NOT_AN_OBJECT))
            continue
        try:
            line = orjson.dumps(item)
        except TypeError as exc:
            errors.append(RecordError(i, _id_of(item), "(record)", f"cannot be encoded: {exc}"))
            continue
        if len(line) > MAX_RECORD_BYTES:
            errors.append(RecordError(i, _id_of(item), "(record)", too_long_message(len(line))))
            continue
        lines.append(line)
        keep.append(i)
    for position in sorted(deep_lines(b"\n".join(lines)), reverse=True):
        index = keep.pop(position)
        lines.pop(position)
        errors.append(RecordError(index, _id_of(items[index]), "(record)", too_deep_message()))
    decoded = _decode_lines(lines, keep)
    decoded.errors = sorted(errors + decoded.errors, key=lambda e: (e.index, e.field))
    decoded.n_records = len(items)
    return decoded


def _decode_lines(lines: list[bytes], indexes: list[int]) -> Decoded:
    if not lines:
        return Decoded(Batch.empty(), [], 0)
    return _decode_kept(lines, indexes, None)


def _decode_kept(lines: Sequence[bytes], indexes: Sequence[int], body: bytes | None) -> Decoded:
    """Decode lines that passed the byte checks: the fast path where it can, in groups that
    bound the keys Arrow has to infer, and the exact path for the rest.

    Arrow infers a column for every key outside the wire schema, over every row it reads at
    once: 2,000 lines of 50 keys of their own (a 2 MB body) took 13 s and 2.8 GB there, and
    more in the reshaping. A line's keys beyond what its objects' known fields explain are its
    *excess*; the lines go to Arrow in groups whose excess stays within a budget, and a line
    with many keys of its own takes the exact path, whose cost grows with its own size.
    """
    excess = [_excess_keys(line) for line in lines]
    if sum(excess) <= _EXCESS_BUDGET and not any(_on_its_own(e) for e in excess):
        return _fast_or_exact(lines, indexes, body)
    parts: list[Decoded] = []
    group: list[int] = []
    budget = 0
    for i, extra in enumerate(excess):
        if _on_its_own(extra):
            parts.append(_exact([lines[i]], [indexes[i]]))
            continue
        if group and budget + extra > _EXCESS_BUDGET:
            parts.append(_fast_or_exact([lines[j] for j in group], [indexes[j] for j in group]))
            group, budget = [], 0
        group.append(i)
        budget += extra
    if group:
        parts.append(_fast_or_exact([lines[j] for j in group], [indexes[j] for j in group]))
    return Decoded(
        concat_batches([p.batch for p in parts]),
        sorted((e for p in parts for e in p.errors), key=lambda e: (e.index, e.field)),
        len(indexes),
    )


def _excess_keys(line: bytes) -> int:
    # A key ends in '":'; an object of the wire format has at most this many known keys.
    return max(0, line.count(b'":') - _KNOWN_KEYS_PER_OBJECT * line.count(b"{"))


def _on_its_own(excess: int) -> bool:
    """A line with this many keys of its own takes the exact path: in Arrow its keys would be
    columns of every row read with it."""
    return excess > _EXACT_EXCESS


def _fast_or_exact(
    lines: Sequence[bytes], indexes: Sequence[int], body: bytes | None = None
) -> Decoded:
    try:
        batch, errors = _fast(
            body if body is not None else b"\n".join(lines),
            indexes,
            longest=max(map(len, lines)),
        )
    except _NeedsExactPath:
        return _exact(lines, indexes)
    return Decoded(batch, errors, len(indexes))


def _id_of(obj: Any) -> str | None:
    if isinstance(obj, dict):
        value = obj.get("id")
        if isinstance(value, str | int):
            return str(value)
    return None


def _exact(lines: Sequence[bytes], indexes: Sequence[int]) -> Decoded:
    errors: list[RecordError] = []
    good: list[bytes] = []
    good_idx: list[int] = []
    for index, line in zip(indexes, lines, strict=True):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            message = str(exc)
            if "utf-8" in message.lower() or "utf8" in message.lower():
                message = "is not valid UTF-8 text"
            else:
                message = f"is not valid JSON ({message})"
            errors.append(RecordError(index, None, "(record)", message))
            continue
        if not isinstance(obj, dict):
            errors.append(RecordError(index, None, "(record)", _NOT_AN_OBJECT))
            continue
        try:
            model = InteractionIn.model_validate(obj)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                path = ".".join(str(p) for p in err["loc"]) or "(record)"
                errors.append(RecordError(index, _id_of(obj), path, err["msg"]))
            continue
        good.append(orjson.dumps(_canonical(model)))
        good_idx.append(index)
    if good:
        try:
            batch, more = _fast(
                b"\n".join(good), good_idx, prepared=True, longest=max(map(len, good))
            )
        except _NeedsExactPath as exc:  # pragma: no cover - canonical records always pass
            raise AssertionError(f"canonical records failed the fast path: {exc}") from exc
        errors.extend(more)
    else:
        batch = Batch.empty()
    errors.sort(key=lambda e: (e.index, e.field))
    return Decoded(batch, errors, len(indexes))


def _canonical(model: InteractionIn) -> dict[str, Any]:
    """The record in canonical JSON, its unknown keys folded into a prepared attributes string."""
    out = model.model_dump(mode="json", exclude_none=True, exclude={"turns", "assist_events"})
    for key in model.model_extra or {}:
        out.pop(key, None)
    out[_PREPARED] = _attributes_json(model.model_extra)
    for name in ("turns", "assist_events"):
        children = []
        for child in getattr(model, name):
            item = child.model_dump(mode="json", exclude_none=True)
            for key in child.model_extra or {}:
                item.pop(key, None)
            item[_PREPARED] = _attributes_json(child.model_extra)
            children.append(item)
        out[name] = children
    return out


def _attributes_json(extra: dict[str, Any] | None) -> str | None:
    kept = {k: v for k, v in (extra or {}).items() if v is not None}
    if not kept:
        return None
    return orjson.dumps(kept, default=str, option=orjson.OPT_SORT_KEYS).decode()


def _fast(
    body: bytes, indexes: Sequence[int], *, longest: int, prepared: bool = False
) -> tuple[Batch, list[RecordError]]:
    try:
        # Arrow's JSON reader passes invalid UTF-8 through; the exact path names the line.
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _NeedsExactPath("invalid UTF-8") from exc
    try:
        table = pj.read_json(
            io.BytesIO(body),
            read_options=pj.ReadOptions(block_size=_block_size(longest)),
            parse_options=pj.ParseOptions(explicit_schema=_WIRE, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise _NeedsExactPath(str(exc)) from exc
    if table.num_rows != len(indexes):
        raise _NeedsExactPath("row count differs from line count")
    if not prepared and _PREPARED in table.column_names:
        raise _NeedsExactPath(f"{_PREPARED} is reserved")
    records = pa.array(indexes, type=pa.int64())
    errors: list[RecordError] = []
    try:
        interactions = _interactions(table, records, errors)
        turns = _children(table, "turns", _WIRE_TURN, records, errors)
        assist = _children(table, "assist_events", _WIRE_ASSIST, records, errors)
    except pa.ArrowException as exc:
        # A value the reshaping cannot take as inferred (a segment of 2**53 + 2 as a float):
        # the exact path judges the record.
        raise _NeedsExactPath(str(exc)) from exc
    return Batch(interactions, turns, assist), errors


def _block_size(longest: int) -> int:
    """Arrow's block (blocks parse in parallel): 1 MiB, or the next power of two that holds
    the longest line whole (a line may not straddle two blocks)."""
    size = _BLOCK_BYTES
    while size <= longest:
        size <<= 1
    return size


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
            cols[name] = _extras(table, _WIRE.names)
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
        raise _NeedsExactPath(f"{column} is not a list")
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
            raise _NeedsExactPath(f"segment {key!r} is not a scalar")
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
    if _PREPARED in table.column_names:
        return pc.cast(table[_PREPARED].combine_chunks(), pa.string())
    extra = [n for n in table.column_names if n not in known]
    if not extra:
        return pa.nulls(table.num_rows, type=pa.string())
    return _rows_to_json(table.select(extra))


def _struct_extras(flat: pa.StructArray, names: Sequence[str]) -> pa.Array:
    if _PREPARED in names:
        return pc.cast(pc.struct_field(flat, _PREPARED), pa.string())
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
            raise _NeedsExactPath(f"extra field {f.name!r} of type {f.type}")
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
    return pa.array([_attributes_json(row) for row in rows], type=pa.string())
