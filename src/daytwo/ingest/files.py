"""`daytwo import`: stream JSONL, CSV and Parquet files into the events store.

Files are read in chunks, so memory stays flat whatever the file size. Each chunk is one batch
through the shared decode -> validate -> write path; invalid records go to a rejects file
(JSON lines: where, what is wrong, the original record) and the valid ones are stored. With
``strict`` a first pass only validates, and nothing is written unless the file is clean.
"""

from __future__ import annotations

import gzip
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import orjson

from daytwo.errors import InputError, RecordError, ValidationFailed
from daytwo.governance.plan import RedactionPlan
from daytwo.ingest.decode import Decoded, decode_ndjson
from daytwo.ingest.limits import MAX_RECORD_BYTES, too_long_message
from daytwo.ingest.service import IngestResult, check, commit, prepare
from daytwo.interactions.columns import Batch
from daytwo.store.events import EventStore

# Large enough for DuckDB to write whole row groups (not the WAL), small enough for flat memory.
CHUNK_BYTES = 32 * 1024 * 1024
FORMATS = ("jsonl", "csv", "parquet")

Progress = Callable[[int], None]


@dataclass(slots=True)
class ImportSummary:
    path: str
    format: str
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    inserted: int = 0
    replaced: int = 0
    turns: int = 0
    seconds: float = 0.0
    rejects_path: str | None = None
    first_errors: list[RecordError] = field(default_factory=list)
    redacted: dict[str, int] = field(default_factory=dict)  # PII replaced, by kind

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.seconds if self.seconds else 0.0


@dataclass(slots=True)
class _Chunk:
    decoded: Decoded
    raw: Callable[[set[int]], list[tuple[int, Any]]]
    size: int  # progress units consumed (bytes or rows)


def detect_format(path: Path, given: str | None = None) -> str:
    if given:
        if given not in FORMATS:
            raise InputError(f"Unknown format {given!r}: use one of {', '.join(FORMATS)}.")
        return given
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in (
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".json", "jsonl"),
        (".csv", "csv"),
        (".tsv", "csv"),
        (".parquet", "parquet"),
        (".pq", "parquet"),
    ):
        if name.endswith(suffix):
            return fmt
    raise InputError(f"Cannot tell the format of {path.name}: pass --format jsonl|csv|parquet.")


