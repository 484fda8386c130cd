"""The events schema on ClickHouse: tables designed for the engine, and their migrations.

- **interactions, turns, assist events** are ``ReplacingMergeTree(_version, _deleted)``
  tables: a re-sent interaction is written again with a newer ``_version`` and replaces the
  earlier copy; where its start moved (a different sorting key), the earlier copy is
  overwritten by a tombstone (``_deleted = 1``). Reads run with ``final = 1``, so they see each
  interaction once whether or not the engine has merged the parts yet.
- Sorted by ``(deployment, started_at, interaction_id)`` (turns and assist events by their
  conversation's start, then ``seq``), partitioned by month: a time range of one deployment
  reads only its granules, and ``FINAL`` never merges across months.
- ``LowCardinality`` for the columns with few values (deployment, channel, journey, outcome,
  role, intent, model, action...), a bloom-filter index on ``interaction_id`` for look-ups by
  id (transcripts, re-sent interactions).
- An optional TTL (``DAYTWO_EVENTS_TTL_DAYS``) drops whole months of conversations past it: the
  backstop behind the per-deployment retention policies.
- **deliveries** is the log of every copy received, deduplicated only where the very same
  delivery was retried.
- **staged_turns** holds the pieces of open conversations (see
  :mod:`daytwo.store.events.staging`), a ``ReplacingMergeTree(_version, _deleted)`` sorted by
  ``(deployment, conversation, span_id, part, received_at)``: a piece sent again later is a
  row of its own, as on DuckDB, and removing the pieces an assembly used writes a tombstone
  for exactly those rows, so a piece that arrived meanwhile stays.

:data:`MIGRATIONS` lists the schema's versions; :class:`Layout` writes each one for a single
server or for a cluster (``ON CLUSTER``, ``Replicated*`` engines, a ``Distributed`` table per
table sharded by deployment, so every copy of an interaction lands on one shard and ``FINAL``
stays exact there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from daytwo.store.events import staging
from daytwo.store.events.base import TABLES

MIGRATIONS_TABLE = "daytwo_schema_migrations"

LOW_CARDINALITY = frozenset(
    {"deployment", "channel", "journey", "outcome", "role", "intent", "model", "feature",
     "action", "source"}
)  # fmt: skip

_TYPES: dict[pa.DataType, str] = {
    pa.string(): "String",
    pa.int32(): "Int32",
    pa.int64(): "Int64",
    pa.float64(): "Float64",
    pa.bool_(): "Bool",
    pa.timestamp("us", tz="UTC"): "DateTime64(6, 'UTC')",
}

# Hidden columns (MATERIALIZED: not in SELECT *), written explicitly by the store.
VERSION = "_version"
DELETED = "_deleted"
STARTED = "_started_at"  # a turn's or assist event's conversation start, for sorting


def column_type(field: pa.Field) -> str:
    if pa.types.is_map(field.type):
        return "Map(String, String)"
    base = _TYPES[field.type]
    if field.nullable:
        base = f"Nullable({base})"
    if field.name in LOW_CARDINALITY:
        base = f"LowCardinality({base})"
    return base


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    order_by: tuple[str, ...]
    partition_by: str | None
    replacing: bool  # versioned, with tombstones
    hidden: tuple[str, ...] = ()
    ttl_column: str | None = None
    index_id: bool = True

    @property
    def schema(self) -> pa.Schema:
        return staging.STAGED if self.name == staging.STAGED_TURNS else TABLES[self.name]


TABLE_DESIGN: dict[str, Table] = {
    "interactions": Table(
        "interactions",
        ("deployment", "started_at", "interaction_id"),
        "toYYYYMM(started_at)",
        replacing=True,
        ttl_column="started_at",
    ),
    # A conversation's turns and assist events sort and partition by its start.
    **{
        name: Table(
            name,
            ("deployment", STARTED, "interaction_id", "seq"),
            f"toYYYYMM({STARTED})",
            replacing=True,
            hidden=(STARTED,),
            ttl_column=STARTED,
        )
        for name in ("turns", "assist_events")
    },
    "deliveries": Table(
        "deliveries",
        ("deployment", "interaction_id", "received_at", "batch_id"),
        "toYYYYMM(received_at)",
        replacing=False,
        ttl_column="received_at",
    ),
}

# Pieces of open conversations: short-lived (an assembly removes them), so not partitioned.
STAGED_DESIGN = Table(
    staging.STAGED_TURNS,
    ("deployment", "conversation", "span_id", "part", "received_at"),
    None,
    replacing=True,
    index_id=False,
)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where and how the schema is created: one server, or a cluster.

    On a cluster each table is ``<name>_local`` on every node (a ``Replicated*`` engine, its
    Keeper path from the ``{shard}`` and ``{replica}`` macros) and ``<name>`` is a
    ``Distributed`` table over them, sharded by ``cityHash64(deployment)``.
    """

    cluster: str | None = None
    ttl_days: int | None = None

    def on_cluster(self) -> str:
        return f" ON CLUSTER `{self.cluster}`" if self.cluster else ""

    def local(self, name: str) -> str:
        return f"{name}_local" if self.cluster else name

    def engine(self, table: Table) -> str:
        # Versioned with tombstones; deliveries only collapse a retried, identical delivery.
        args = f"{VERSION}, {DELETED}" if table.replacing else ""
        if not self.cluster:
            return f"ReplacingMergeTree({args})"
        path = f"'/clickhouse/tables/{{shard}}/{{database}}/{table.name}', '{{replica}}'"
        return f"ReplicatedReplacingMergeTree({path}{', ' + args if args else ''})"


