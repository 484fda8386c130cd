"""The events store on ClickHouse (a server over HTTP(S), or chDB in-process)."""

# Table names in SQL here are module constants; values are bound as literals by sql.literal.
# ruff: noqa: S608

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.errors import StoreError
from daytwo.interactions.columns import Batch, utc_now
from daytwo.store.events import derived
from daytwo.store.events.base import (
    DELIVERIES,
    LIVE,
    Activity,
    ActivityClock,
    EventStore,
    Freshness,
    WriteResult,
)
from daytwo.store.events.clickhouse import derived as ch_derived
from daytwo.store.events.clickhouse import schema
from daytwo.store.events.clickhouse.answers import DerivedAnswers, DerivedState
from daytwo.store.events.clickhouse.sql import literal, quote, to_clickhouse
from daytwo.store.events.clickhouse.staging import HIDDEN_INSERT, ClickHouseStaging
from daytwo.store.events.clickhouse.transport import Transport
from daytwo.store.events.health import (
    MEMORY_WARN,
    PARTS_WARN,
    Check,
    Status,
    StoreHealth,
    retention_check,
    size_text,
)

# Mutations (retention) finish on every replica before the statement returns.
_MUTATION = {"mutations_sync": 2}


# A batch's rows go in as they are: the engine collapses copies of a key when it merges and
# reads with FINAL, so sorting them against each other on insert (the default) only costs time
# (half of an import's insert). A validated batch has no two rows with one key anyway.
_WRITE_INSERT = {**HIDDEN_INSERT, "optimize_on_insert": 0}


def _low_cardinality(table: pa.Table) -> pa.Table:
    """``table`` with its LowCardinality columns dictionary-encoded: the engine takes an Arrow
    dictionary as its own dictionary instead of hashing every value again."""
    for i, field in enumerate(table.schema):
        if field.name in schema.LOW_CARDINALITY and pa.types.is_string(field.type):
            table = table.set_column(i, field.name, pc.dictionary_encode(table.column(i)))
    return table


def _id_set(values: Iterable[str]) -> str:
    """A set of ids for ``x IN …``: one JSON string literal the engine unpacks. A list of
    literals makes the engine parse one expression per id (0.1 s for 25,000 ids; this 0.02)."""
    return (
        f"(SELECT arrayJoin(JSONExtract({quote(orjson.dumps(list(values)).decode())}, "
        "'Array(String)')))"
    )


def _days(table: pa.Table) -> set[tuple[str, date]]:
    """The distinct (deployment, day of started_at) of ``table``."""
    if table.num_rows == 0:
        return set()
    days = pc.cast(table["started_at"], pa.timestamp("us", tz="UTC")).cast(pa.date32())
    # Distinct in Arrow first: a batch of 25,000 interactions spans a few hundred days.
    distinct = (
        pa.table({"deployment": table["deployment"], "day": days})
        .group_by(["deployment", "day"], use_threads=False)
        .aggregate([])
    )
    return set(zip(distinct["deployment"].to_pylist(), distinct["day"].to_pylist(), strict=True))


