"""Staging of traced turns on the DuckDB events store: the turns of conversations still open
wait in their own table until the assembler writes each ended conversation whole."""

# Table names in SQL here are module constants, never user input.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import logging
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from daytwo.store.events import staging

log = logging.getLogger("daytwo.store")

# Staged turns are inserted, then deleted once their conversation is written: a busy trace
# door churns the table, and DuckDB holds what changed since its last checkpoint in memory
# (the store checkpoints itself only past 256 MB of log, for bulk loads). The assembler's
# removals checkpoint sooner, past this much log.
STAGING_CHECKPOINT_BYTES = 32 << 20


class DuckDBStaging:
    """The staging methods of :class:`~daytwo.store.events.duckdb.DuckDBEventStore`."""

    _lock: AbstractContextManager[bool]  # the store's write lock
    _con: duckdb.DuckDBPyConnection
    path: str

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        raise NotImplementedError

    def _fault(self, exc: Exception) -> Exception:
        raise NotImplementedError

    def stage(self, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return
        with self._lock:
            con = self._con
            con.register("_staged", rows.select(staging.STAGED.names))
            try:
                con.execute("BEGIN TRANSACTION")
                con.execute(f"INSERT INTO {staging.STAGED_TURNS} SELECT * FROM _staged")
                con.execute("COMMIT")
            except Exception as exc:
                rollback(con)
                raise self._fault(exc) from exc
            finally:
                con.unregister("_staged")

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
            con.register("_done", _keys_table(keys))
            try:
                con.execute("BEGIN TRANSACTION")
                row = con.execute(
                    f"DELETE FROM {staging.STAGED_TURNS} s USING _done d "
                    "WHERE s.deployment = d.deployment AND s.conversation = d.conversation "
                    "AND s.received_at <= ?",
                    [received_upto],
                ).fetchone()
                con.execute("COMMIT")
            except Exception as exc:
                rollback(con)
                raise self._fault(exc) from exc
            finally:
                con.unregister("_done")
            self._checkpoint_past(STAGING_CHECKPOINT_BYTES)
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
