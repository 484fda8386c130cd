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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from daytwo.errors import InputError
from daytwo.ingest.flat_records import ROW, FlatChunk, decode_block
from daytwo.ingest.flat_values import as_bools, as_text, column_values
from daytwo.ingest.mapping import (
    CsvOptions,
    Mapping,
    ResolvedMapping,
    load_mapping,
    resolve_mapping,
)

CHUNK_ROWS = 250_000
CSV_BLOCK_BYTES = 4 << 20  # rows longer than this cannot be read; larger blocks read slower


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
            chunk = decode_block(
                block.slice(0, cut), keys.slice(0, cut), starts[:-1], resolved, seen
            )
            chunk.bytes_read, consumed = position - consumed, position
            yield chunk
        if carry is not None and carry.num_rows:
            keys = _keys(carry, resolved)
            chunk = decode_block(carry, keys, _group_starts(keys), resolved, seen)
            position = opened.position()
            chunk.bytes_read = position - consumed
            yield chunk
    finally:
        opened.close()


def _keys(block: pa.Table, resolved: ResolvedMapping) -> pa.Array:
    """The identity of each row's interaction: the id, prefixed by the deployment when per row."""
    ids = as_text(column_values(block, resolved.fields["id"]))
    deployment = resolved.fields["deployment"]
    if deployment.column is None:
        return ids
    return pc.binary_join_element_wise(as_text(column_values(block, deployment)), ids, "\x1f")


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
    new = np.concatenate([[True], as_bools(changed)])
    return np.flatnonzero(new).astype(np.int64)


__all__ = ["CHUNK_ROWS", "FlatChunk", "Mapping", "iter_flat_batches", "load_mapping"]
