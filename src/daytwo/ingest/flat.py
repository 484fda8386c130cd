"""Flat exports (one row per turn, CSV or Parquet) to canonical columnar batches.

Contact-center and bot platforms export a row per turn, with the interaction's fields repeated
on every row. :func:`iter_flat_batches` streams such a file through a :class:`Mapping` and yields
:class:`FlatChunk` values, each a canonical :class:`~daytwo.interactions.columns.Batch` plus the
decode errors of its rows, so memory stays flat whatever the file size.

How rows become records:

* the rows of one interaction (same deployment and id) are contiguous; a chunk never splits
  them (the trailing interaction is carried over to the next chunk), so the result does not
  depend on the chunk size;
* a record is named by the 0-based row number of its first row (row 0 is the first data row):
  that number is the interaction's ``_record``, its turns' ``_record`` and the ``index`` of every
  error about it, so the shared rules and ``drop_records`` reject an interaction whole, never
  some of its turns; messages name the exact row and source column;
* interaction fields take the first non-empty value among the rows; a different non-empty value
  on a later row is an error naming that row; an id that appears again after other interactions
  is an error on the later copy (the first stays);
* a row is a turn when it has a turn text or role (or, without those columns, any mapped turn
  column); rows with neither only carry interaction fields.

Everything runs on whole columns with Arrow compute and NumPy; Python loops only touch the
groups' ids (to find ids seen earlier in the file) and the values named in error messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from daytwo.errors import InputError, RecordError
from daytwo.ingest.mapping import (
    CsvOptions,
    Mapping,
    ResolvedMapping,
    Scalar,
    Source,
    load_mapping,
    resolve_mapping,
)
from daytwo.interactions.columns import (
    ASSIST_EVENTS,
    INTERACTIONS,
    SEGMENTS,
    TS,
    TURNS,
    Batch,
    with_locators,
)

CHUNK_ROWS = 250_000
CSV_BLOCK_BYTES = 4 << 20  # rows longer than this cannot be read; larger blocks read slower
ROW = "_row"
_NAIVE_TS = pa.timestamp("us")
_AWARE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$"
_ZONE = re.compile(r"\d:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)\s*$")
_NAIVE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?$"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_WHOLE = r"^[+-]?\d{1,18}(\.0*)?$"
_BOOL_TEXT = pa.array(["true", "1", "yes", "false", "0", "no"])
_INT32 = (-(2**31), 2**31 - 1)
_INTERACTION_SCHEMA = with_locators(INTERACTIONS, pos=False)
_TURN_SCHEMA = with_locators(TURNS, pos=True)
_ASSIST_SCHEMA = with_locators(ASSIST_EVENTS, pos=True)

Problems = list[tuple[pa.Array, str]]  # (mask of bad values, what is wrong with them)


@dataclass(slots=True)
class FlatChunk:
    """One chunk of a flat file: its canonical batch and the decode errors of its rows."""

    batch: Batch
    errors: list[RecordError]
    rows_read: int  # source rows in this chunk (turn rows, interaction-only rows, copies)
    turns: int
    source: pa.Table = field(repr=False)  # the chunk's rows as read, with their number in _row
    row_record: np.ndarray = field(repr=False)  # the record (first row) of each source row
    bytes_read: int = 0  # CSV: file bytes consumed since the previous chunk (for progress)

    def rejected_rows(self, records: Iterable[int]) -> pa.Table:
        """The source rows, as read, of the given records, with their row number in ``_row``."""
        wanted = np.fromiter(records, dtype=np.int64)
        return self.source.filter(pa.array(np.isin(self.row_record, wanted)))


def iter_flat_batches(
    path: Path | str, mapping: Mapping | None = None, *, chunk_rows: int = CHUNK_ROWS
) -> Iterator[FlatChunk]:
    """Stream a CSV or Parquet export as canonical chunks of about ``chunk_rows`` rows.

    The mapping is checked against the file's header before this returns (an unusable mapping
    raises :class:`InputError` here, not on the first ``next``).
    """
    path = Path(path)
    mapping = mapping or Mapping.identity()
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    if not path.is_file():
        raise InputError(f"No such file: {path.name}")
    fmt = mapping.format or _format_of(path)
    options = mapping.csv
    tsv = path.name.lower().removesuffix(".gz").endswith(".tsv")
    if tsv and "delimiter" not in options.model_fields_set:
        options = options.model_copy(update={"delimiter": "\t"})
    opened = _open_parquet(path, chunk_rows) if fmt == "parquet" else _open_csv(path, options)
    try:
        resolved = resolve_mapping(mapping, opened.schema.names)
        _check_types(opened.schema, resolved)
    except BaseException:
        opened.close()
        raise
    return _chunks(opened, resolved, chunk_rows)


def _format_of(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    raise InputError(f"Cannot tell the format of {path.name}: set `format: csv|parquet`.")


# --- reading ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Opened:
    schema: pa.Schema
    tables: Iterator[pa.Table]
    position: Callable[[], int]
    close: Callable[[], None]


def _open_parquet(path: Path, batch_rows: int) -> _Opened:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path.name} is not a readable Parquet file: {exc}") from None

    def tables() -> Iterator[pa.Table]:
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield pa.Table.from_batches([batch])

    return _Opened(pf.schema_arrow, tables(), lambda: 0, pf.close)


def _open_csv(path: Path, options: CsvOptions) -> _Opened:
    gz = path.name.lower().endswith(".gz")

    def reader(convert: pacsv.ConvertOptions) -> tuple[pa.NativeFile, Any]:
        raw = pa.OSFile(str(path), "rb")
        stream = pa.CompressedInputStream(raw, "gzip") if gz else raw
        try:
            return raw, pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    encoding=options.encoding,
                    skip_rows=options.skip_rows,
                    block_size=CSV_BLOCK_BYTES,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=options.delimiter,
                    quote_char=options.quote_char,
                    newlines_in_values=True,
                ),
                convert_options=convert,
            )
        except (pa.ArrowInvalid, LookupError, UnicodeDecodeError) as exc:
            raw.close()
            raise InputError(f"{path.name} cannot be read as CSV: {exc}") from None

    # Arrow infers types from the first block; a second open reads every column as text.
    probe_raw, probe = reader(pacsv.ConvertOptions())
    names = list(probe.schema.names)
    probe_raw.close()
    raw, csv = reader(
        pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=True,
            null_values=options.null_values,
        )
    )
    rows = 0

    def tables() -> Iterator[pa.Table]:
        nonlocal rows
        while True:
            try:
                batch = csv.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                raise InputError(
                    f"{path.name} has a malformed line after data row {rows}: {exc}"
                ) from None
            rows += batch.num_rows
            yield pa.Table.from_batches([batch])

    size = path.stat().st_size

    def position() -> int:
        # Bytes of the file consumed; a gzip stream closes the file at its end.
        return size if raw.closed else int(raw.tell())

    return _Opened(csv.schema, tables(), position, raw.close)


def _rows_of(tables: Iterator[pa.Table], chunk_rows: int) -> Iterator[pa.Table]:
    """Re-cut the reader's tables into pieces of exactly ``chunk_rows`` rows (the last: fewer)."""
    buffered: list[pa.Table] = []
    count = 0
    for table in tables:
        buffered.append(table)
        count += table.num_rows
        while count >= chunk_rows:
            whole = pa.concat_tables(buffered)
            yield whole.slice(0, chunk_rows)
            rest = whole.slice(chunk_rows)
            buffered, count = ([rest] if rest.num_rows else []), rest.num_rows
    if count:
        yield pa.concat_tables(buffered)