def progress_total(path: Path, fmt: str) -> int:
    """Units of progress the file will report: bytes, or rows for Parquet."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return path.stat().st_size


def _jsonl_chunks(path: Path, chunk_bytes: int) -> Iterator[_Chunk]:
    raw_file = path.open("rb")
    stream: IO[bytes] = (
        cast(IO[bytes], gzip.GzipFile(fileobj=raw_file)) if path.suffix == ".gz" else raw_file
    )
    line = 0
    rest = b""
    last_pos = 0
    skipped: _Skipped | None = None  # a line over the size limit, read past without keeping it
    try:
        while True:
            block = stream.read(chunk_bytes)
            eof = not block
            if skipped is not None:
                end = block.find(b"\n")
                if end < 0 and not eof:
                    skipped.size += len(block)
                    continue
                skipped.size += len(block) if end < 0 else end
                pos = raw_file.tell()
                yield skipped.chunk(line, pos - last_pos)
                last_pos, line, skipped = pos, line + 1, None
                block = block[end + 1 :] if end >= 0 else b""
            data = rest + block
            if eof:
                cut = len(data)
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    if len(data) > MAX_RECORD_BYTES:
                        # One line larger than any record may be: refuse it, keep memory flat.
                        skipped, rest = _Skipped(data[:_REJECT_PREFIX], len(data)), b""
                    else:
                        rest = data
                    continue
            body, rest = data[:cut], data[cut:]
            if body:
                first = line
                decoded = decode_ndjson(body, first_index=first)
                line += body.count(b"\n") + (0 if body.endswith(b"\n") else 1)

                def raw(
                    records: set[int], body: bytes = body, first: int = first
                ) -> list[tuple[int, Any]]:
                    lines = body.split(b"\n")
                    return [(r, _original(lines[r - first])) for r in sorted(records)]

                pos = raw_file.tell()
                yield _Chunk(decoded, raw, pos - last_pos)
                last_pos = pos
            if eof:
                return
    finally:
        stream.close()
        raw_file.close()


# How much of a refused line the rejects file keeps when the line is over the size limit.
_REJECT_PREFIX = 4096


def _original(line: bytes) -> str:
    text = line[: MAX_RECORD_BYTES + 1].decode("utf-8", "replace")
    if len(line) <= MAX_RECORD_BYTES:
        return text
    return f"{text[:_REJECT_PREFIX]}... ({len(line):,} bytes, cut)"


@dataclass(slots=True)
class _Skipped:
    """A line too long to hold, read past: its first bytes and its size so far."""

    head: bytes
    size: int

    def chunk(self, line: int, consumed: int) -> _Chunk:
        error = RecordError(line, None, "(record)", too_long_message(self.size))
        original = f"{self.head.decode('utf-8', 'replace')}... ({self.size:,} bytes, cut)"
        return _Chunk(
            Decoded(Batch.empty(), [error], 1),
            lambda records: [(line, original)] if line in records else [],
            consumed,
        )


def _flat_chunks(
    path: Path, mapping_path: Path | None, deployment: str | None, fmt: str
) -> Iterator[_Chunk]:
    from daytwo.ingest.flat import Mapping, iter_flat_batches, load_mapping

    mapping = load_mapping(mapping_path) if mapping_path else Mapping.identity()
    if deployment:
        mapping = mapping.model_copy(update={"deployment": deployment})
    if mapping.format is None:
        mapping = mapping.model_copy(update={"format": fmt})
    raw_file_size = path.stat().st_size
    consumed = 0
    for chunk in iter_flat_batches(path, mapping):
        decoded = Decoded(
            chunk.batch,
            chunk.errors,
            chunk.batch.n_records
            + len(
                {e.index for e in chunk.errors}
                - set(chunk.batch.interactions["_record"].to_pylist())
            ),
        )

        def raw(records: set[int], chunk: Any = chunk) -> list[tuple[int, Any]]:
            table = chunk.rejected_rows(records)
            rows = table.to_pylist()
            idx = table["_row"].to_pylist() if "_row" in table.column_names else sorted(records)
            return list(zip(idx, rows, strict=False))

        if fmt == "parquet":
            size = chunk.rows_read
        else:
            size = min(raw_file_size - consumed, getattr(chunk, "bytes_read", 0) or 0)
        consumed += size
        yield _Chunk(decoded, raw, size)


def _prefetch(chunks: Iterator[_Chunk], depth: int = 1) -> Iterator[_Chunk]:
    """Read and decode the next chunk on a thread of its own while this one is processed.

    Arrow and DuckDB release the GIL for their heavy work, so reading, checking and writing
    overlap on two cores. Errors in the reader surface here, in order.
    """
    done = object()
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        slots.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)

    reader = threading.Thread(target=read, name="daytwo-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join(timeout=5)


def _chunks(
    path: Path, fmt: str, mapping: Path | None, deployment: str | None, chunk_bytes: int
) -> Iterator[_Chunk]:
    if fmt == "jsonl":
        if mapping is not None:
            raise InputError("--mapping applies to CSV and Parquet files, not JSONL.")
        return _jsonl_chunks(path, chunk_bytes)
    return _flat_chunks(path, mapping, deployment, fmt)


def import_file(
    store: EventStore,
    path: Path,
    *,
    fmt: str | None = None,
    mapping: Path | None = None,
    deployment: str | None = None,
    strict: bool = False,
    rejects: Path | None = None,
    progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    redaction: RedactionPlan | None = None,
) -> ImportSummary:
    """Import one file; return what happened. See the module docstring for the semantics."""
    if not path.exists():
        raise InputError(f"No such file: {path}")
    fmt = detect_format(path, fmt)
    summary = ImportSummary(path=str(path), format=fmt)
    started = time.perf_counter()
    rejects_file: IO[bytes] | None = None
    batch_id = uuid.uuid4().hex

    def record_rejects(chunk: _Chunk, errors: list[RecordError]) -> None:
        nonlocal rejects_file
        if not errors or rejects is None:
            return
        if rejects_file is None:
            rejects.parent.mkdir(parents=True, exist_ok=True)
            rejects_file = rejects.open("wb")
            summary.rejects_path = str(rejects)
        by_record: dict[int, list[dict[str, Any]]] = {}
        for e in errors:
            by_record.setdefault(e.index, []).append(
                {"field": e.field, "message": e.message, "id": e.id}
            )
        for index, original in chunk.raw(set(by_record)):
            rejects_file.write(
                orjson.dumps(
                    {"index": index, "errors": by_record.get(index, []), "record": original},
                    default=str,
                )
                + b"\n"
            )

    def account(future: Future[IngestResult], chunk: _Chunk) -> None:
        result = future.result()
        errors = [RecordError(**e.model_dump()) for e in result.errors]
        if not strict:
            record_rejects(chunk, errors)
        if len(summary.first_errors) < 20:
            summary.first_errors.extend(errors[: 20 - len(summary.first_errors)])
        summary.records += result.received
        summary.accepted += result.accepted
        summary.rejected += result.rejected
        summary.inserted += result.inserted
        summary.replaced += result.replaced
        summary.turns += result.turns
        for kind, n in result.redacted.items():
            summary.redacted[kind] = summary.redacted.get(kind, 0) + n
        if progress:
            progress(chunk.size)

    try:
        if strict:
            all_errors: list[RecordError] = []
            for chunk in _chunks(path, fmt, mapping, deployment, chunk_bytes):
                errors = check(chunk.decoded)
                all_errors.extend(errors)
                record_rejects(chunk, errors)
                summary.records += chunk.decoded.n_records
            if all_errors:
                raise ValidationFailed(all_errors, received=summary.records)
            summary.records = 0
        # Two stages on two threads: while one chunk is written (DuckDB works outside the
        # GIL), the next is decoded and checked (Arrow does too).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="daytwo-writer") as writer:
            pending: tuple[Future[IngestResult], _Chunk] | None = None
            for chunk in _prefetch(_chunks(path, fmt, mapping, deployment, chunk_bytes)):
                prepared = prepare(chunk.decoded, partial=True, redaction=redaction)
                if pending is not None:
                    account(*pending)
                pending = (
                    writer.submit(
                        commit, store, prepared, source=f"import:{fmt}", batch_id=batch_id
                    ),
                    chunk,
                )
            if pending is not None:
                account(*pending)
    finally:
        if rejects_file is not None:
            rejects_file.close()
    summary.seconds = time.perf_counter() - started
    return summary


__all__ = ["FORMATS", "ImportSummary", "detect_format", "import_file", "progress_total"]