class ClickHouseEventStore(ClickHouseStaging, EventStore):
    """Events in ClickHouse. Writes are idempotent and never double-count (see
    :mod:`daytwo.store.events.clickhouse.schema`); reads are exact (``FINAL``)."""

    dialect = "clickhouse"

    def __init__(
        self, transport: Transport, *, read_only: bool = False, layout: schema.Layout | None = None
    ) -> None:
        self.transport = transport
        self.read_only = read_only
        self.layout = layout or schema.Layout()
        self._version_lock = threading.Lock()
        self._derived_lock = threading.RLock()
        self._last_version = 0
        # This process's writes and the last background refresh (see refresh_derived).
        self._changed = threading.Condition(threading.Lock())
        self._writes = 0
        self._activity = ActivityClock()
        self._refreshed_writes = 0
        self._refreshed_at: datetime | None = None
        # Read as last refreshed (serve): the bookkeeping and the answers over it, reused.
        self._answers = DerivedAnswers(transport)
        self.schema_version = self._migrate()

    # -- schema ---------------------------------------------------------------------------

    def applied_version(self) -> int:
        """The schema version the database is at (0: no daytwo schema yet)."""
        exists = self.transport.query(
            "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() "
            f"AND name = '{schema.MIGRATIONS_TABLE}'"
        )
        if not int(exists["n"][0].as_py()):
            return 0
        found = self.transport.query(f"SELECT max(version) AS v FROM `{schema.MIGRATIONS_TABLE}`")
        value = found["v"][0].as_py()
        return int(value or 0)

    def _migrate(self) -> int:
        current = self.applied_version()
        if current > schema.LATEST:
            raise StoreError(
                f"The events schema in {self.transport.description} is at version {current}, "
                f"newer than this daytwo knows ({schema.LATEST}): upgrade daytwo."
            )
        if current == schema.LATEST:
            return current
        if self.read_only:
            raise StoreError(
                f"The events schema in {self.transport.description} is at version {current}, "
                f"older than this daytwo needs ({schema.LATEST}): run `daytwo db upgrade`."
            )
        return self.upgrade()

    def upgrade(self) -> int:
        """Apply the migrations this database has not seen; return the version reached."""
        for stmt in schema.migrations_table(self.layout):
            self.transport.command(stmt)
        current = self.applied_version()
        for m in schema.MIGRATIONS:
            if m.version <= current:
                continue
            for stmt in m.statements(self.layout):
                self.transport.command(stmt)
            self.transport.command(
                f"INSERT INTO `{schema.MIGRATIONS_TABLE}` (version, name) "
                f"VALUES ({m.version}, {literal(m.name).sql(dialect='clickhouse')})"
            )
        return schema.LATEST

    # -- reads ----------------------------------------------------------------------------

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        # A derived table reads as its current rows (each day's latest refresh).
        return self.transport.query(to_clickhouse(sql, params, self._readable()))

    def query_derived(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Read derived tables only: where they are read as last refreshed, the answer is
        reused until they change (see :mod:`.answers`)."""
        key = (sql, *(params or ()))
        try:
            hash(key)
        except TypeError:  # a list among the parameters: asked afresh
            return self.query(sql, params)
        if self.refresh_on_read:
            return self.query(sql, params)
        return self._answers.answer(key, lambda: self.query(sql, params))

    # -- writes ---------------------------------------------------------------------------

    def _next_version(self) -> int:
        """A version newer than every earlier write of this process (nanoseconds, UTC)."""
        with self._version_lock:
            self._last_version = max(time.time_ns(), self._last_version + 2)
            return self._last_version

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError("The events store was opened read-only.")

    def _existing(self, keys: pa.Table) -> pa.Table:
        """Which of ``keys`` (deployment, interaction_id) are stored already."""
        parts = []
        for dep in pc.unique(keys["deployment"]).to_pylist():
            ids = keys.filter(pc.equal(keys["deployment"], dep))["interaction_id"].to_pylist()
            parts.append(
                f"(deployment = {literal(dep).sql(dialect='clickhouse')} "
                f"AND interaction_id IN {_id_set(ids)})"
            )
        return self.transport.query(
            "SELECT deployment, interaction_id, started_at FROM interactions WHERE "
            + " OR ".join(parts)
        )

    def _write(self, batch: Batch, *, source: str, batch_id: str) -> WriteResult:
        self._check_writable()
        clean = batch.without_locators()
        inter = clean.interactions
        n = inter.num_rows
        if n == 0:
            return WriteResult(0, 0, 0, 0)
        keys = inter.select(["deployment", "interaction_id"])
        replaced = self._existing(keys)
        tombstone_version = self._next_version()
        version = tombstone_version + 1
        now = utc_now()
        deliveries = pa.table(
            {
                "interaction_id": keys["interaction_id"],
                "deployment": keys["deployment"],
                "batch_id": pa.array([batch_id] * n, type=pa.string()),
                "source": pa.array([source] * n, type=pa.string()),
                "received_at": pa.array([now] * n, type=pa.timestamp("us", tz="UTC")),
            },
            schema=DELIVERIES,
        )
        ids = inter["interaction_id"].combine_chunks()
        starts = inter["started_at"].combine_chunks()
        # Children first, the interactions last: a batch that fails half-way leaves no
        # interaction without its turns, and the caller, told it failed, sends it again.
        for name, table in (("turns", clean.turns), ("assist_events", clean.assist_events)):
            if table.num_rows:
                started = starts.take(pc.index_in(table["interaction_id"], value_set=ids))
                self._insert_versioned(name, table.append_column(schema.STARTED, started), version)
        self.transport.insert("deliveries", deliveries)
        # The days each built derived table must recompute: the new copies' and the replaced
        # copies' (recorded before the rows land, so no read can miss them).
        changed = _days(inter) | _days(replaced)
        built = ch_derived.built(self.transport)
        ch_derived.mark_changed(self.transport, built, changed, version)
        self._insert_versioned("interactions", inter, version)
        if replaced.num_rows:
            self._tombstone(replaced, tombstone_version)
        # And again now that they have landed (for the tables built by now): a refresh that
        # took up the first record, or built a table, while the rows were on their way finds
        # this one and recomputes the days with them.
        self._mark_again(changed)
        self._wrote()
        return WriteResult(
            inserted=n - replaced.num_rows,
            replaced=replaced.num_rows,
            turns=clean.turns.num_rows,
            assist_events=clean.assist_events.num_rows,
        )

    def _mark_again(self, days: set[tuple[str, date]], only: list[str] | None = None) -> None:
        """Record ``days`` as changed once more for the derived tables built by now (of
        ``only``, when given), after the change landed (see _write)."""
        names = [n for n in ch_derived.built(self.transport) if only is None or n in only]
        ch_derived.mark_changed(self.transport, names, days, self._next_version())

    def _wrote(self) -> None:
        self._activity.wrote()
        with self._changed:
            self._writes += 1
            self._changed.notify_all()

    def activity(self) -> Activity:
        return self._activity.read()

    def _insert_versioned(self, name: str, table: pa.Table, version: int) -> None:
        table = _low_cardinality(table).append_column(
            schema.VERSION, pa.repeat(pa.scalar(version, pa.uint64()), table.num_rows)
        )
        self.transport.insert(name, table, _WRITE_INSERT)

    def _tombstone(self, replaced: pa.Table, version: int) -> None:
        """Delete the earlier copies of re-sent interactions that the new copies did not
        overwrite row for row (a moved start, a turn the new copy no longer has): a tombstone
        at a version between the earlier copy's and the new one's."""
        for dep in pc.unique(replaced["deployment"]).to_pylist():
            ids = replaced.filter(pc.equal(replaced["deployment"], dep))["interaction_id"]
            where = (
                f"deployment = {literal(dep).sql(dialect='clickhouse')} "
                f"AND interaction_id IN {_id_set(ids.to_pylist())} "
                f"AND {schema.VERSION} < {version}"
            )
            for name, key in (
                ("interactions", "deployment, started_at, interaction_id"),
                ("turns", f"deployment, {schema.STARTED}, interaction_id, seq"),
                ("assist_events", f"deployment, {schema.STARTED}, interaction_id, seq"),
            ):
                self.transport.command(
                    f"INSERT INTO {name} ({key}, {schema.VERSION}, {schema.DELETED}) "
                    f"SELECT {key}, {version}, 1 FROM {name} WHERE {where}",
                    HIDDEN_INSERT,
                )

    def retire(self, deployment: str, before: datetime, *, text_only: bool) -> int:
        self._check_writable()
        dep = literal(deployment).sql(dialect="clickhouse")
        cut = literal(before).sql(dialect="clickhouse")
        # Derived tables that copy text recompute the retired days; the aggregates stay.
        text_tables = [t.name for t in derived.registered() if t.raw_text]
        built = ch_derived.built(self.transport)
        touched = self.transport.query(
            "SELECT DISTINCT deployment, started_at FROM interactions "
            f"WHERE deployment = {dep} AND started_at < {cut}"
        )
        ch_derived.mark_changed(
            self.transport,
            [n for n in text_tables if n in built],
            _days(touched),
            self._next_version(),
        )
        if text_only:
            found = self.transport.query(
                f"SELECT count() AS n FROM turns WHERE deployment = {dep} "
                f"AND {schema.STARTED} < {cut} "
                "AND (text IS NOT NULL OR attributes IS NOT NULL OR error IS NOT NULL)"
            )
            self.transport.command(
                f"ALTER TABLE {self._local('turns')} "
                "UPDATE text = NULL, attributes = NULL, error = NULL "
                f"WHERE deployment = {dep} AND {schema.STARTED} < {cut}",
                _MUTATION,
            )
            self.transport.command(
                f"ALTER TABLE {self._local('interactions')} UPDATE attributes = NULL "
                f"WHERE deployment = {dep} AND started_at < {cut}",
                _MUTATION,
            )
        else:
            found = self.transport.query(
                f"SELECT count() AS n FROM interactions WHERE deployment = {dep} "
                f"AND started_at < {cut}"
            )
            for name, column in (
                ("turns", schema.STARTED),
                ("assist_events", schema.STARTED),
                ("interactions", "started_at"),
            ):
                self.transport.command(
                    f"ALTER TABLE {self._local(name)} "
                    f"DELETE WHERE deployment = {dep} AND {column} < {cut}",
                    _MUTATION,
                )
        self._mark_again(_days(touched), text_tables)
        self._wrote()
        return int(found["n"][0].as_py())

    def _local(self, name: str) -> str:
        """Where a mutation of table ``name`` goes: the table, or on a cluster every node's
        local table (a Distributed table takes no ALTER)."""
        return f"{self.layout.local(name)}{self.layout.on_cluster()}"

    def optimize(self) -> None:
        """Merge each replacing table's parts (``OPTIMIZE … FINAL``): what the server's
        background merges do anyway, done now after a bulk load so that reads with ``FINAL``
        find one part per partition."""
        self._check_writable()
        for name in ("interactions", "turns", "assist_events", "deliveries"):
            self.transport.command(f"OPTIMIZE TABLE {self._local(name)} FINAL")

    # -- derived tables ---------------------------------------------------------------------

    def _readable(self) -> dict[str, str]:
        return {t.name: ch_derived.current_rows(t.name) for t in derived.registered()}

    def derived_ready(self, name: str) -> bool:
        """Whether the derived table ``name`` can be read (see :class:`EventStore`): with
        ``refresh_on_read`` brought up to date first, with the tables it reads; without, read
        as last refreshed (any process's refresh: every one writes complete days under a new
        version)."""
        table = next((t for t in derived.registered() if t.name == name), None)
        if table is None:
            return False
        chain = derived.with_dependencies(table)
        if not self.refresh_on_read and not self.read_only:
            built = self._answers.state().built
            return all(built.get(t.name) == t.version for t in chain)
        with self._derived_lock:
            waiting = ch_derived.pending(self.transport)
            built = ch_derived.built(self.transport)
            behind = [t for t in chain if built.get(t.name) != t.version or t.name in waiting]
            if behind and self.read_only:
                return False
            self._bring_up_to_date(behind, built, waiting)
            return True

    def _bring_up_to_date(
        self,
        tables: list[derived.DerivedTable],
        built: dict[str, str],
        waiting: dict[str, list[tuple[str, date, int]]],
    ) -> None:
        """Build ``tables`` (first time, or a new definition) or recompute their changed days,
        in order, by one look at what was pending (``waiting``, read before ``built``). A
        daily rollup over the hourly one recomputes the days pending when the look was taken,
        from the hourly rows recomputed since: a write landing meanwhile records its days
        for both, after its rows (:meth:`_write`), and the next refresh takes them up."""
        for table in tables:
            name = table.name
            todo = waiting.get(name, [])
            fresh = built.get(name) != table.version
            version = self._next_version()
            if fresh:
                ch_derived.create(self.transport, table)
                ch_derived.record_built(self.transport, table, version)
            days = None if fresh else [(d, day) for d, day, _ in todo]
            ch_derived.refresh(self.transport, table, version, days, self._readable(), fresh=fresh)
            self._answers.forget_state()
            if todo:
                ch_derived.clear_changed(self.transport, name, todo)

    def refresh_derived(self) -> bool:
        """Bring every derived table up to date, off the request path. Writers are never held
        up (a refresh writes each day under a new version; readers switch when it is
        recorded), and several processes may refresh at once."""
        if self.read_only:
            return False
        started = utc_now()
        with self._derived_lock:
            waiting = ch_derived.pending(self.transport)
            built = ch_derived.built(self.transport)
            work = [
                table
                for table in derived.in_dependency_order(derived.registered())
                if built.get(table.name) != table.version or table.name in waiting
            ]
            self._bring_up_to_date(work, built, waiting)
            if work:
                self._answers.renew(lambda key: self.query(key[0], list(key[1:])))
        with self._changed:
            self._refreshed_at = started
            self._refreshed_writes = self._writes
        return bool(work)

    def _behind(self, state: DerivedState | None = None) -> bool:
        """Whether any process wrote since the derived tables were last refreshed (or one of
        them is not built at its current definition), by ``state`` (read now if not given)."""
        if state is None:
            pending = self.transport.query(f"SELECT count() AS n FROM {ch_derived.CHANGED}")
            built = ch_derived.built(self.transport)
            waiting = bool(pending["n"][0].as_py())
        else:
            built, waiting = state.built, bool(state.pending)
        return waiting or any(built.get(t.name) != t.version for t in derived.registered())

    def freshness(self) -> Freshness:
        if self.refresh_on_read:
            return LIVE
        with self._changed:
            as_of = self._refreshed_at
            wrote = self._writes > self._refreshed_writes
        # This process's writes at once, other processes' as the bookkeeping was last read
        # (see .answers): within a second.
        return Freshness(as_of, wrote or self._behind(self._answers.state()))

    def wait_for_writes(self, timeout: float) -> bool:
        """Wait ``timeout`` seconds, or less when this process writes, then say whether there
        is something to refresh: other processes' writes are seen in the store, by one small
        query per wait (an idle server does not poll the engine harder than that)."""
        with self._changed:
            self._changed.wait_for(lambda: self._writes > self._refreshed_writes, timeout=timeout)
        return self._behind()

    @property
    def location(self) -> str:
        return self.transport.description

    def health(self, retention_days: dict[str, int] | None = None) -> StoreHealth:
        """Schema version, size, parts, merges and mutations, query-memory pressure, and the
        oldest data against retention (the per-deployment policies and the table TTL)."""
        checks: list[Check] = []
        applied = self.applied_version()
        checks.append(
            Check("schema", "ok" if applied == schema.LATEST else "fail",
                  f"version {applied} (this daytwo: {schema.LATEST})",
                  "" if applied == schema.LATEST else "run `daytwo db upgrade`")
        )  # fmt: skip
        q = self.transport.query
        db = "database = currentDatabase()"
        size = q(
            "SELECT sum(bytes_on_disk) AS bytes, sum(rows) AS rows, count() AS parts "
            f"FROM system.parts WHERE {db} AND active"
        ).to_pylist()[0]
        checks.append(
            Check("size on disk", "ok", f"{size_text(float(size['bytes'] or 0))}, "
                  f"{int(size['rows'] or 0):,} rows in {int(size['parts'] or 0):,} active parts")
        )  # fmt: skip
        worst = q(
            "SELECT table, partition, count() AS parts FROM system.parts "
            f"WHERE {db} AND active GROUP BY table, partition ORDER BY parts DESC LIMIT 1"
        ).to_pylist()
        most = int(worst[0]["parts"]) if worst else 0
        where = f" ({worst[0]['table']}, partition {worst[0]['partition']})" if worst else ""
        checks.append(
            Check("parts per partition", "warn" if most >= PARTS_WARN else "ok", f"{most}{where}",
                  "inserts too small or too frequent: merges cannot keep up; batch them"
                  if most >= PARTS_WARN else "")
        )  # fmt: skip
        merges = int(q(f"SELECT count() AS n FROM system.merges WHERE {db}")["n"][0].as_py())
        mutations = q(
            "SELECT count() AS n, countIf(latest_fail_reason != '') AS failed "
            f"FROM system.mutations WHERE {db} AND NOT is_done"
        ).to_pylist()[0]
        stuck = int(mutations["failed"] or 0)
        checks.append(
            Check("merges and mutations", "warn" if stuck else "ok",
                  f"{merges} merge(s) running, {int(mutations['n'] or 0)} mutation(s) pending",
                  f"{stuck} mutation(s) failing: see system.mutations" if stuck else "")
        )  # fmt: skip
        checks.append(self._memory_check())
        oldest = {v.deployment: v.first_started_at for v in self.volumes()}
        keep = dict(retention_days or {})
        if self.layout.ttl_days:
            for dep in oldest:
                keep[dep] = min(keep.get(dep, self.layout.ttl_days), self.layout.ttl_days)
        checks.append(retention_check(oldest, keep))
        return StoreHealth("clickhouse", self.location, checks)

    def _memory_check(self) -> Check:
        q = self.transport.query
        used = q("SELECT value AS v FROM system.metrics WHERE metric = 'MemoryTracking'")
        limit = q(
            "SELECT value AS v FROM system.server_settings WHERE name = 'max_server_memory_usage'"
        )
        errors = q(
            "SELECT value AS n, last_error_time AS at FROM system.errors "
            "WHERE name = 'MEMORY_LIMIT_EXCEEDED' AND last_error_time > now() - INTERVAL 1 DAY"
        ).to_pylist()
        in_use = float(used["v"][0].as_py()) if used.num_rows else 0.0
        cap = float(limit["v"][0].as_py() or 0) if limit.num_rows else 0.0
        share = in_use / cap if cap else 0.0
        failed = int(errors[0]["n"]) if errors else 0
        status: Status = "warn" if share >= MEMORY_WARN or failed else "ok"
        detail = []
        if share >= MEMORY_WARN:
            detail.append(f"the server uses {share:.0%} of its memory limit")
        if failed:
            detail.append(
                f"queries failed with MEMORY_LIMIT_EXCEEDED ({failed} since the server started, "
                f"the last at {errors[0]['at']} UTC): raise max_memory_usage or narrow them"
            )
        value = f"{size_text(in_use)} of {size_text(cap)}" if cap else size_text(in_use)
        return Check("query memory", status, value, "; ".join(detail))

    def close(self) -> None:
        self.transport.close()