def _check_types(schema: pa.Schema, resolved: ResolvedMapping) -> None:
    """Parquet columns whose type can never be read as the field (naive timestamps, no zone)."""
    if resolved.timezone is not None:
        return
    for source in [*resolved.fields.values(), *resolved.segments]:
        if source.column is None or source.spec.kind != "timestamp" or source.values:
            continue
        dtype = schema.field(source.column).type
        if pa.types.is_date(dtype) or (pa.types.is_timestamp(dtype) and dtype.tz is None):
            raise InputError(
                f"Column {source.column} ({source.spec.key}) holds timestamps without a time "
                "zone: set `timezone` in the mapping (e.g. timezone: Europe/London)."
            )


# --- grouping rows into records ---------------------------------------------------------------


def _chunks(opened: _Opened, resolved: ResolvedMapping, chunk_rows: int) -> Iterator[FlatChunk]:
    seen: set[str] = set()
    carry: pa.Table | None = None
    next_row = 0
    consumed = 0
    try:
        for piece in _rows_of(opened.tables, chunk_rows):
            numbers = pa.array(np.arange(next_row, next_row + piece.num_rows, dtype=np.int64))
            next_row += piece.num_rows
            piece = piece.append_column(ROW, numbers)
            block = piece if carry is None else pa.concat_tables([carry, piece])
            keys = _keys(block, resolved)
            starts = _group_starts(keys)
            if len(starts) < 2:
                carry = block  # one interaction so far: it may go on in the next piece
                continue
            cut = int(starts[-1])
            carry = block.slice(cut)
            position = opened.position()
            chunk = _decode(block.slice(0, cut), keys.slice(0, cut), starts[:-1], resolved, seen)
            chunk.bytes_read, consumed = position - consumed, position
            yield chunk
        if carry is not None and carry.num_rows:
            keys = _keys(carry, resolved)
            chunk = _decode(carry, keys, _group_starts(keys), resolved, seen)
            position = opened.position()
            chunk.bytes_read = position - consumed
            yield chunk
    finally:
        opened.close()


