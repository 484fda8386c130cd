"""The embedded events store on DuckDB: one file, no server."""

# Table names in SQL here are module constants or registered definitions, never user input.
# ruff: noqa: S608

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from daytwo.errors import StoreError, StoreLocked
from daytwo.interactions.columns import Batch, utc_now
from daytwo.interactions.facts import add_facts
from daytwo.store.events import derived, duckdb_staging, staging
from daytwo.store.events.base import (
    LIVE,
    TABLES,
    Activity,
    ActivityClock,
    EventStore,
    Freshness,
    WriteResult,
)
from daytwo.store.events.duckdb_staging import DuckDBStaging, audit_ddl, rollback
from daytwo.store.events.health import Check, StoreHealth, size_text
from daytwo.store.faults import storage_fault

# How often a command waiting for another process's lock on the file tries again.
LOCK_POLL_S = 0.25

_TYPES = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.map_(pa.string(), pa.string()): "MAP(VARCHAR, VARCHAR)",
}


# Answers of queries over derived tables kept between refreshes (a page's worth, many times),
# and how recently one must have been asked for to be computed anew by the next refresh.
_ANSWERS_KEPT = 512
_ANSWERS_WARM_S = 120.0


def _ddl(name: str, schema: pa.Schema) -> str:
    cols = ", ".join(
        f"{f.name} {_TYPES[f.type]}{'' if f.nullable else ' NOT NULL'}" for f in schema
    )
    return f"CREATE TABLE IF NOT EXISTS {name} ({cols})"


def _connect(
    path: str, read_only: bool, wait: Callable[[str], None] | None
) -> duckdb.DuckDBPyConnection:
    """A connection to ``path``; while another process holds its lock, wait (when asked)."""
    told = False
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise  # a full or read-only disk: the caller names the cause
            if wait is None:
                raise StoreLocked(
                    f"The events store {path} is held by another process ({exc}). If `daytwo "
                    "serve` is running on this data dir, run the command again: it works "
                    "through the server."
                ) from None
            if not told:
                wait(f"another process holds the events store {path}; waiting for it")
                told = True
            time.sleep(LOCK_POLL_S)


def _behind(
    con: duckdb.DuckDBPyConnection, tables: list[derived.DerivedTable]
) -> list[tuple[derived.DerivedTable, bool]]:
    """Those of ``tables`` (in their order) not built at their definition or with changed days
    pending, each with whether it must be rebuilt whole (not built at its definition)."""
    built = dict(con.execute(f"SELECT name, version FROM {derived.STATE}").fetchall())
    pending = {
        row[0]
        for row in con.execute(f"SELECT DISTINCT name FROM {derived.CHANGED_DAYS}").fetchall()
    }
    return [
        (t, built.get(t.name) != t.version)
        for t in tables
        if built.get(t.name) != t.version or t.name in pending
    ]


