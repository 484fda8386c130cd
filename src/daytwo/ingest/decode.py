"""JSON and NDJSON input to the canonical columnar :class:`~daytwo.interactions.Batch`.

Two paths, one result:

* the **fast path** parses NDJSON with Arrow's multi-threaded JSON reader against the wire
  schema and reshapes it with Arrow compute (hundreds of thousands of turns a second);
* the **exact path** runs when the fast path cannot (a type it would have to coerce, a
  malformed line, bad UTF-8): each line is checked by the pydantic wire models, which name the
  record and field of every problem and coerce what the wire format allows (a number where a
  reference string is expected, ``"error": true``); the records that pass are re-serialised in
  canonical form and go through the fast path, so both paths produce identical columns.

This module splits the input into records and chooses the path; :mod:`daytwo.ingest.reshape`
turns what Arrow read into the canonical columns.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
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
from daytwo.ingest.reshape import PREPARED, WIRE, NeedsExactPath, attributes_json, to_batch
from daytwo.interactions.columns import Batch, concat_batches
from daytwo.interactions.wire import InteractionIn

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
    except NeedsExactPath:
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
        except NeedsExactPath as exc:  # pragma: no cover - canonical records always pass
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
    out[PREPARED] = attributes_json(model.model_extra)
    for name in ("turns", "assist_events"):
        children = []
        for child in getattr(model, name):
            item = child.model_dump(mode="json", exclude_none=True)
            for key in child.model_extra or {}:
                item.pop(key, None)
            item[PREPARED] = attributes_json(child.model_extra)
            children.append(item)
        out[name] = children
    return out


def _fast(
    body: bytes, indexes: Sequence[int], *, longest: int, prepared: bool = False
) -> tuple[Batch, list[RecordError]]:
    try:
        # Arrow's JSON reader passes invalid UTF-8 through; the exact path names the line.
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NeedsExactPath("invalid UTF-8") from exc
    try:
        table = pj.read_json(
            io.BytesIO(body),
            read_options=pj.ReadOptions(block_size=_block_size(longest)),
            parse_options=pj.ParseOptions(explicit_schema=WIRE, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise NeedsExactPath(str(exc)) from exc
    if table.num_rows != len(indexes):
        raise NeedsExactPath("row count differs from line count")
    if not prepared and PREPARED in table.column_names:
        raise NeedsExactPath(f"{PREPARED} is reserved")
    try:
        return to_batch(table, pa.array(indexes, type=pa.int64()))
    except pa.ArrowException as exc:
        # A value the reshaping cannot take as inferred (a segment of 2**53 + 2 as a float):
        # the exact path judges the record.
        raise NeedsExactPath(str(exc)) from exc


def _block_size(longest: int) -> int:
    """Arrow's block (blocks parse in parallel): 1 MiB, or the next power of two that holds
    the longest line whole (a line may not straddle two blocks)."""
    size = _BLOCK_BYTES
    while size <= longest:
        size <<= 1
    return size
