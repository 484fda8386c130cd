"""Staging of traced turns on the DuckDB events store: the turns of conversations still open
wait in their own table until the assembler writes each ended conversation whole."""

# Table names in SQL here are module constants, never user input.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from daytwo.store.events import staging
from daytwo.store.events.base import AuditCount

log = logging.getLogger("daytwo.store")

# Staged turns are inserted, then deleted once their conversation is written: a busy trace
# door churns the table, and DuckDB holds what changed since its last checkpoint in memory
# (the store checkpoints itself only past 256 MB of log, for bulk loads). The assembler's
# removals checkpoint sooner, past this much log.
STAGING_CHECKPOINT_BYTES = 32 << 20

_INSERT_AUDIT = (
    f"INSERT INTO {staging.STAGED_AUDIT} VALUES "
    f"(nextval('{staging.STAGED_AUDIT_IDS}'), now(), ?, ?, ?, ?, ?, ?, ?, ?)"
)


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


def _audit_row(a: AuditCount) -> list[object]:
    return [a.actor, a.action, a.target, a.deployment, a.ip, a.status, a.path, a.requests]


class DuckDBStaging:
    """The staging methods of :class:`~daytwo.store.events.duckdb.DuckDBEventStore`."""

    _lock: AbstractContextManager[bool]  # the store's write lock
    _con: duckdb.DuckDBPyConnection
    path: str

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        raise NotImplementedError

    def _fault(self, exc: Exception) -> Exception:
        raise NotImplementedError

    stages_audit = True

    def stage(self, rows: pa.Table, audit: Sequence[AuditCount] = ()) -> None:
        if rows.num_rows == 0 and not audit:
            return
        with self._lock:
            con = self._con
            con.register("_staged", rows.select(staging.STAGED.names))
            try:
                con.execute("BEGIN TRANSACTION")
                if rows.num_rows:
                    con.execute(f"INSERT INTO {staging.STAGED_TURNS} SELECT * FROM _staged")
                if audit:
                    # Ids are taken inside the store's write lock: a fold never sees a
                    # committed id above one that commits after it (see fold_staged_audit).
                    con.executemany(_INSERT_AUDIT, [_audit_row(a) for a in audit])
                con.execute("COMMIT")
            except Exception as exc:
                rollback(con)
                raise self._fault(exc) from exc
            finally:
                con.unregister("_staged")

    def staged_audit(self) -> pa.Table:
        table: pa.Table = (
            self._cursor().sql(f"SELECT * FROM {staging.STAGED_AUDIT} ORDER BY id").to_arrow_table()
        )
        return table.cast(staging.STAGED_AUDIT_SCHEMA)

    def unstage_audit(self, upto: int) -> int:
        with self._lock:
            try:
                found = self._con.execute(
                    f"DELETE FROM {staging.STAGED_AUDIT} WHERE id <= ?", [upto]
                ).fetchone()
            except Exception as exc:
                raise self._fault(exc) from exc
        return int(found[0]) if found else 0

    def staged_ended(
        self, *, ended_before: datetime, received_before: datetime, limit: int
    ) -> list[tuple[str, str]]:
        rows = (
            self._cursor()
            .execute(staging.ENDED_SQL, [ended_before, received_before, limit])
            .fetchall()
        )
        return [(str(d), str(c)) for d, c in rows]

    def staged_rows(self, keys: list[tuple[str, str]]) -> pa.Table:
        cur = self._cursor()
        cur.register("_wanted", _keys_table(keys))
        try:
            return cur.sql(
                f"SELECT s.* FROM {staging.STAGED_TURNS} s SEMI JOIN _wanted w "
                "ON s.deployment = w.deployment AND s.conversation = w.conversation"
            ).to_arrow_table()
        finally:
            cur.unregister("_wanted")

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

    def unstage(self, keys: list[tuple[str, str]], *, received_upto: datetime) -> int:
        if not keys:
            return 0
        with self._lock:
            con = self._con
            try:
                con.execute("BEGIN TRANSACTION")
                removed = self._unstage_in(con, keys, received_upto)
                con.execute("COMMIT")
            except Exception as exc:
                rollback(con)
                raise self._fault(exc) from exc
            self._checkpoint_past(STAGING_CHECKPOINT_BYTES)
        return removed

    def _unstage_in(
        self, con: duckdb.DuckDBPyConnection, keys: list[tuple[str, str]], received_upto: datetime
    ) -> int:
        """:meth:`unstage`'s removal, in the caller's transaction (under the write lock)."""
        con.register("_done", _keys_table(keys))
        try:
            row = con.execute(
                f"DELETE FROM {staging.STAGED_TURNS} s USING _done d "
                "WHERE s.deployment = d.deployment AND s.conversation = d.conversation "
                "AND s.received_at <= ?",
                [received_upto],
            ).fetchone()
        finally:
            con.unregister("_done")
        return int(row[0]) if row else 0

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