def _keys(block: pa.Table, resolved: ResolvedMapping) -> pa.Array:
    """The identity of each row's interaction: the id, prefixed by the deployment when per row."""
    ids = _text(_column(block, resolved.fields["id"]))
    deployment = resolved.fields["deployment"]
    if deployment.column is None:
        return ids
    return pc.binary_join_element_wise(_text(_column(block, deployment)), ids, "\x1f")


def _group_starts(keys: pa.Array) -> np.ndarray:
    n = len(keys)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    later, earlier = keys.slice(1), keys.slice(0, n - 1)
    changed = pc.if_else(
        pc.is_null(pc.not_equal(later, earlier)),
        pc.xor(pc.is_null(later), pc.is_null(earlier)),  # null to value or back; null-null: same
        pc.not_equal(later, earlier),
    )
    new = np.concatenate([[True], _bools(changed)])
    return np.flatnonzero(new).astype(np.int64)


@dataclass(slots=True)
class _Groups:
    """The layout of one block: which rows belong to which record, and which rows are turns."""

    rows: np.ndarray  # source row number of each block row
    starts: np.ndarray  # block index of each group's first row
    gid: np.ndarray  # group of each block row
    records: np.ndarray  # record index (first source row) of each group
    ids: list[str | None]  # interaction id of each group, for messages
    turn_rows: np.ndarray  # block index of each turn row
    turn_gid: np.ndarray  # group of each turn
    turn_pos: np.ndarray  # position of each turn in its interaction


class _Errors:
    """Decode errors of one chunk, one per record and field (the first found)."""

    def __init__(self, groups: _Groups) -> None:
        self.groups = groups
        self.found: dict[tuple[int, str], RecordError] = {}

    def add(self, group: int, field: str, message: str) -> None:
        record = int(self.groups.records[group])
        key = (record, field)
        if key not in self.found:
            self.found[key] = RecordError(record, self.groups.ids[group], field, message)

    def sorted(self) -> list[RecordError]:
        return [self.found[k] for k in sorted(self.found)]


