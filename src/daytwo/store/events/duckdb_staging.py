"""Staging of traced turns on the DuckDB events store: the turns of conversations still open
wait in their own table until the assembler writes each ended conversation whole."""

# Table names in SQL here are module constants, never user input.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from daytwo.errors import StoreError
from daytwo.store.events import staging
from daytwo.store.events.base import ActivityClock, AuditCount, StagedStats
from daytwo.store.events.staged_log import StagedPieces

log = logging.getLogger("daytwo.store")

# Staged turns are inserted, then deleted once their conversation is written: a busy trace
# door churns the table, and DuckDB holds what changed since its last checkpoint in memory
# (the store checkpoints itself only past 256 MB of log, for bulk loads). The assembler's
# removals checkpoint sooner, past this much log.
STAGING_CHECKPOINT_BYTES = 32 << 20


def audit_ddl() -> list[str]:
    """The staged audit table and its id sequence, which starts at the creation time in
    microseconds (see :data:`~daytwo.store.events.staging.STAGED_AUDIT_SCHEMA`)."""
    start = time.time_ns() // 1000
    return [
        f"CREATE SEQUENCE IF NOT EXISTS {staging.STAGED_AUDIT_IDS} START {start}",
        f"CREATE TABLE IF NOT EXISTS {staging.STAGED_AUDIT} (id BIGINT NOT NULL, "
        "staged_at TIMESTAMPTZ NOT NULL, actor VARCHAR NOT NULL, action VARCHAR NOT NULL, "
        "target VARCHAR NOT NULL, deployment VARCHAR, ip VARCHAR, status INTEGER NOT NULL, "
        "path VARCHAR NOT NULL, requests BIGINT NOT NULL)",
    ]


class DuckDBStaging:
    """The staging methods of :class:`~daytwo.store.events.duckdb.DuckDBEventStore`: the pieces
    of open conversations and the trace requests' audit counts, in memory behind an
    append-only log next to the store's file (see :mod:`~daytwo.store.events.staged_log`),
    read from the log when first needed. Only one process writes a DuckDB file, so only one
    holds its staged pieces."""

    _lock: AbstractContextManager[bool]  # the store's write lock
    _con: duckdb.DuckDBPyConnection
    _activity: ActivityClock
    path: str
    read_only: bool
    _staged: StagedPieces | None = None
    _staged_lock = threading.Lock()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        raise NotImplementedError

    def _fault(self, exc: Exception) -> Exception:
        raise NotImplementedError

    stages_audit = True

    def staging_log(self) -> Path | None:
        """Where the staged pieces are logged (None for an in-memory store)."""
        return None if self.path == ":memory:" else Path(self.path + ".staging")

    def _pieces(self) -> StagedPieces:
        staged = self._staged
        if staged is not None:
            return staged
        with self._staged_lock:
            if self._staged is None:
                try:
                    staged = StagedPieces(self.staging_log(), read_only=self.read_only)
                except OSError as exc:
                    raise self._fault(exc) from exc
                if not self.read_only:
                    self._adopt_tables(staged)
                self._staged = staged
            return self._staged

    def _adopt_tables(self, staged: StagedPieces) -> None:
        """Move what an earlier version staged in the store's tables into the log, once."""
        con = self._cursor()
        rows = con.sql(f"SELECT * FROM {staging.STAGED_TURNS}").to_arrow_table()
        counts = con.sql(f"SELECT * FROM {staging.STAGED_AUDIT} ORDER BY id").to_arrow_table()
        if rows.num_rows == 0 and counts.num_rows == 0:
            return
        # Their ids kept: the ledger may have folded some already (see fold_staged_audit).
        audit = [{**c, "staged_at": _to_us(c["staged_at"])} for c in counts.to_pylist()]
        staged.stage(rows.cast(staging.STAGED), audit)
        with self._lock:
            self._con.execute(f"DELETE FROM {staging.STAGED_TURNS}")
            self._con.execute(f"DELETE FROM {staging.STAGED_AUDIT}")

    def stage(self, rows: pa.Table, audit: Sequence[AuditCount] = ()) -> None:
        if rows.num_rows == 0 and not audit:
            return
        if self.read_only:
            raise StoreError(f"The events store {self.path} is open read-only: nothing is staged.")
        rows = rows.select(staging.STAGED.names)
        for f in staging.STAGED:  # what the table's NOT NULL columns refused
            if not f.nullable and rows[f.name].null_count:
                raise StoreError(
                    f"Staged rows need a {f.name}: {rows[f.name].null_count} lack one."
                )
        try:
            self._pieces().stage(rows, [_audit_fields(a) for a in audit])
        except OSError as exc:
            raise self._fault(exc) from exc
        self._activity.staged()

    def staged_audit(self) -> pa.Table:
        counts = self._pieces().audit_counts()
        for c in counts:
            c["staged_at"] = _from_us(c["staged_at"])
        return pa.Table.from_pylist(counts, schema=staging.STAGED_AUDIT_SCHEMA)

    def unstage_audit(self, upto: int) -> int:
        return self._pieces().fold_audit(upto)

    def staged_ended(
        self, *, ended_before: datetime, received_before: datetime, limit: int
    ) -> list[tuple[str, str]]:
        return self._pieces().ended(
            ended_before=ended_before, received_before=received_before, limit=limit
        )

    def staged_rows(self, keys: list[tuple[str, str]]) -> pa.Table:
        return self._pieces().rows_of(keys)

    def unstage(self, keys: list[tuple[str, str]], *, received_upto: datetime) -> int:
        return self._pieces().unstage(keys, received_upto=received_upto)

    def staged_stats(self) -> StagedStats:
        rows, conversations, oldest = self._pieces().stats()
        return StagedStats(rows, conversations, oldest)

    def close_staging(self) -> None:
        if self._staged is not None:
            self._staged.close()

    def stored_keys(self, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        cur = self._cursor()
        cur.register("_asked", _keys_table(keys))
        try:
            rows = cur.execute(
                "SELECT i.deployment, i.interaction_id FROM interactions i SEMI JOIN _asked a "
                "ON i.deployment = a.deployment AND i.interaction_id = a.conversation"
            ).fetchall()
        finally:
            cur.unregister("_asked")
        return {(str(d), str(i)) for d, i in rows}

    def _checkpoint_past(self, wal_bytes: int) -> None:
        """Checkpoint now if the write-ahead log holds more than ``wal_bytes`` (under the write
        lock). A checkpoint that cannot run now is left to the next call or to DuckDB's own."""
        if self.path == ":memory:":
            return
        try:
            if Path(self.path + ".wal").stat().st_size <= wal_bytes:
                return
        except OSError:
            return
        try:
            self._con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            log.debug("checkpoint after unstaging deferred: %s", exc)


def _audit_fields(a: AuditCount) -> dict[str, object]:
    return {
        "actor": a.actor,
        "action": a.action,
        "target": a.target,
        "deployment": a.deployment,
        "ip": a.ip,
        "status": a.status,
        "path": a.path,
        "requests": a.requests,
    }


def _to_us(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back after a failed statement, keeping the failure that matters: DuckDB has often
    ended the transaction itself (an I/O error at commit), and saying so would hide why."""
    with contextlib.suppress(duckdb.TransactionException):
        con.execute("ROLLBACK")


def _keys_table(keys: list[tuple[str, str]]) -> pa.Table:
    return pa.table(
        {
            "deployment": pa.array([k[0] for k in keys], type=pa.string()),
            "conversation": pa.array([k[1] for k in keys], type=pa.string()),
        }
    )
