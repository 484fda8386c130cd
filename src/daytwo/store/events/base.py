"""The events store interface and the engine-neutral parts of its SQL."""

from __future__ import annotations

import abc
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any

import pyarrow as pa
import sqlglot

from daytwo.errors import ConfigError, StoreError
from daytwo.interactions.columns import ASSIST_EVENTS, INTERACTIONS, TURNS, Batch
from daytwo.interactions.facts import FACTS, add_facts
from daytwo.store.events import staging
from daytwo.store.events.health import Check, StoreHealth, retention_check

DELIVERIES = pa.schema(
    [
        pa.field("interaction_id", pa.string(), nullable=False),
        pa.field("deployment", pa.string(), nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

# Interactions are stored with their facts (derived from their turns when written).
STORED_INTERACTIONS = pa.schema([*INTERACTIONS, *FACTS])

TABLES: dict[str, pa.Schema] = {
    "interactions": STORED_INTERACTIONS,
    "turns": TURNS,
    "assist_events": ASSIST_EVENTS,
    # One row per delivery of an interaction: duplicates and retries are visible here (for
    # data-quality checks) while the three tables above hold each interaction once.
    "deliveries": DELIVERIES,
}


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one write did: new interactions, replaced ones (re-sent ids) and their turns."""

    inserted: int
    replaced: int
    turns: int
    assist_events: int


@dataclass(frozen=True, slots=True)
class Freshness:
    """How current the derived tables (rollups, search text) a page reads are.

    ``as_of``: every write committed before this moment is in them (None: not built yet);
    ``behind``: writes arrived since and are waiting for the next refresh. A store whose
    reads always see every write answers ``live``.
    """

    as_of: datetime | None
    behind: bool

    @property
    def live(self) -> bool:
        return not self.behind and self.as_of is None


LIVE = Freshness(None, False)


@dataclass(frozen=True, slots=True)
class Activity:
    """When this process last wrote and staged, on the monotonic clock (``time.monotonic``),
    for the background refresh to tell a stream of writes from a lull by their exact times:
    how many writes it has committed, the times of the latest ones (oldest first), of the
    latest request staged for a later write (None: none yet), and how many staged rows wait
    to be written (their writes are still to come; None: the engine cannot tell cheaply)."""

    writes: int = 0
    write_times: tuple[float, ...] = ()
    staged_at: float | None = None
    staged_rows: int | None = None


class ActivityClock:
    """Keeps a store's :class:`Activity`: :meth:`wrote` after each committed write,
    :meth:`staged` after each staged request."""

    KEPT = 8  # write times kept: more writes than this between two looks are close together

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writes = 0
        self._times: deque[float] = deque(maxlen=self.KEPT)
        self._staged_at: float | None = None

    def wrote(self) -> None:
        with self._lock:
            self._writes += 1
            self._times.append(time.monotonic())

    def staged(self) -> None:
        self._staged_at = time.monotonic()

    def read(self, staged_rows: int | None = None) -> Activity:
        with self._lock:
            return Activity(self._writes, tuple(self._times), self._staged_at, staged_rows)


@dataclass(frozen=True, slots=True)
class AuditCount:
    """Accepted requests of one caller to audit with the rows they staged: the fields of a
    generic audit entry (see :mod:`daytwo.governance.audit`) and how many requests."""

    actor: str
    action: str
    target: str
    deployment: str | None
    ip: str | None
    status: int
    path: str
    requests: int = 1


@dataclass(frozen=True, slots=True)
class StagedStats:
    """What is staged (see :mod:`daytwo.store.events.staging`): rows, open conversations and
    when the oldest row arrived."""

    rows: int
    conversations: int
    oldest: datetime | None


@dataclass(frozen=True, slots=True)
class DeploymentVolume:
    deployment: str
    interactions: int
    turns: int
    first_started_at: datetime | None
    last_started_at: datetime | None


def portable(sql: str, dialect: str) -> str:
    """Transpile SQL written in the DuckDB dialect to the target engine's dialect."""
    if dialect == "duckdb":
        return sql
    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


class EventStore(abc.ABC):
    """Append-mostly storage for interactions, turns and assist events.

    Writes are idempotent by ``(deployment, interaction_id)``: a later copy of an interaction
    replaces the earlier one together with its turns and assist events, atomically.
    """

    dialect: str

    def write(self, batch: Batch, *, source: str, batch_id: str) -> WriteResult:
        """Store a validated batch in one transaction; return what changed."""
        if "n_user_turns" not in batch.interactions.column_names:
            batch = add_facts(batch)
        return self._write(batch, source=source, batch_id=batch_id)

    @abc.abstractmethod
    def _write(self, batch: Batch, *, source: str, batch_id: str) -> WriteResult:
        """Store a batch whose interactions carry their facts, in one transaction."""

    @abc.abstractmethod
    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Run a read-only query written in the portable (DuckDB) dialect."""

    def query_derived(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Run a read-only query that reads derived tables only. Its answer cannot change
        before the next refresh, so an engine may reuse it until then."""
        return self.query(sql, params)

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def retire(self, deployment: str, before: datetime, *, text_only: bool) -> int:
        """Apply retention to the conversations of ``deployment`` that started before
        ``before``, in one transaction: with ``text_only`` clear their free text (turn text,
        errors and attributes, and the interactions' attributes), else delete them with their
        turns and assist events. Derived tables that copy text follow; aggregates survive.
        Returns how many turns were cleared or interactions deleted."""

    # -- staged turns: conversations that arrive in pieces (see store.events.staging) ----------

    def stage(self, rows: pa.Table, audit: Sequence[AuditCount] = ()) -> None:
        """Append checked, redacted rows of :data:`~daytwo.store.events.staging.STAGED` in one
        transaction (durable when this returns); with ``audit`` (only where
        :attr:`stages_audit`), the audit counts of the requests they came from in the same
        transaction."""
        raise StoreError(f"The {self.dialect} events store cannot stage conversation pieces.")

    #: Whether :meth:`stage` can commit audit counts with the rows (a transaction of both).
    stages_audit: bool = False

    def staged_audit(self) -> pa.Table:
        """The audit counts staged and not yet folded into the ledger, oldest first
        (:data:`~daytwo.store.events.staging.STAGED_AUDIT_SCHEMA`)."""
        return staging.STAGED_AUDIT_SCHEMA.empty_table()

    def unstage_audit(self, upto: int) -> int:
        """Remove the staged audit counts whose id is at most ``upto`` (folded); how many."""
        return 0

    def staged_ended(
        self, *, ended_before: datetime, received_before: datetime, limit: int
    ) -> list[tuple[str, str]]:
        """Up to ``limit`` ``(deployment, conversation)`` whose pieces all ended before
        ``ended_before`` and arrived before ``received_before``, oldest first."""
        raise StoreError(f"The {self.dialect} events store cannot stage conversation pieces.")

    def staged_rows(self, keys: list[tuple[str, str]]) -> pa.Table:
        """Every staged row of the conversations ``keys``."""
        raise StoreError(f"The {self.dialect} events store cannot stage conversation pieces.")

    def unstage(self, keys: list[tuple[str, str]], *, received_upto: datetime) -> int:
        """Remove the rows of ``keys`` that arrived at or before ``received_upto`` (the ones an
        assembly used; later arrivals stay for the next). Returns how many."""
        raise StoreError(f"The {self.dialect} events store cannot stage conversation pieces.")

    def write_assembled(
        self,
        batch: Batch,
        *,
        source: str,
        batch_id: str,
        keys: list[tuple[str, str]],
        received_upto: datetime,
    ) -> tuple[WriteResult, int]:
        """:meth:`write` the conversations assembled from the staged rows of ``keys``, then
        :meth:`unstage` the rows used; an engine with transactions does both in one. Returns
        what the write changed and how many staged rows went."""
        written = self.write(batch, source=source, batch_id=batch_id)
        return written, self.unstage(keys, received_upto=received_upto)

    def stored_keys(self, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(deployment, interaction_id)`` of ``keys`` are stored."""
        found: set[tuple[str, str]] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            where = " OR ".join("(deployment = ? AND interaction_id = ?)" for _ in chunk)
            rows = self.query(
                f"SELECT deployment, interaction_id FROM interactions WHERE {where}",  # noqa: S608
                [v for key in chunk for v in key],
            )
            found.update(
                zip(rows["deployment"].to_pylist(), rows["interaction_id"].to_pylist(), strict=True)
            )
        return found

    def staged_stats(self) -> StagedStats:
        """Rows and conversations staged now."""
        row = self.query(staging.STATS_SQL).to_pylist()[0]
        return StagedStats(int(row["rows"]), int(row["conversations"]), row["oldest"])

    def derived_ready(self, name: str) -> bool:
        """Say whether the derived table ``name`` (see :mod:`daytwo.store.events.derived`)
        can be read. With ``refresh_on_read`` (the default: commands, tests) it is first
        brought up to date, so it is exact; without (``serve``, where a
        :class:`~daytwo.store.events.refresher.DerivedRefresher` refreshes off the request
        path) it is read as last refreshed and never waits for a write. Engines without
        derived tables answer False and their readers use the raw tables."""
        return False

    #: Refresh a derived table on the read that finds it behind (exact, but the read waits).
    refresh_on_read: bool = True

    def refresh_derived(self) -> bool:
        """Bring every derived table up to date with the writes committed so far, without
        holding up writers or readers; True when something was refreshed."""
        return False

    def data_state(self) -> Hashable | None:
        """A token that changes whenever what a reader of this store can see may have changed
        (a write, a retirement, a refresh of the derived tables): answers computed from the
        store under one token may be reused while it holds. None (the default): the engine
        cannot tell, and nothing may be reused."""
        return None

    def freshness(self) -> Freshness:
        """How current what :meth:`derived_ready` lets a reader read is."""
        return LIVE

    def wait_for_writes(self, timeout: float) -> bool:
        """Block until a write commits after the last refresh (or ``timeout`` seconds pass);
        True when there is something to refresh."""
        return False

    def activity(self) -> Activity:
        """When this process last wrote and staged (engines that cannot tell answer nothing:
        no writes, none staged)."""
        return Activity()

    def optimize(self) -> None:  # noqa: B027 - a hook engines may fill, empty by default
        """Compact the stored data after a bulk load (engines that merge in the background do
        now what they would do soon anyway); a no-op where there is nothing to do."""

    def health(self, retention_days: dict[str, int] | None = None) -> StoreHealth:
        """Size, rows, and the oldest data of each deployment against its retention (days kept,
        by deployment); engines add their own checks (parts, merges, memory)."""
        volumes = self.volumes()
        rows = Check(
            "rows",
            "ok",
            f"{sum(v.interactions for v in volumes):,} interactions, "
            f"{sum(v.turns for v in volumes):,} turns in {len(volumes)} deployment(s)",
        )
        oldest = {v.deployment: v.first_started_at for v in volumes}
        return StoreHealth(
            self.dialect, self.location, [rows, retention_check(oldest, retention_days or {})]
        )

    @property
    def location(self) -> str:
        """Where the store is, without credentials."""
        return self.dialect

    def volumes(self) -> list[DeploymentVolume]:
        """Interaction and turn counts per deployment."""
        table = self.query(
            """
            SELECT i.deployment, i.n AS interactions, COALESCE(t.n, 0) AS turns,
                   i.first_started_at, i.last_started_at
            FROM (SELECT deployment, COUNT(*) AS n, MIN(started_at) AS first_started_at,
                         MAX(started_at) AS last_started_at
                  FROM interactions GROUP BY deployment) AS i
            LEFT JOIN (SELECT deployment, COUNT(*) AS n FROM turns GROUP BY deployment) AS t
              ON t.deployment = i.deployment
            ORDER BY i.deployment
            """
        )
        return [DeploymentVolume(**row) for row in table.to_pylist()]

    def arrived_since(self, deployment: str, since: datetime) -> list[date]:
        """The days (of ``started_at``) of the interactions of ``deployment`` delivered after
        ``since``, whatever their dates: what a backfill or a late batch touched."""
        table = self.query(
            "SELECT DISTINCT CAST(i.started_at AS DATE) AS day FROM interactions i "
            "WHERE i.deployment = ? AND i.interaction_id IN (SELECT d.interaction_id "
            "FROM deliveries d WHERE d.deployment = ? AND d.received_at > ?) ORDER BY day",
            [deployment, deployment, since],
        )
        return [d for d in table["day"].to_pylist() if d is not None]

    def count(self, table: str, deployment: str | None = None) -> int:
        if table not in TABLES:
            raise ValueError(f"unknown events table {table!r}")
        if deployment is None:
            result = self.query(f"SELECT COUNT(*) AS n FROM {table}")  # noqa: S608
        else:
            result = self.query(
                f"SELECT COUNT(*) AS n FROM {table} WHERE deployment = ?",  # noqa: S608
                [deployment],
            )
        return int(result["n"][0].as_py())

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_event_store(
    url: str, *, read_only: bool = False, wait: Callable[[str], None] | None = None
) -> EventStore:
    """Open the events store named by ``url``: ``duckdb:///path`` (or ``duckdb:///:memory:``),
    ``clickhouse://user:password@host:8123/database`` (``clickhouses://`` for HTTPS) or
    ``chdb:///path`` (ClickHouse's engine in this process).

    An embedded DuckDB store takes one writing process at a time; with ``wait``, opening one
    that another process holds waits until it is released (``wait`` is told why, once) instead
    of failing. ClickHouse takes many writers and ignores ``wait``."""
    if url.startswith("duckdb:///"):
        from daytwo.store.events.duckdb import DuckDBEventStore

        # SQLAlchemy's convention: duckdb:///relative/path, duckdb:////absolute/path.
        path = url.removeprefix("duckdb:///") or ":memory:"
        return DuckDBEventStore(path, read_only=read_only, wait=wait)
    if url.startswith(("clickhouse://", "clickhouses://", "chdb://")):
        from daytwo.store.events.clickhouse import open_clickhouse

        return open_clickhouse(url, read_only=read_only)
    raise ConfigError(
        f"Unsupported events store URL {url!r}: use duckdb:///path/to/events.duckdb, "
        "clickhouse://user:password@host:8123/database or chdb:///path/to/folder"
    )