def _decode(
    block: pa.Table,
    keys: pa.Array,
    starts: np.ndarray,
    resolved: ResolvedMapping,
    seen: set[str],
) -> FlatChunk:
    n = block.num_rows
    rows = block[ROW].to_numpy()
    first = np.zeros(n, dtype=bool)
    first[starts] = True
    gid = np.cumsum(first) - 1
    records = rows[starts]
    ids = _text(_column(block, resolved.fields["id"])).take(pa.array(starts)).to_pylist()
    turn_rows = np.flatnonzero(_turn_mask(block, resolved))
    turn_gid = gid[turn_rows]
    turn_pos = _positions(turn_gid)
    groups = _Groups(rows, starts, gid, records, ids, turn_rows, turn_gid, turn_pos)
    errors = _Errors(groups)

    copies = np.zeros(len(starts), dtype=bool)
    for g, key in enumerate(keys.take(pa.array(starts)).to_pylist()):
        if key is None:
            continue  # no id: the shared rules report it
        if key in seen:
            copies[g] = True
            errors.add(
                g,
                "id",
                f"interaction {ids[g]!r} appears again at row {records[g]} after other "
                "interactions; rows of an interaction must be contiguous",
            )
        else:
            seen.add(key)

    interactions = _interaction_table(block, groups, resolved, errors)
    turns = _turn_table(block, groups, resolved, errors, interactions)
    keep = pa.array(~copies)
    interactions = interactions.filter(keep)
    turns = turns.filter(pa.array(~copies[turn_gid]))
    return FlatChunk(
        batch=Batch(interactions, turns, _ASSIST_SCHEMA.empty_table()),
        errors=errors.sorted(),
        rows_read=n,
        turns=turns.num_rows,
        source=block,
        row_record=records[gid],
    )


def _turn_mask(block: pa.Table, resolved: ResolvedMapping) -> np.ndarray:
    n = block.num_rows
    marks = [s for k, s in resolved.fields.items() if k in ("turn.text", "turn.role") and s.column]
    if not marks:
        marks = [s for s in resolved.turn_fields if s.column is not None]
    mask = np.zeros(n, dtype=bool)
    for source in marks:
        values = _column(block, source)
        present = pc.is_valid(values)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            present = pc.and_(present, pc.greater(pc.utf8_length(values), 0))
        mask |= _bools(present)
    return mask


def _positions(turn_gid: np.ndarray) -> np.ndarray:
    if len(turn_gid) == 0:
        return np.empty(0, dtype=np.int32)
    new = np.concatenate([[True], turn_gid[1:] != turn_gid[:-1]])
    run_starts = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    positions: np.ndarray = (np.arange(len(turn_gid)) - run_starts[run]).astype(np.int32)
    return positions


# --- interaction-level fields -----------------------------------------------------------------


def _interaction_table(
    block: pa.Table, groups: _Groups, resolved: ResolvedMapping, errors: _Errors
) -> pa.Table:
    g = len(groups.starts)
    cols: dict[str, pa.Array] = {}
    for source in resolved.interaction_fields:
        cols[source.spec.column] = _group_field(block, groups, source, resolved, errors)
    if resolved.segments:
        values = [_group_field(block, groups, s, resolved, errors) for s in resolved.segments]
        cols["segments"] = _segment_maps([s.spec.column for s in resolved.segments], values)
    if resolved.attributes:
        firsts = []
        for name in resolved.attributes:
            values = _first_per_group(block, groups, name, f"attributes.{name}", errors)
            firsts.append((name, values))
        cols["attributes"] = _json_objects(firsts)
    cols["n_turns"] = pa.array(np.bincount(groups.turn_gid, minlength=g).astype(np.int32))
    cols["_record"] = pa.array(groups.records)
    return _assemble(cols, _INTERACTION_SCHEMA, g)


def _group_field(
    block: pa.Table, groups: _Groups, source: Source, resolved: ResolvedMapping, errors: _Errors
) -> pa.Array:
    g = len(groups.starts)
    if source.column is None:
        return _constant(source, resolved.timezone, g)
    values = _first_per_group(block, groups, source.column, source.spec.key, errors)
    converted, problems = _convert(values, source, resolved.timezone)
    for mask, reason in problems:
        bad = np.flatnonzero(_bools(mask))
        shown = values.take(pa.array(bad)).to_pylist()
        firsts = _first_valid_rows(_source_values(block, source.column), groups, bad)
        for grp, value, row in zip(bad.tolist(), shown, firsts, strict=True):
            errors.add(grp, source.spec.key, f"row {row}, {source.label}: {value!r} {reason}")
    return converted