class DuckDBEventStore(DuckDBStaging, EventStore):
    """Events in a DuckDB file. One writer at a time (a lock), readers on their own cursors."""

    dialect = "duckdb"

    def __init__(
        self, path: str, *, read_only: bool = False, wait: Callable[[str], None] | None = None
    ) -> None:
        self.path = path
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._con = _connect(path, read_only, wait)
        except (OSError, duckdb.Error) as exc:
            fault = storage_fault(exc, where=f"the events store {path}")
            raise fault or StoreError(f"Cannot open the events store {path}: {exc}") from None
        self._con.execute("SET TimeZone = 'UTC'")
        # Checkpoint less often than the 16 MB default: bulk loads commit large batches, and a
        # checkpoint at every other commit halves their speed. Durability is the WAL's either way.
        self._con.execute("SET wal_autocheckpoint = '256MB'")
        self._lock = threading.Lock()
        self._local = threading.local()
        self.read_only = read_only
        # Bumped by every write; a derived table refreshed at the current count is current.
        self._writes = 0
        self._activity = ActivityClock()
        self._fresh: dict[tuple[str, str], int] = {}
        # The background refresh (see refresh_derived): which writes it has covered, when.
        self._changed = threading.Condition(threading.Lock())
        self._refreshed_writes = -1  # nothing refreshed by this process yet
        self._refreshed_at: datetime | None = None
        self._refreshing = threading.Lock()
        # Answers of queries over derived tables, reused until the next refresh, with when
        # each was last asked for: the refresh computes the recent ones anew before it
        # publishes, so readers find them ready.
        self._answers: OrderedDict[tuple[Any, ...], tuple[pa.Table, float]] = OrderedDict()
        self._answers_lock = threading.Lock()
        if not read_only:
            for name, schema in TABLES.items():
                self._con.execute(_ddl(name, schema))
            self._con.execute(_ddl(staging.STAGED_TURNS, staging.STAGED))
            for statement in audit_ddl():
                self._con.execute(statement)
            self._con.execute(
                f"CREATE TABLE IF NOT EXISTS {derived.CHANGED_DAYS} "
                "(name VARCHAR NOT NULL, deployment VARCHAR NOT NULL, day DATE NOT NULL)"
            )
            self._con.execute(
                f"CREATE TABLE IF NOT EXISTS {derived.STATE} "
                "(name VARCHAR NOT NULL, version VARCHAR NOT NULL)"
            )

    def _fault(self, exc: Exception) -> Exception:
        """The storage fault ``exc`` amounts to (a full disk...), else ``exc`` itself."""
        return storage_fault(exc, where=f"the events store {self.path}") or exc

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            cur.execute("SET TimeZone = 'UTC'")
            self._local.cursor = cur
        return cur

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        return self._cursor().sql(sql, params=params or None).to_arrow_table()

    def query_derived(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        if self.refresh_on_read:
            return self.query(sql, params)
        key = (sql, *(params or ()))
        now = time.monotonic()
        with self._answers_lock:
            known = self._answers.get(key)
            if known is not None:
                self._answers[key] = (known[0], now)
                self._answers.move_to_end(key)
                return known[0]
        answer = self.query(sql, params)
        with self._answers_lock:
            self._answers[key] = (answer, now)
            while len(self._answers) > _ANSWERS_KEPT:
                self._answers.popitem(last=False)
        return answer

    def _answer_anew(self, con: duckdb.DuckDBPyConnection) -> None:
        """Recompute the answers asked for lately from the refreshed tables, then publish
        them all at once (until then readers get the previous refresh's answers)."""
        horizon = time.monotonic() - _ANSWERS_WARM_S
        with self._answers_lock:
            recent = [(k, used) for k, (_, used) in self._answers.items() if used >= horizon]
        fresh: OrderedDict[tuple[Any, ...], tuple[pa.Table, float]] = OrderedDict()
        for key, used in recent[-_ANSWERS_KEPT:]:
            sql, params = key[0], list(key[1:])
            try:
                fresh[key] = (con.sql(sql, params=params or None).to_arrow_table(), used)
            except duckdb.Error:  # a table rebuilt under another shape: asked for afresh
                continue
        with self._answers_lock:
            self._answers = fresh

    def _write(self, batch: Batch, *, source: str, batch_id: str) -> WriteResult:
        return self._write_unstaging(batch, source=source, batch_id=batch_id)[0]

    def write_assembled(
        self,
        batch: Batch,
        *,
        source: str,
        batch_id: str,
        keys: list[tuple[str, str]],
        received_upto: datetime,
    ) -> tuple[WriteResult, int]:
        """The write, then the removal of the staged pieces it used."""
        if "n_user_turns" not in batch.interactions.column_names:
            batch = add_facts(batch)
        if batch.interactions.num_rows == 0 or not keys:
            return super().write_assembled(
                batch, source=source, batch_id=batch_id, keys=keys, received_upto=received_upto
            )
        # Written first, then unstaged (in memory, and a record in the staging log): a
        # process killed between the two stages the pieces again when it starts, and the
        # assembler writes the same conversation again, a replacement counted once.
        written = self._write_unstaging(batch, source=source, batch_id=batch_id, checkpoint=True)[0]
        return written, self.unstage(keys, received_upto=received_upto)

    def _write_unstaging(
        self,
        batch: Batch,
        *,
        source: str,
        batch_id: str,
        checkpoint: bool = False,
    ) -> tuple[WriteResult, int]:
        """Write ``batch`` in one transaction; with ``checkpoint``, checkpoint past
        :data:`~daytwo.store.events.duckdb_staging.STAGING_CHECKPOINT_BYTES` of log (the
        assembler's steady stream of writes). What the write changed, and 0."""
        clean = batch.without_locators()
        n = clean.interactions.num_rows
        if n == 0:
            return WriteResult(0, 0, 0, 0), 0
        # Two views, the rest constants: each registration is a change to the catalog.
        views = {"_i": clean.interactions, "_t": clean.turns}
        if clean.assist_events.num_rows:
            views["_a"] = clean.assist_events
        with self._lock:
            con = self._con
            for name, table in views.items():
                con.register(name, table)
            try:
                con.execute("BEGIN TRANSACTION")
                replaced = con.execute(
                    "SELECT COUNT(*) FROM interactions i SEMI JOIN _i k "
                    "ON i.deployment = k.deployment AND i.interaction_id = k.interaction_id"
                ).fetchone()
                n_replaced = int(replaced[0]) if replaced else 0
                # The days this write changes, for every derived table: the new copies' days
                # and, for re-sent interactions, the days of the copies they replace.
                changed = "SELECT deployment, CAST(started_at AS DATE) AS day FROM _i"
                if n_replaced:
                    changed += (
                        " UNION SELECT i.deployment, CAST(i.started_at AS DATE) FROM "
                        "interactions i SEMI JOIN _i k ON i.deployment = k.deployment "
                        "AND i.interaction_id = k.interaction_id"
                    )
                con.execute(
                    f"INSERT INTO {derived.CHANGED_DAYS} SELECT s.name, c.deployment, c.day "
                    f"FROM {derived.STATE} s, (SELECT DISTINCT * FROM ({changed})) c"
                )
                if n_replaced:
                    for table in ("interactions", "turns", "assist_events"):
                        con.execute(
                            f"DELETE FROM {table} t USING _i k "
                            "WHERE t.deployment = k.deployment "
                            "AND t.interaction_id = k.interaction_id"
                        )
                con.execute("INSERT INTO interactions SELECT * FROM _i")
                con.execute("INSERT INTO turns SELECT * FROM _t")
                if "_a" in views:
                    con.execute("INSERT INTO assist_events SELECT * FROM _a")
                con.execute(
                    "INSERT INTO deliveries SELECT interaction_id, deployment, ?, ?, ? FROM _i",
                    [batch_id, source, utc_now()],
                )
                con.execute("COMMIT")
                self._wrote()
            except Exception as exc:
                rollback(con)
                raise self._fault(exc) from exc
            finally:
                for name in views:
                    con.unregister(name)
            if checkpoint:
                self._checkpoint_past(duckdb_staging.STAGING_CHECKPOINT_BYTES)
        written = WriteResult(
            inserted=n - n_replaced,
            replaced=n_replaced,
            turns=clean.turns.num_rows,
            assist_events=clean.assist_events.num_rows,
        )
        return written, 0

    def retire(self, deployment: str, before: datetime, *, text_only: bool) -> int:
        old = "SELECT interaction_id FROM interactions WHERE deployment = ? AND started_at < ?"
        with self._lock:
            con = self._con
            con.execute("BEGIN TRANSACTION")
            try:
                # Derived tables that copy text recompute these days (from what is left).
                text_tables = [t.name for t in derived.registered() if t.raw_text]
                if text_tables:
                    con.execute(
                        f"INSERT INTO {derived.CHANGED_DAYS} SELECT DISTINCT s.name, "
                        "i.deployment, CAST(i.started_at AS DATE) FROM interactions i, "
                        f"{derived.STATE} s WHERE i.deployment = ? AND i.started_at < ? "
                        f"AND s.name IN ({', '.join('?' for _ in text_tables)})",
                        [deployment, before, *text_tables],
                    )
                if text_only:
                    row = con.execute(
                        "SELECT count(*) FROM turns WHERE deployment = ? AND (text IS NOT NULL "
                        "OR attributes IS NOT NULL OR error IS NOT NULL) "
                        f"AND interaction_id IN ({old})",
                        [deployment, deployment, before],
                    ).fetchone()
                    con.execute(
                        "UPDATE turns SET text = NULL, attributes = NULL, error = NULL "
                        f"WHERE deployment = ? AND interaction_id IN ({old})",
                        [deployment, deployment, before],
                    )
                    con.execute(
                        "UPDATE interactions SET attributes = NULL "
                        "WHERE deployment = ? AND started_at < ?",
                        [deployment, before],
                    )
                else:
                    row = con.execute(
                        "SELECT count(*) FROM interactions WHERE deployment = ? AND started_at < ?",
                        [deployment, before],
                    ).fetchone()
                    for table in ("turns", "assist_events"):
                        con.execute(
                            f"DELETE FROM {table} WHERE deployment = ? "
                            f"AND interaction_id IN ({old})",
                            [deployment, deployment, before],
                        )
                    con.execute(
                        "DELETE FROM interactions WHERE deployment = ? AND started_at < ?",
                        [deployment, before],
                    )
                con.execute("COMMIT")
                self._wrote()
            except Exception as exc:
                rollback(con)
                raise self._fault(exc) from exc
        return int(row[0]) if row else 0

    def _wrote(self) -> None:
        self._activity.wrote()
        with self._changed:
            self._writes += 1
            self._changed.notify_all()

    def activity(self) -> Activity:
        # The staged pieces are this process's own, counted in memory (none loaded: none
        # staged by this process yet; the assembler's first round loads a log left behind).
        staged = self._staged
        return self._activity.read(staged.rows if staged is not None else 0)

    def derived_ready(self, name: str) -> bool:
        """Whether the derived table ``name`` can be read (see :class:`EventStore`)."""
        table = next((t for t in derived.registered() if t.name == name), None)
        if table is None:
            return False
        key = (name, table.version)
        if self._fresh.get(key) == self._writes:
            return True
        if not self.refresh_on_read and not self.read_only:
            # Read as last refreshed: built at this version is enough, pending days or not.
            return key in self._fresh and all(self.derived_ready(d) for d in table.depends)
        # The table and the tables it reads, in one transaction under the writers' lock: a
        # write landing between refreshing an hourly rollup and the daily one over it would
        # leave the daily one recomputed from the stale hourly one, its changed days cleared.
        # And after any refresh in progress (refresh_derived): two transactions recomputing
        # the same days would both delete their rows, and the engine refuses the second.
        chain = derived.with_dependencies(table)
        with self._refreshing, self._lock:
            writes = self._writes
            try:
                work = _behind(self._con, chain)
            except duckdb.CatalogException:
                # A store written before derived tables existed, opened read-only.
                return False
            if work and self.read_only:
                # A read-only store cannot refresh: read the table only if nothing is pending.
                return False
            if work:
                self._refresh(self._con, work)
            for t in chain:
                self._fresh[(t.name, t.version)] = writes
            return True

    def refresh_derived(self) -> bool:
        """Bring every derived table up to date, off the request path.

        One transaction refreshes every table, so a table that reads another (a daily rollup
        over the hourly one) reads it already refreshed. Building a table (the first time, or
        when its definition changed) holds writers off, so no write can slip between the build
        and the bookkeeping of the days it changes. Refreshing the days that changed does not:
        the transaction sees the writes committed when it began and recomputes their days; a
        write that commits meanwhile records its days for the next refresh. Readers keep
        reading the previous state until the refresh commits.
        """
        if self.read_only:
            return False
        with self._refreshing:
            writes = self._writes
            started = utc_now()
            cursor = self._con.cursor()
            try:
                cursor.execute("SET TimeZone = 'UTC'")
                work = _behind(cursor, derived.in_dependency_order(derived.registered()))
                if any(rebuild for _, rebuild in work):
                    with self._lock:
                        self._refresh(cursor, work)
                elif work:
                    self._refresh(cursor, work)
                if work:
                    self._answer_anew(cursor)
            finally:
                cursor.close()
            for table in derived.registered():
                self._fresh.setdefault((table.name, table.version), -1)

            with self._changed:
                self._refreshed_writes = writes
                self._refreshed_at = started
            return bool(work)

    def data_state(self) -> Hashable | None:
        """One process holds a DuckDB file for writing, so its writes are all the writes.
        Where readers refresh the derived tables themselves, every write moves the token;
        where a background refresh publishes them, each refresh does (readers see the rollups
        as of the last refresh, and answers reused until the next one lag the raw rows no
        more than the rollups do)."""
        if self.read_only:
            return "read-only"  # no process may write the file while it is open read-only
        with self._changed:
            if self.refresh_on_read or self._refreshed_at is None:
                return ("writes", self._writes)
            return ("refreshed", self._refreshed_writes, self._refreshed_at)

    def freshness(self) -> Freshness:
        if self.refresh_on_read:
            return LIVE
        with self._changed:
            return Freshness(self._refreshed_at, self._writes > self._refreshed_writes)

    def wait_for_writes(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: self._writes > self._refreshed_writes, timeout=timeout
            )

    def _refresh(
        self,
        con: duckdb.DuckDBPyConnection,
        tables: list[tuple[derived.DerivedTable, bool]],
    ) -> None:
        """Rebuild or refresh ``(table, rebuild)`` in order, in one transaction."""
        days = derived.REFRESH_DAYS
        con.execute("BEGIN TRANSACTION")
        try:
            for table, rebuild in tables:
                if rebuild:
                    con.execute(f"DROP TABLE IF EXISTS {table.name}")
                    con.execute(f"CREATE TABLE {table.name} ({table.columns})")
                    con.execute(
                        f"CREATE OR REPLACE TEMP TABLE {days} AS SELECT DISTINCT deployment, "
                        "CAST(started_at AS DATE) AS day FROM interactions"
                    )
                    con.execute(f"DELETE FROM {derived.STATE} WHERE name = ?", [table.name])
                    con.execute(
                        f"INSERT INTO {derived.STATE} VALUES (?, ?)", [table.name, table.version]
                    )
                else:
                    # A day's rows depend on the days after it up to the look-back: recompute
                    # those too.
                    con.execute(
                        f"CREATE OR REPLACE TEMP TABLE {days} AS SELECT DISTINCT c.deployment, "
                        "CAST(c.day - CAST(g.k AS INTEGER) AS DATE) AS day "
                        f"FROM {derived.CHANGED_DAYS} c, range(0, ?) g(k) WHERE c.name = ?",
                        [table.lookback_days + 1, table.name],
                    )
                    con.execute(
                        f"DELETE FROM {table.name} t USING {days} d "
                        "WHERE t.deployment = d.deployment AND t.day = d.day"
                    )
                con.execute(f"INSERT INTO {table.name} {table.select}")
                # Only the rows this transaction sees: days a concurrent write records stay
                # pending for the next refresh.
                con.execute(f"DELETE FROM {derived.CHANGED_DAYS} WHERE name = ?", [table.name])
                con.execute(f"DROP TABLE {days}")
            con.execute("COMMIT")
        except Exception as exc:
            rollback(con)
            raise self._fault(exc) from exc

    @property
    def location(self) -> str:
        return self.path

    def health(self, retention_days: dict[str, int] | None = None) -> StoreHealth:
        base = super().health(retention_days)
        if self.path == ":memory:":
            return base
        path = Path(self.path)
        wal = Path(f"{self.path}.wal")
        size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        return StoreHealth(
            base.engine, base.location, [Check("size on disk", "ok", size_text(size)), *base.checks]
        )

    def checkpoint(self) -> None:
        with self._lock:
            self._con.execute("CHECKPOINT")

    def close(self) -> None:
        self.close_staging()
        with self._lock:
            self._con.close()