def _columns(table: Table) -> list[str]:
    cols = [f"`{f.name}` {column_type(f)}" for f in table.schema]
    if STARTED in table.hidden:
        cols.append(f"`{STARTED}` DateTime64(6, 'UTC') MATERIALIZED toDateTime64(0, 6, 'UTC')")
    if table.replacing:
        cols.append(f"`{VERSION}` UInt64 MATERIALIZED 0")
        cols.append(f"`{DELETED}` UInt8 MATERIALIZED 0")
    if table.index_id:
        cols.append("INDEX interaction_id_bloom interaction_id TYPE bloom_filter GRANULARITY 4")
    return cols


def create_table(table: Table, layout: Layout) -> list[str]:
    """The statements that create ``table`` (and its Distributed front on a cluster)."""
    local = layout.local(table.name)
    ttl = ""
    if layout.ttl_days and table.ttl_column:
        ttl = f" TTL toDateTime({table.ttl_column}) + INTERVAL {int(layout.ttl_days)} DAY"
    settings = " SETTINGS index_granularity = 8192"
    if table.replacing:
        # Merging away the replaced copies is the engine's job; cleanup drops tombstones once
        # they have replaced what they delete.
        settings += ", allow_experimental_replacing_merge_with_cleanup = 1"
    out = [
        f"CREATE TABLE IF NOT EXISTS `{local}`{layout.on_cluster()} "
        f"({', '.join(_columns(table))}) ENGINE = {layout.engine(table)}"
        f"{' PARTITION BY ' + table.partition_by if table.partition_by else ''} "
        f"ORDER BY ({', '.join(table.order_by)}){ttl}{settings}"
    ]
    if layout.cluster:
        out.append(
            f"CREATE TABLE IF NOT EXISTS `{table.name}`{layout.on_cluster()} AS `{local}` "
            f"ENGINE = Distributed(`{layout.cluster}`, currentDatabase(), `{local}`, "
            "cityHash64(deployment))"
        )
    return out


@dataclass(frozen=True, slots=True)
class Migration:
    """One version of the events schema: the statements that bring the previous one to it."""

    version: int
    name: str
    statements: Callable[[Layout], list[str]]


def _initial(layout: Layout) -> list[str]:
    return [stmt for t in TABLE_DESIGN.values() for stmt in create_table(t, layout)]


def _derived_bookkeeping(layout: Layout) -> list[str]:
    from daytwo.store.events.clickhouse.derived import TABLES as BOOKKEEPING

    return list(BOOKKEEPING)


def _staged(layout: Layout) -> list[str]:
    return create_table(STAGED_DESIGN, layout)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "events tables", _initial),
    Migration(
        2, "derived tables: changed days, state, current refresh per day", _derived_bookkeeping
    ),
    Migration(3, "staged turns of open conversations", _staged),
)
LATEST = MIGRATIONS[-1].version


def migrations_table(layout: Layout) -> list[str]:
    """The table that records which migrations ran (replicated on a cluster)."""
    engine = (
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/"
        f"{MIGRATIONS_TABLE}', '{{replica}}')"
        if layout.cluster
        else "MergeTree"
    )
    return [
        f"CREATE TABLE IF NOT EXISTS `{MIGRATIONS_TABLE}`{layout.on_cluster()} "
        "(version UInt32, name String, applied_at DateTime64(6, 'UTC') DEFAULT now64(6)) "
        f"ENGINE = {engine} ORDER BY version"
    ]


def all_statements(layout: Layout) -> list[str]:
    """Every statement of the schema from nothing, for a layout (docs and DDL tests)."""
    return [*migrations_table(layout), *(s for m in MIGRATIONS for s in m.statements(layout))]