def _first_per_group(
    block: pa.Table, groups: _Groups, column: str, field: str, errors: _Errors
) -> pa.Array:
    """Each group's first non-empty value of ``column``; later rows that differ are errors."""
    values = _source_values(block, column)
    if len(groups.starts) == len(groups.rows):
        return values
    n = len(values)
    valid = _bools(pc.is_valid(values))
    index = np.where(valid, np.arange(n), n)
    first = np.minimum.reduceat(index, groups.starts)
    firsts = values.take(pa.array(first, mask=first >= n))
    per_row = firsts.take(pa.array(groups.gid))
    differs = _bools(pc.fill_null(pc.and_(valid, pc.not_equal(values, per_row)), False))
    if differs.any():
        bad_rows = np.flatnonzero(differs)
        grp, at = np.unique(groups.gid[bad_rows], return_index=True)
        bad_rows = bad_rows[at]
        shown = values.take(pa.array(bad_rows)).to_pylist()
        earlier = values.take(pa.array(first[grp])).to_pylist()
        for gg, row, value, before, first_row in zip(
            grp.tolist(), bad_rows.tolist(), shown, earlier, first[grp].tolist(), strict=True
        ):
            errors.add(
                gg,
                field,
                f"row {groups.rows[row]} has {value!r} in column {column}, but row "
                f"{groups.rows[first_row]} of the same interaction has {before!r}; "
                "interaction fields must agree on every row"
                + (
                    " (list per-row columns under turn_attributes)" if "attributes" in field else ""
                ),
            )
    return firsts


def _first_valid_rows(values: pa.Array, groups: _Groups, bad: np.ndarray) -> list[int]:
    """Source row numbers of the first non-empty value of the given groups (for messages)."""
    valid = _bools(pc.is_valid(values))
    out = []
    for grp in bad.tolist():
        start = int(groups.starts[grp])
        end = int(groups.starts[grp + 1]) if grp + 1 < len(groups.starts) else len(valid)
        offset = int(np.argmax(valid[start:end]))
        out.append(int(groups.rows[start + offset]))
    return out


def _segment_maps(names: list[str], values: list[pa.Array]) -> pa.Array:
    """Per-group ``map<string, string>`` of the segments that have a value (null if none)."""
    g = len(values[0])
    texts = [_text(v) for v in values]
    valid = np.column_stack([_bools(pc.is_valid(v)) for v in texts])
    counts = valid.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    row, col = np.nonzero(valid)  # row-major: each group's entries together, keys in order
    items = pa.concat_arrays(texts).take(pa.array(col * g + row))
    keys = pa.array(names, type=pa.string()).take(pa.array(col))
    maps = pa.MapArray.from_arrays(pa.array(offsets), keys, items, mask=pa.array(counts == 0))
    return maps.cast(SEGMENTS)


# --- turn-level fields ------------------------------------------------------------------------


def _turn_table(
    block: pa.Table,
    groups: _Groups,
    resolved: ResolvedMapping,
    errors: _Errors,
    interactions: pa.Table,
) -> pa.Table:
    t = len(groups.turn_rows)
    take = pa.array(groups.turn_rows)
    parents = pa.array(groups.turn_gid)
    cols: dict[str, pa.Array] = {
        "interaction_id": interactions["interaction_id"].combine_chunks().take(parents),
        "deployment": interactions["deployment"].combine_chunks().take(parents),
        "seq": pa.array(groups.turn_pos),
    }
    for source in resolved.turn_fields:
        if source.column is None:
            cols[source.spec.column] = _constant(source, resolved.timezone, t)
            continue
        values = _source_values(block, source.column).take(take)
        converted, problems = _convert(values, source, resolved.timezone)
        for mask, reason in problems:
            bad = np.flatnonzero(_bools(mask))
            shown = values.take(pa.array(bad)).to_pylist()
            for k, value in zip(bad.tolist(), shown, strict=True):
                row = groups.rows[groups.turn_rows[k]]
                errors.add(
                    int(groups.turn_gid[k]),
                    f"turns.{groups.turn_pos[k]}.{source.spec.column}",
                    f"row {row}, {source.label}: {value!r} {reason}",
                )
        cols[source.spec.column] = converted
    if resolved.turn_attributes:
        cols["attributes"] = _json_objects(
            [(name, _source_values(block, name).take(take)) for name in resolved.turn_attributes]
        )
    cols["_record"] = pa.array(groups.records[groups.turn_gid])
    cols["_pos"] = pa.array(groups.turn_pos)
    return _assemble(cols, _TURN_SCHEMA, t)


