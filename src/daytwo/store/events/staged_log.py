"""Staged pieces kept in memory behind an append-only log: the DuckDB store's staging.

The pieces of open conversations (see :mod:`daytwo.store.events.staging`) are read once, by
the assembler, when their conversation ends, then dropped. A table of the events store paid
for that twice over: a transaction and a write of every column on arrival, a query to find
the ended ones, another to read them, a delete. Here they are kept in memory, grouped by
conversation, behind a log of files that is written before anything is acknowledged:

* :meth:`StagedPieces.stage` appends one record (the rows as Arrow IPC, with the audit counts
  of the requests they came from) and syncs it to disk before it returns, so an answered
  request is durable as before; only then are the rows added to memory.
* :meth:`StagedPieces.unstage` (once the assembled conversations are written to the events
  store) removes the pieces from memory and appends a record that says so; a process killed
  between the store's commit and that record stages the pieces again when it starts, and the
  assembler writes the same conversation again (a replacement, counted once).
* Opening replays the log. Its files are segments, appended to one at a time; a segment is
  removed once it and every segment before it hold nothing live (no staged row, no audit
  count not yet folded). Rows that keep old segments alive (a conversation that goes on) are
  copied to the newest segment, with their sequence number, when the old segments take much
  more room than what is live in them; the old ones are then removed.
* Memory is bounded: past ``memory_bytes`` the oldest pieces' rows are dropped from memory
  and read back from their segment when their conversation ends (their keys and times stay).

A record: a header (magic, kind, payload length), the payload, its CRC-32. A record cut short
by a crash (never acknowledged: the sync did not return) ends its segment's replay.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.store.events import staging
from daytwo.store.events.columns import column_us, epoch_us, from_epoch_us
from daytwo.store.events.ipc import from_ipc, to_ipc

_MAGIC = b"DTSL"
_HEAD = struct.Struct("<4sBQ")  # magic, kind, payload length
_CRC = struct.Struct("<I")
_STAGE_HEAD = struct.Struct("<QI")  # sequence number, length of the JSON part
_STAGE, _DONE, _FOLDED = 1, 2, 3

# A segment is closed and a new one started past this size.
SEGMENT_BYTES = 64 << 20
# Staged rows kept in memory; past it the oldest are read back from the log when needed.
MEMORY_BYTES = 256 << 20


@dataclass(eq=False, slots=True)
class _Chunk:
    """The rows of one stage record (or of a copy of its live rows)."""

    seq: int
    segment: int
    offset: int  # of the IPC bytes in the segment file
    length: int
    table: pa.Table | None  # None once dropped from memory (read back from the segment)
    received: np.ndarray  # microseconds, per row
    ended: np.ndarray  # span end, microseconds, per row
    nbytes: int
    live: int
    keys: set[tuple[str, str]] = field(default_factory=set)


@dataclass(eq=False, slots=True)
class _Conversation:
    max_end: int
    max_received: int
    min_received: int
    rows: int
    parts: dict[_Chunk, np.ndarray] = field(default_factory=dict)  # row indices per chunk

    def recount(self) -> None:
        ends = [c.ended[i].max() for c, i in self.parts.items()]
        received = [c.received[i] for c, i in self.parts.items()]
        self.max_end = int(max(ends))
        self.max_received = int(max(r.max() for r in received))
        self.min_received = int(min(r.min() for r in received))
        self.rows = sum(len(i) for i in self.parts.values())


@dataclass(eq=False, slots=True)
class _Segment:
    number: int
    path: Path
    size: int = 0
    chunks: int = 0  # chunks with live rows
    audits: int = 0  # audit counts not folded
    live_bytes: int = 0


class StagedPieces:
    """Staged rows and audit counts, in memory, logged under ``directory`` (None: memory
    only, for an in-memory store). ``read_only`` replays without writing anything."""

    def __init__(
        self,
        directory: Path | None,
        *,
        read_only: bool = False,
        memory_bytes: int | None = None,
        segment_bytes: int | None = None,
    ) -> None:
        self.directory = directory
        self.read_only = read_only
        self.memory_bytes = MEMORY_BYTES if memory_bytes is None else memory_bytes
        self.segment_bytes = SEGMENT_BYTES if segment_bytes is None else segment_bytes
        self._lock = threading.RLock()
        self._conversations: dict[tuple[str, str], _Conversation] = {}
        self._segments: dict[int, _Segment] = {}
        self._in_memory: list[tuple[int, int, _Chunk]] = []  # heap by sequence: what to drop
        self._memory = 0
        self._held = 0  # chunks whose rows are in memory
        self._audit_ids: set[int] = set()
        self._audits: list[dict[str, Any]] = []  # with "_segment"
        self._seq = 0
        self._last_id = 0
        self._gathered: dict[tuple[str, str], int] = {}
        self._fd: int | None = None
        self._active: _Segment | None = None
        self.rows = 0
        self.syncs = 0  # log syncs so far (for tests)
        if directory is not None:
            if not read_only and not directory.is_dir():
                directory.mkdir(parents=True)
                _sync_dir(directory.parent)
            self._replay()
            if not read_only:
                self._open_segment()
                self._tidy()  # what a previous process left that holds nothing live

    # -- the log ----------------------------------------------------------------------------

    def _segment_files(self) -> list[tuple[int, Path]]:
        assert self.directory is not None
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.glob("*.log"):
            with contextlib.suppress(ValueError):
                found.append((int(path.stem), path))
        return sorted(found)

    def _open_segment(self) -> None:
        assert self.directory is not None
        if self._fd is not None:
            os.close(self._fd)
        number = max(self._segments, default=0) + 1
        path = self.directory / f"{number:012d}.log"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._active = self._segments[number] = _Segment(number, path)
        _sync_dir(self.directory)

    def _append(self, kind: int, payload: bytes, *, sync: bool) -> tuple[int, int]:
        """Append a record; returns its segment and the offset of its payload."""
        if self._fd is None or self._active is None:
            return 0, 0
        active = self._active
        record = b"".join(
            (_HEAD.pack(_MAGIC, kind, len(payload)), payload, _CRC.pack(zlib.crc32(payload)))
        )
        start = active.size
        try:
            written = 0
            while written < len(record):
                written += os.write(self._fd, record[written:])
            if sync:
                os.fsync(self._fd)
                self.syncs += 1
        except OSError:
            # Nothing of a failed record may stay in front of the next: cut it off, and
            # where even that fails, go on in a new segment (a replay stops at a bad record).
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                with contextlib.suppress(OSError):
                    self._open_segment()
            raise
        active.size += len(record)
        return active.number, start + _HEAD.size

    def _records(self, path: Path) -> Iterator[tuple[int, bytes, int]]:
        """The whole records of a segment: kind, payload, the payload's offset."""
        data = path.read_bytes()
        at = 0
        while at + _HEAD.size <= len(data):
            magic, kind, length = _HEAD.unpack_from(data, at)
            end = at + _HEAD.size + length + _CRC.size
            if magic != _MAGIC or end > len(data):
                return  # cut short: never acknowledged
            payload = data[at + _HEAD.size : end - _CRC.size]
            if _CRC.unpack_from(data, end - _CRC.size)[0] != zlib.crc32(payload):
                return
            yield kind, payload, at + _HEAD.size
            at = end

    def _replay(self) -> None:
        for number, path in self._segment_files():
            segment = self._segments[number] = _Segment(number, path, size=path.stat().st_size)
            for kind, payload, offset in self._records(path):
                if kind == _STAGE:
                    seq, meta_len = _STAGE_HEAD.unpack_from(payload)
                    meta = orjson.loads(payload[_STAGE_HEAD.size : _STAGE_HEAD.size + meta_len])
                    ipc = payload[_STAGE_HEAD.size + meta_len :]
                    rows = from_ipc(ipc) if ipc else None
                    self._seq = max(self._seq, seq)
                    start = offset + _STAGE_HEAD.size + meta_len
                    self._apply_stage(seq, segment, start, len(ipc), rows, meta["audit"])
                elif kind == _DONE:
                    done = orjson.loads(payload)
                    keys = [(d, c) for d, c in done["keys"]]
                    self._apply_unstage(keys, done["upto"], done["seq"])
                elif kind == _FOLDED:
                    self._apply_folded(orjson.loads(payload)["upto"])
        self._gathered.clear()

    # -- staging ----------------------------------------------------------------------------

    def stage(self, rows: pa.Table, audit: Sequence[dict[str, Any]] = ()) -> None:
        """Log ``rows`` (of :data:`~daytwo.store.events.staging.STAGED`) and ``audit`` (the
        fields of each count), synced to disk, then keep them; durable when this returns."""
        if rows.num_rows == 0 and not audit:
            return
        with self._lock:
            now = time.time_ns() // 1000
            counts = []
            for a in audit:
                if "id" in a:  # adopted from an earlier store: its id and time kept
                    self._last_id = max(self._last_id, a["id"])
                    counts.append(dict(a))
                    continue
                self._last_id = max(self._last_id + 1, now)
                counts.append({**a, "id": self._last_id, "staged_at": now})
            seq = self._seq + 1
            ipc = to_ipc(rows) if rows.num_rows else b""
            meta = orjson.dumps({"audit": counts})
            payload = b"".join((_STAGE_HEAD.pack(seq, len(meta)), meta, ipc))
            number, offset = self._append(_STAGE, payload, sync=True)
            self._seq = seq
            segment = self._segments.get(number) or self._memory_segment()
            start = offset + _STAGE_HEAD.size + len(meta)
            self._apply_stage(
                seq, segment, start, len(ipc), rows if rows.num_rows else None, counts
            )
            if self._active is not None and self._active.size > self.segment_bytes:
                self._open_segment()

    def _memory_segment(self) -> _Segment:
        return self._segments.setdefault(0, _Segment(0, Path()))

    def _apply_stage(
        self,
        seq: int,
        segment: _Segment,
        offset: int,
        length: int,
        rows: pa.Table | None,
        audit: list[dict[str, Any]],
    ) -> None:
        for a in audit:
            if a["id"] in self._audit_ids:  # a copy (see _relocate) of a count still here
                continue
            self._audit_ids.add(a["id"])
            self._audits.append({**a, "_segment": segment.number})
            self._last_id = max(self._last_id, a["id"])
            segment.audits += 1
        if rows is None or rows.num_rows == 0:
            return
        received, ended = column_us(rows["received_at"]), column_us(rows["span_end"])
        chunk = _Chunk(seq, segment.number, offset, length, rows, received, ended, rows.nbytes, 0)
        self._add_rows(chunk, rows["deployment"], rows["conversation"], np.arange(rows.num_rows))
        self._keep(chunk)

    def _add_rows(
        self, chunk: _Chunk, deployments: Any, conversations: Any, rows: np.ndarray
    ) -> None:
        """Index ``rows`` of ``chunk`` by conversation."""
        if not len(rows):
            return
        d_codes, d_names = _encode(deployments)
        c_codes, c_names = _encode(conversations)
        pair = d_codes.astype(np.int64) * (len(c_names) + 1) + c_codes
        order = np.argsort(pair, kind="stable")
        sorted_pair = pair[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_pair)) + 1]
        ends = np.r_[starts[1:], len(order)]
        end_us, received = chunk.ended[rows][order], chunk.received[rows][order]
        max_end = np.maximum.reduceat(end_us, starts).tolist()
        max_recv = np.maximum.reduceat(received, starts).tolist()
        min_recv = np.minimum.reduceat(received, starts).tolist()
        firsts = sorted_pair[starts]
        n_c = len(c_names) + 1
        conversations_ = self._conversations
        for g, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            p = int(firsts[g])
            key = (d_names[p // n_c], c_names[p % n_c])
            idx = rows[order[s:e]]
            conv = conversations_.get(key)
            if conv is None:
                conv = conversations_[key] = _Conversation(max_end[g], max_recv[g], min_recv[g], 0)
            else:
                conv.max_end = max(conv.max_end, max_end[g])
                conv.max_received = max(conv.max_received, max_recv[g])
                conv.min_received = min(conv.min_received, min_recv[g])
            before = conv.parts.get(chunk)
            conv.parts[chunk] = idx if before is None else np.union1d(before, idx)
            conv.rows += e - s
            chunk.keys.add(key)
        chunk.live += len(rows)
        self.rows += len(rows)
        self._segments[chunk.segment].chunks += 1
        self._segments[chunk.segment].live_bytes += chunk.length

    def _keep(self, chunk: _Chunk) -> None:
        """Hold ``chunk``'s rows in memory, dropping the oldest past the budget (those that
        can be read back: logged)."""
        self._memory += chunk.nbytes
        self._held += 1
        heapq.heappush(self._in_memory, (chunk.seq, id(chunk), chunk))
        if len(self._in_memory) > 64 + 2 * self._held:  # drop the entries of chunks gone
            self._in_memory = [e for e in self._in_memory if e[2].table is not None]
            heapq.heapify(self._in_memory)
        while self._memory > self.memory_bytes and self._in_memory:
            _, _, old = self._in_memory[0]
            if old.segment == 0:  # not logged: cannot be read back
                break
            heapq.heappop(self._in_memory)
            if old.table is not None:
                old.table = None
                self._memory -= old.nbytes
                self._held -= 1

    def _forget(self, chunk: _Chunk) -> None:
        if chunk.table is not None:
            chunk.table = None
            self._memory -= chunk.nbytes
            self._held -= 1
        segment = self._segments.get(chunk.segment)
        if segment is not None:
            segment.chunks -= 1
            segment.live_bytes -= chunk.length

    def _table(self, chunk: _Chunk) -> pa.Table:
        if chunk.table is not None:
            return chunk.table
        path = self._segments[chunk.segment].path
        with path.open("rb") as f:
            f.seek(chunk.offset)
            return from_ipc(f.read(chunk.length))

    # -- what the assembler asks -------------------------------------------------------------

    def ended(
        self, *, ended_before: datetime, received_before: datetime, limit: int
    ) -> list[tuple[str, str]]:
        end_us, recv_us = epoch_us(ended_before), epoch_us(received_before)
        with self._lock:
            found = [
                (c.min_received, key)
                for key, c in self._conversations.items()
                if c.max_end <= end_us and c.max_received <= recv_us
            ]
        return [key for _, key in heapq.nsmallest(limit, found)]

    def rows_of(self, keys: Sequence[tuple[str, str]]) -> pa.Table:
        with self._lock:
            wanted: dict[_Chunk, list[np.ndarray]] = {}
            for key in keys:
                conv = self._conversations.get(key)
                if conv is None:
                    continue
                self._gathered[key] = self._seq
                for chunk, idx in conv.parts.items():
                    wanted.setdefault(chunk, []).append(idx)
            tables = [
                self._table(chunk).take(pa.array(np.sort(np.concatenate(parts)), type=pa.int64()))
                for chunk, parts in sorted(wanted.items(), key=lambda item: item[0].seq)
            ]
        if not tables:
            return staging.STAGED.empty_table()
        return pa.concat_tables(tables).select(staging.STAGED.names).cast(staging.STAGED)

    def unstage(self, keys: Sequence[tuple[str, str]], *, received_upto: datetime) -> int:
        """Remove the rows of ``keys`` received at or before ``received_upto`` and staged before
        the assembler read them (rows staged since stay for the next assembly)."""
        if not keys:
            return 0
        upto = epoch_us(received_upto)
        with self._lock:
            seq = min((self._gathered.pop(k, self._seq) for k in keys), default=self._seq)
            removed = self._apply_unstage(keys, upto, seq)
            if self._fd is not None:
                done = {"keys": [list(k) for k in keys], "upto": upto, "seq": seq}
                # Not synced: a lost record only means the pieces are assembled again.
                self._append(_DONE, orjson.dumps(done), sync=False)
            self._tidy()
        return removed

    def _apply_unstage(self, keys: Sequence[tuple[str, str]], upto: int, seq: int) -> int:
        removed = 0
        for key in keys:
            conv = self._conversations.get(key)
            if conv is None:
                continue
            if conv.max_received <= upto and all(c.seq <= seq for c in conv.parts):
                # The usual case: every piece was used; no row to look at one by one.
                for chunk, idx in conv.parts.items():
                    removed += len(idx)
                    chunk.live -= len(idx)
                    chunk.keys.discard(key)
                    if chunk.live == 0:
                        self._forget(chunk)
                self.rows -= conv.rows
                del self._conversations[key]
                continue
            for chunk in list(conv.parts):
                if chunk.seq > seq:
                    continue
                idx = conv.parts[chunk]
                keep = chunk.received[idx] > upto
                gone = len(idx) - int(keep.sum())
                if not gone:
                    continue
                removed += gone
                chunk.live -= gone
                self.rows -= gone
                if keep.any():
                    conv.parts[chunk] = idx[keep]
                else:
                    del conv.parts[chunk]
                    chunk.keys.discard(key)
                if chunk.live == 0:
                    self._forget(chunk)
            if conv.parts:
                conv.recount()
            else:
                del self._conversations[key]
        return removed

    # -- audit counts ------------------------------------------------------------------------

    def audit_counts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {k: v for k, v in a.items() if k != "_segment"}
                for a in sorted(self._audits, key=lambda a: a["id"])
            ]

    def fold_audit(self, upto: int) -> int:
        with self._lock:
            removed = self._apply_folded(upto)
            if removed and self._fd is not None:
                self._append(_FOLDED, orjson.dumps({"upto": upto}), sync=False)
                self._tidy()
        return removed

    def _apply_folded(self, upto: int) -> int:
        kept, removed = [], 0
        for a in self._audits:
            if a["id"] <= upto:
                removed += 1
                self._audit_ids.discard(a["id"])
                segment = self._segments.get(a["_segment"])
                if segment is not None:
                    segment.audits -= 1
            else:
                kept.append(a)
        self._audits = kept
        return removed

    # -- keeping the log short --------------------------------------------------------------

    def _tidy(self) -> None:
        """Remove the oldest segments while they hold nothing live; when the closed segments
        take much more room than what is live in them, copy that to the active segment first."""
        if self._active is None:
            return
        closed = [s for n, s in sorted(self._segments.items()) if 0 < n < self._active.number]
        if not closed:
            return
        if any(s.chunks or s.audits for s in closed):
            size = sum(s.size for s in closed)
            live = sum(s.live_bytes for s in closed)
            if size < self.segment_bytes or live * 4 > size:
                self._remove_dead_prefix(closed)
                return
            self._relocate({s.number for s in closed})
        self._remove_dead_prefix(closed)

    def _remove_dead_prefix(self, closed: list[_Segment]) -> None:
        removed = False
        for segment in closed:
            if segment.chunks or segment.audits:
                break
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            del self._segments[segment.number]
            removed = True
        if removed and self.directory is not None:
            with contextlib.suppress(OSError):
                _sync_dir(self.directory)

    def _relocate(self, numbers: set[int]) -> None:
        """Copy the live rows and audit counts of segments ``numbers`` to the active one,
        synced, keeping their sequence numbers."""
        old = {
            chunk
            for conv in self._conversations.values()
            for chunk in conv.parts
            if chunk.segment in numbers
        }
        audits = [a for a in self._audits if a["_segment"] in numbers]
        for chunk in sorted(old, key=lambda c: c.seq):
            keys = sorted(chunk.keys)
            parts = [self._conversations[k].parts[chunk] for k in keys]
            live = np.sort(np.concatenate(parts))
            table = self._table(chunk).take(pa.array(live, type=pa.int64()))
            ipc = to_ipc(table)
            meta = orjson.dumps({"audit": []})
            payload = b"".join((_STAGE_HEAD.pack(chunk.seq, len(meta)), meta, ipc))
            number, offset = self._append(_STAGE, payload, sync=False)
            copy = _Chunk(
                chunk.seq,
                number,
                offset + _STAGE_HEAD.size + len(meta),
                len(ipc),
                table,
                chunk.received[live],
                chunk.ended[live],
                table.nbytes,
                0,
            )
            for key, idx in zip(keys, parts, strict=True):
                conv = self._conversations[key]
                del conv.parts[chunk]
                conv.parts[copy] = np.searchsorted(live, idx)
                copy.keys.add(key)
            copy.live = len(live)
            self._forget(chunk)
            self._segments[number].chunks += 1
            self._segments[number].live_bytes += copy.length
            self._keep(copy)
        if audits:
            counts = [{k: v for k, v in a.items() if k != "_segment"} for a in audits]
            meta = orjson.dumps({"audit": counts})
            number, _ = self._append(
                _STAGE, _STAGE_HEAD.pack(self._seq, len(meta)) + meta, sync=False
            )
            for a in audits:
                self._segments[a["_segment"]].audits -= 1
                a["_segment"] = number
                self._segments[number].audits += 1
        if self._fd is not None:
            os.fsync(self._fd)
            self.syncs += 1

    # -- what is staged ---------------------------------------------------------------------

    def stats(self) -> tuple[int, int, datetime | None]:
        with self._lock:
            oldest = min((c.min_received for c in self._conversations.values()), default=None)
            return (
                self.rows,
                len(self._conversations),
                None if oldest is None else from_epoch_us(oldest),
            )

    @property
    def memory(self) -> int:
        """Bytes of staged rows held in memory."""
        return self._memory

    def log_bytes(self) -> int:
        return sum(s.size for s in self._segments.values())

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                if self._active is not None and self._active.size == 0:
                    with contextlib.suppress(FileNotFoundError):
                        self._active.path.unlink()


def _encode(values: Any) -> tuple[np.ndarray, list[Any]]:
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return np.asarray(
        encoded.indices.to_numpy(zero_copy_only=False)
    ), encoded.dictionary.to_pylist()


def _sync_dir(directory: Path) -> None:
    """Make a new file's name in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
