"""Derived tables (the exact rollups of :mod:`daytwo.store.events.derived`) on ClickHouse.

The same definitions as on DuckDB, kept exact the same way (every write records the days it
touched; a read first recomputes those days), with one difference: several processes may write
and refresh at once, and ClickHouse has no transaction to make "delete the day's rows, insert
the new ones" atomic. So each refresh writes its rows under a new *refresh version*, then
records that version as the day's current one in ``derived_days`` (a ReplacingMergeTree keyed
by table, deployment and day). Reads see only each day's current version, so a reader never
sees a day half-refreshed or twice, and two processes refreshing the same day at once each
write a complete version of which one wins. Older versions are deleted afterwards.
"""

# SQL here is built from registered definitions and module constants, values quoted.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from daytwo.store.events import derived
from daytwo.store.events.clickhouse.sql import column_definitions, quote, to_clickhouse
from daytwo.store.events.clickhouse.transport import Transport

CHANGED = derived.CHANGED_DAYS
STATE = derived.STATE
DAYS = "derived_days"
REFRESH = "_refresh"

TABLES = (
    f"CREATE TABLE IF NOT EXISTS {CHANGED} (name String, deployment String, day Date, "
    "at UInt64) ENGINE = MergeTree ORDER BY (name, deployment, day)",
    f"CREATE TABLE IF NOT EXISTS {STATE} (name String, version String, built UInt64) "
    "ENGINE = ReplacingMergeTree(built) ORDER BY name",
    f"CREATE TABLE IF NOT EXISTS {DAYS} (name String, deployment String, day Date, "
    f"{REFRESH} UInt64) ENGINE = ReplacingMergeTree({REFRESH}) ORDER BY (name, deployment, day)",
)


def current_rows(name: str) -> str:
    """ClickHouse SQL for the rows of derived table ``name`` that are current (each day's
    latest refresh); readers see this in place of the table."""
    return (
        f"SELECT * FROM `{name}` WHERE (deployment, day, {REFRESH}) IN "
        f"(SELECT deployment, day, {REFRESH} FROM {DAYS} FINAL WHERE name = {quote(name)})"
    )


def _days_values(days: Iterable[tuple[str, date]]) -> str:
    rows = ", ".join(f"({quote(d)}, '{day.isoformat()}')" for d, day in sorted(set(days)))
    return f"SELECT deployment, day FROM values('deployment String, day Date', {rows})"


def create(transport: Transport, table: derived.DerivedTable) -> None:
    cols = column_definitions(table.columns)
    ddl = ", ".join(f"`{name}` {kind}" for name, kind in cols)
    transport.command(f"DROP TABLE IF EXISTS `{table.name}`")
    transport.command(
        f"CREATE TABLE `{table.name}` ({ddl}, {REFRESH} UInt64 MATERIALIZED 0) "
        "ENGINE = MergeTree ORDER BY (deployment, day) "
        "SETTINGS allow_nullable_key = 1"
    )


def refresh(
    transport: Transport,
    table: derived.DerivedTable,
    version: int,
    days: Sequence[tuple[str, date]] | None,
    readable: dict[str, str],
    *,
    fresh: bool = False,
) -> None:
    """Recompute ``days`` of ``table`` (None: every day with data) as refresh ``version``;
    ``fresh``: the table was just created (no earlier version to delete).

    ``readable`` maps each derived table to the query of its current rows (what the select may
    read)."""
    if days is None:
        source = "SELECT DISTINCT deployment, toDate(started_at) AS day FROM interactions"
        wanted = [(r["deployment"], r["day"]) for r in transport.query(source).to_pylist()]
    else:
        wanted = sorted(
            {
                (d, day - timedelta(days=k))
                for d, day in days
                for k in range(table.lookback_days + 1)
            }
        )
    if not wanted:
        return
    names = [name for name, _ in column_definitions(table.columns)]
    for chunk_start in range(0, len(wanted), 2000):
        chunk = wanted[chunk_start : chunk_start + 2000]
        values = _days_values(chunk)
        select = to_clickhouse(table.select, tables={**readable, derived.REFRESH_DAYS: values})
        cols = ", ".join(f"`{n}`" for n in names)
        transport.command(
            f"INSERT INTO `{table.name}` ({cols}, {REFRESH}) "
            f"SELECT *, toUInt64({version}) FROM ({select})",
            {"insert_allow_materialized_columns": 1},
        )
        transport.command(
            f"INSERT INTO {DAYS} (name, deployment, day, {REFRESH}) "
            f"SELECT {quote(table.name)}, deployment, day, toUInt64({version}) FROM ({values})"
        )
        if not fresh:
            # Earlier versions of these days are garbage now: readers already skip them, so
            # the engine may delete them in the background.
            transport.command(
                f"DELETE FROM `{table.name}` WHERE (deployment, day) IN ({values}) "
                f"AND {REFRESH} < {version}",
                {"lightweight_deletes_sync": 0},
            )


def pending(transport: Transport) -> dict[str, list[tuple[str, date, int]]]:
    """The days each derived table must recompute, with the write that asked."""
    out: dict[str, list[tuple[str, date, int]]] = {}
    for r in transport.query(f"SELECT name, deployment, day, at FROM {CHANGED}").to_pylist():
        out.setdefault(r["name"], []).append((r["deployment"], r["day"], int(r["at"])))
    return out


def built(transport: Transport) -> dict[str, str]:
    """The derived tables built in this database, with the definition version of each."""
    rows = transport.query(f"SELECT name, version FROM {STATE} FINAL").to_pylist()
    return {r["name"]: r["version"] for r in rows}


def mark_changed(
    transport: Transport, names: Iterable[str], days: Iterable[tuple[str, date]], at: int
) -> None:
    """Record, for each built derived table, the days a write (or retention) touched."""
    names = list(names)
    days = sorted(set(days))
    if not names or not days:
        return
    rows = ", ".join(
        f"({quote(n)}, {quote(d)}, '{day.isoformat()}', {at})" for n in names for d, day in days
    )
    transport.command(f"INSERT INTO {CHANGED} (name, deployment, day, at) VALUES {rows}")


def clear_changed(transport: Transport, name: str, done: Sequence[tuple[str, date, int]]) -> None:
    """Forget the changed days of ``name`` that a refresh took up: exactly those records, so a
    day a write records meanwhile (even with an older mark) stays pending."""
    for start in range(0, len(done), 2000):
        rows = ", ".join(
            f"({quote(d)}, '{day.isoformat()}', {int(at)})"
            for d, day, at in done[start : start + 2000]
        )
        transport.command(
            f"DELETE FROM {CHANGED} WHERE name = {quote(name)} AND (deployment, day, at) IN "
            f"(SELECT * FROM values('deployment String, day Date, at UInt64', {rows}))"
        )


def record_built(transport: Transport, table: derived.DerivedTable, version: int) -> None:
    """Record that ``table`` was (re)built at ``version``: its earlier days no longer count
    (each day read is one this build wrote, at a newer version)."""
    transport.command(
        f"INSERT INTO {STATE} (name, version, built) "
        f"VALUES ({quote(table.name)}, {quote(table.version)}, {version})"
    )