def _assemble(cols: dict[str, pa.Array], schema: pa.Schema, n: int) -> pa.Table:
    arrays = []
    for f in schema:
        value = cols.get(f.name)
        arrays.append(pa.nulls(n, type=f.type) if value is None else value.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


# --- casting source values to canonical types -------------------------------------------------


def _constant(source: Source, timezone: str | None, n: int) -> pa.Array:
    value = source.constant
    raw = pa.array([None if value is None else _scalar_text(value)], type=pa.string())
    converted, problems = _convert(raw, source, timezone)
    for mask, reason in problems:
        if _bools(mask).any():
            raise InputError(f"The mapping's {source.label}: {value!r} {reason}")
    return pa.repeat(converted[0], n) if n else converted.slice(0, 0)


def _scalar_text(value: Scalar) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _convert(values: pa.Array, source: Source, timezone: str | None) -> tuple[pa.Array, Problems]:
    """Source values as the field's canonical type, and the masks of values that are not."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if source.values:
        values = _value_map(_text(values), source.values)
    kind = source.spec.kind
    dtype = values.type
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_null(dtype):
        return _from_text(values.cast(pa.string()), kind, timezone)
    if kind == "string":
        return _text(values), []
    if kind == "float" and _numeric(dtype):
        out = values.cast(pa.float64())
        return out, [(pc.invert(pc.fill_null(pc.is_finite(out), True)), "is not a finite number")]
    if kind in ("int32", "int64") and (pa.types.is_integer(dtype) or pa.types.is_floating(dtype)):
        return _whole_numbers(values.cast(pa.float64()) if _floating(dtype) else values, kind)
    if kind == "bool" and pa.types.is_boolean(dtype):
        return values, []
    if kind == "bool" and pa.types.is_integer(dtype):
        bad = pc.fill_null(pc.and_(pc.not_equal(values, 0), pc.not_equal(values, 1)), False)
        return pc.not_equal(values, 0), [(bad, "is not a boolean (0 or 1)")]
    if kind == "timestamp" and (pa.types.is_timestamp(dtype) or pa.types.is_date(dtype)):
        return _typed_timestamps(values, timezone)
    return _from_text(_text(values), kind, timezone)


def _numeric(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_integer(dtype) or _floating(dtype) or pa.types.is_decimal(dtype))


def _floating(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_floating(dtype))


def _from_text(values: pa.Array, kind: str, timezone: str | None) -> tuple[pa.Array, Problems]:
    if kind == "string":
        return values, []
    if kind == "float":
        return _text_numbers(values)
    if kind in ("int32", "int64"):
        return _text_whole_numbers(values, kind)
    if kind == "bool":
        index = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(values)), value_set=_BOOL_TEXT)
        bad = pc.and_(pc.is_valid(values), pc.is_null(index))
        return pc.less(index, 3), [(bad, "is not a boolean (true/false, yes/no or 1/0)")]
    return _text_timestamps(values, timezone)


def _text_numbers(values: pa.Array) -> tuple[pa.Array, Problems]:
    problems: Problems = []
    try:
        out = values.cast(pa.float64())
    except pa.ArrowInvalid:
        trimmed = pc.utf8_trim_whitespace(values)
        ok = pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), True)
        problems.append((pc.invert(ok), "is not a number"))
        out = _cast_or_null(
            pc.if_else(ok, trimmed, None), pa.float64(), problems, "is not a number"
        )
    problems.append((pc.invert(pc.fill_null(pc.is_finite(out), True)), "is not a finite number"))
    return out, problems


def _text_whole_numbers(values: pa.Array, kind: str) -> tuple[pa.Array, Problems]:
    problems: Problems = []
    try:
        if (
            pc.any(pc.match_substring(values, "x")).as_py()
            or pc.any(pc.match_substring(values, "X")).as_py()
        ):
            raise pa.ArrowInvalid("hexadecimal")  # Arrow would read 0x10 as 16
        out = values.cast(pa.int64())
    except pa.ArrowInvalid:
        trimmed = pc.utf8_trim_whitespace(values)
        ok = pc.fill_null(pc.match_substring_regex(trimmed, _WHOLE), True)
        problems.append((pc.invert(ok), "is not a whole number (or has more than 18 digits)"))
        digits = pc.replace_substring_regex(
            pc.replace_substring_regex(trimmed, r"\.0*$", ""), r"^\+", ""
        )
        out = _cast_or_null(pc.if_else(ok, digits, None), pa.int64(), problems, "is not a number")
    result, more = _whole_numbers(out, kind)
    return result, problems + more


def _whole_numbers(values: pa.Array, kind: str) -> tuple[pa.Array, Problems]:
    problems: Problems = []
    if pa.types.is_floating(values.type):
        whole = pc.fill_null(pc.equal(pc.floor(values), values), True)
        fits = pc.fill_null(pc.less(pc.abs(values), 2.0**62), True)
        ok = pc.and_(whole, fits)
        problems.append((pc.invert(ok), "is not a whole number"))
        values = pc.if_else(ok, values, None).cast(pa.int64())
    if kind == "int32":
        low, high = _INT32
        fits = pc.fill_null(
            pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high)), True
        )
        problems.append((pc.invert(fits), f"is out of range ({low} to {high})"))
        return pc.if_else(fits, values, None).cast(pa.int32()), problems
    if pa.types.is_uint64(values.type):
        fits = pc.fill_null(pc.less_equal(values, 2**63 - 1), True)
        problems.append((pc.invert(fits), "is out of range"))
        values = pc.if_else(fits, values, None)
    return values.cast(pa.int64()), problems


def _text_timestamps(values: pa.Array, timezone: str | None) -> tuple[pa.Array, Problems]:
    # A failed cast costs forty times a good one: guess the form from the first value.
    sample = _first_valid(values)
    if sample is None:
        return pa.nulls(len(values), TS), []
    try:
        if _ZONE.search(sample):
            return values.cast(TS), []
        if timezone is not None:
            return _assume(values.cast(_NAIVE_TS), timezone), []
    except pa.ArrowInvalid:
        pass
    problems: Problems = []
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(values), r"z$", "Z")
    text = pc.replace_substring_regex(text, r"(\.\d{6})\d+", r"\1")  # microseconds are kept
    aware = pc.fill_null(pc.match_substring_regex(text, _AWARE), False)
    naive = pc.fill_null(pc.match_substring_regex(text, _NAIVE), False)
    unknown = pc.and_(pc.is_valid(values), pc.invert(pc.or_(aware, naive)))
    problems.append((unknown, "is not an ISO-8601 timestamp"))
    out = _cast_or_null(pc.if_else(aware, text, None), TS, problems, "is not a valid timestamp")
    if timezone is None:
        problems.append(
            (
                naive,
                "has no time zone: add 'Z' or an offset such as +01:00, or set `timezone` "
                "in the mapping",
            )
        )
        return out, problems
    local = _cast_or_null(
        pc.if_else(naive, text, None), _NAIVE_TS, problems, "is not a valid timestamp"
    )
    return pc.coalesce(out, _assume(local, timezone)), problems


def _typed_timestamps(values: pa.Array, timezone: str | None) -> tuple[pa.Array, Problems]:
    if pa.types.is_timestamp(values.type) and values.type.tz is not None:
        return values.cast(TS, safe=False), []
    local = values.cast(_NAIVE_TS, safe=False)
    if timezone is None:  # only reachable for value-mapped columns; see _check_types
        return pa.nulls(len(values), TS), [(pc.is_valid(values), "has no time zone")]
    return _assume(local, timezone), []


def _assume(local: pa.Array, timezone: str) -> pa.Array:
    # A wall-clock time that occurs twice (clocks go back) or never (clocks go forward) takes
    # the earlier reading: deterministic, and off by at most the one hour of the change.
    aware = pc.assume_timezone(local, timezone, ambiguous="earliest", nonexistent="earliest")
    return aware.cast(TS)


def _cast_or_null(
    values: pa.Array, dtype: pa.DataType, problems: Problems, reason: str
) -> pa.Array:
    """Cast; where Arrow refuses a value the pattern let through, find it and make it null.

    Such values are rare (a February 30th), so halves that cast cleanly are skipped whole.
    """
    try:
        return values.cast(dtype)
    except pa.ArrowInvalid:
        pass
    bad = np.zeros(len(values), dtype=bool)
    pending = [(0, len(values))]
    while pending:
        start, stop = pending.pop()
        try:
            values.slice(start, stop - start).cast(dtype)
            continue
        except pa.ArrowInvalid:
            pass
        if stop - start == 1:
            bad[start] = True
        else:
            middle = (start + stop) // 2
            pending += [(start, middle), (middle, stop)]
    mask = pa.array(bad)
    problems.append((mask, reason))
    return pc.if_else(mask, None, values).cast(dtype)


def _value_map(values: pa.Array, table: dict[str, Scalar]) -> pa.Array:
    keys = pa.array(list(table), type=pa.string())
    targets = pa.array([_scalar_text(v) for v in table.values()], type=pa.string())
    index = pc.index_in(values, value_set=keys)
    return pc.if_else(pc.is_valid(index), targets.take(index), values)


def _text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_floating(values.type):
        values = _nan_to_null(values)
    try:
        return values.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        texts = [
            None if v is None else orjson.dumps(v, default=str).decode() for v in values.to_pylist()
        ]
        return pa.array(texts, type=pa.string())


def _first_valid(values: pa.Array) -> Any:
    valid = _bools(pc.is_valid(values))
    return values[int(np.argmax(valid))].as_py() if valid.any() else None


def _nan_to_null(values: pa.Array) -> pa.Array:
    if pa.types.is_floating(values.type):
        return pc.if_else(pc.is_nan(values), None, values)
    return values


def _column(block: pa.Table, source: Source) -> pa.Array:
    if source.column is None:
        return _constant(source, None, block.num_rows)
    return _source_values(block, source.column)


def _source_values(block: pa.Table, column: str) -> pa.Array:
    """A source column with its empty cells (null, NaN, empty text) as nulls."""
    values = block[column].combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_null(values.type):  # a column that is empty throughout (Parquet)
        return values.cast(pa.string())
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        empty = pc.equal(values, "")
        if pc.any(empty).as_py():
            values = pc.if_else(empty, None, values)
        return values
    return _nan_to_null(values)


def _bools(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


# --- attributes as JSON -----------------------------------------------------------------------

_CONTROL = r"[\x00-\x1f]"


def _json_objects(columns: list[tuple[str, pa.Array]]) -> pa.Array:
    """One JSON object per row (keys sorted, nulls left out), or null where all are null."""
    pieces = []
    for name, values in sorted(columns, key=lambda c: c[0]):
        encoded = _json_values(values)
        key = orjson.dumps(name).decode()
        pieces.append(pc.fill_null(pc.binary_join_element_wise(f",{key}:", encoded, ""), ""))
    joined = pc.binary_join_element_wise(*pieces, "")
    body = pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(joined, 1), "}", "")
    return pc.if_else(pc.equal(joined, ""), None, body)


def _json_values(values: pa.Array) -> pa.Array:
    values = _nan_to_null(
        values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    )
    dtype = values.type
    if pa.types.is_integer(dtype) or pa.types.is_boolean(dtype):
        return values.cast(pa.string())
    if pa.types.is_floating(dtype):
        return pc.if_else(pc.is_finite(values), values.cast(pa.string()), None)
    text = _text(values)
    escaped = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    control = pc.fill_null(pc.match_substring_regex(text, _CONTROL), False)
    if not pc.any(control).as_py():
        return quoted
    # Control characters need \uXXXX escapes: only those values go through orjson.
    exact = [orjson.dumps(v).decode() for v in text.filter(control).to_pylist()]
    return pc.replace_with_mask(quoted, control, pa.array(exact, type=pa.string()))


__all__ = ["CHUNK_ROWS", "FlatChunk", "Mapping", "iter_flat_batches", "load_mapping"]
