"""The embedded events store on DuckDB: one file, no server."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from daytwo.errors import StoreError
from daytwo.interactions.columns import Batch, utc_now
from daytwo.store.events.base import DELIVERIES, TABLES, EventStore, WriteResult

_TYPES = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.map_(pa.string(), pa.string()): "MAP(VARCHAR, VARCHAR)",
}


def _ddl(name: str, schema: pa.Schema) -> str:
    cols = ", ".join(
        f"{f.name} {_TYPES[f.type]}{'' if f.nullable else ' NOT NULL'}" for f in schema
    )
    return f"CREATE TABLE IF NOT EXISTS {name} ({cols})"


class DuckDBEventStore(EventStore):
    """Events in a DuckDB file. One writer at a time (a lock), readers on their own cursors."""

    dialect = "duckdb"

    def __init__(self, path: str, *, read_only: bool = False) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            raise StoreError(
                f"Cannot open the events store {path}: {exc}. If `daytwo serve` is running on "
                "this data dir, send data through its API instead, or stop it first."
            ) from None
        self._con.execute("SET TimeZone = 'UTC'")
        # Checkpoint less often than the 16 MB default: bulk loads commit large batches, and a
        # checkpoint at every other commit halves their speed. Durability is the WAL's either way.
        self._con.execute("SET wal_autocheckpoint = '256MB'")
        self._lock = threading.Lock()
        self._local = threading.local()
        self.path = path
        if not read_only:
            for name, schema in TABLES.items():
                self._con.execute(_ddl(name, schema))

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            cur.execute("SET TimeZone = 'UTC'")
            self._local.cursor = cur
        return cur

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        return self._cursor().sql(sql, params=params or None).to_arrow_table()

    def _write(self, batch: Batch, *, source: str, batch_id: str) -> WriteResult:
        clean = batch.without_locators()
        n = clean.interactions.num_rows
        if n == 0:
            return WriteResult(0, 0, 0, 0)
        keys = clean.interactions.select(["deployment", "interaction_id"])
        deliveries = pa.table(
            {
                "interaction_id": keys["interaction_id"],
                "deployment": keys["deployment"],
                "batch_id": pa.array([batch_id] * n, type=pa.string()),
                "source": pa.array([source] * n, type=pa.string()),
                "received_at": pa.array([utc_now()] * n, type=pa.timestamp("us", tz="UTC")),
            },
            schema=DELIVERIES,
        )
        with self._lock:
            con = self._con
            con.register("_keys", keys)
            con.register("_i", clean.interactions)
            con.register("_t", clean.turns)
            con.register("_a", clean.assist_events)
            con.register("_d", deliveries)
            try:
                con.execute("BEGIN TRANSACTION")
                replaced = con.execute(
                    "SELECT COUNT(*) FROM interactions i SEMI JOIN _keys k "
                    "ON i.deployment = k.deployment AND i.interaction_id = k.interaction_id"
                ).fetchone()
                n_replaced = int(replaced[0]) if replaced else 0
                if n_replaced:
                    for table in ("interactions", "turns", "assist_events"):
                        con.execute(
                            f"DELETE FROM {table} t USING _keys k "  # noqa: S608
                            "WHERE t.deployment = k.deployment "
                            "AND t.interaction_id = k.interaction_id"
                        )
                con.execute("INSERT INTO interactions SELECT * FROM _i")
                con.execute("INSERT INTO turns SELECT * FROM _t")
                con.execute("INSERT INTO assist_events SELECT * FROM _a")
                con.execute("INSERT INTO deliveries SELECT * FROM _d")
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            finally:
                for view in ("_keys", "_i", "_t", "_a", "_d"):
                    con.unregister(view)
        return WriteResult(
            inserted=n - n_replaced,
            replaced=n_replaced,
            turns=clean.turns.num_rows,
            assist_events=clean.assist_events.num_rows,
        )

    def checkpoint(self) -> None:
        with self._lock:
            self._con.execute("CHECKPOINT")

    def close(self) -> None:
        with self._lock:
            self._con.close()
