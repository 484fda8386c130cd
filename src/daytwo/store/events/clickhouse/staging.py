"""Staging of traced turns on ClickHouse: a ReplacingMergeTree of the turns of open
conversations; removing them writes a tombstone for exactly the rows an assembly used."""

# Table names in SQL here are module constants; values are bound as literals by sql.literal.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from daytwo.errors import StoreError
from daytwo.store.events import staging
from daytwo.store.events.base import ActivityClock, AuditCount
from daytwo.store.events.clickhouse import schema
from daytwo.store.events.clickhouse.sql import literal, quote
from daytwo.store.events.clickhouse.transport import Transport

# Settings of the inserts that write the hidden columns (version, tombstone, conversation start).
HIDDEN_INSERT = {"insert_allow_materialized_columns": 1}
# Conversations named in one statement of the staging reads and removals.
_KEYS_PER_QUERY = 1000


def _conversations(keys: list[tuple[str, str]]) -> str:
    """``(deployment, conversation) IN (…)`` for ``keys``, values quoted."""
    pairs = ", ".join(f"({quote(d)}, {quote(c)})" for d, c in keys)
    return f"(deployment, conversation) IN ({pairs})"


class ClickHouseStaging:
    """The staging methods of the ClickHouse events store."""

    transport: Transport
    _activity: ActivityClock

    def _check_writable(self) -> None:
        raise NotImplementedError

    def _next_version(self) -> int:
        raise NotImplementedError

    def _insert_versioned(self, name: str, table: pa.Table, version: int) -> None:
        raise NotImplementedError

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        raise NotImplementedError

    def stage(self, rows: pa.Table, audit: Sequence[AuditCount] = ()) -> None:
        if audit:  # no transaction holds both: the door audits through the ledger instead
            raise StoreError("The ClickHouse events store cannot stage audit counts.")
        self._check_writable()
        if rows.num_rows == 0:
            return
        # One insert: durable (and visible to every process) when it returns.
        self._insert_versioned(
            staging.STAGED_TURNS, rows.select(staging.STAGED.names), self._next_version()
        )
        self._activity.staged()

    def staged_ended(
        self, *, ended_before: datetime, received_before: datetime, limit: int
    ) -> list[tuple[str, str]]:
        rows = self.query(staging.ENDED_SQL, [ended_before, received_before, limit])
        return list(
            zip(rows["deployment"].to_pylist(), rows["conversation"].to_pylist(), strict=True)
        )

    def staged_rows(self, keys: list[tuple[str, str]]) -> pa.Table:
        if not keys:
            return staging.STAGED.empty_table()
        parts = [
            self.transport.query(
                f"SELECT * FROM {staging.STAGED_TURNS} "
                f"WHERE {_conversations(keys[start : start + _KEYS_PER_QUERY])}"
            )
            for start in range(0, len(keys), _KEYS_PER_QUERY)
        ]
        return pa.concat_tables(
            [p.select(staging.STAGED.names).cast(staging.STAGED) for p in parts]
        )

    def unstage(self, keys: list[tuple[str, str]], *, received_upto: datetime) -> int:
        self._check_writable()
        removed = 0
        upto = literal(received_upto).sql(dialect="clickhouse")
        key = "deployment, conversation, span_id, part, received_at"
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            where = (
                f"{_conversations(keys[start : start + _KEYS_PER_QUERY])} AND received_at <= {upto}"
            )
            found = self.transport.query(
                f"SELECT count() AS n FROM {staging.STAGED_TURNS} WHERE {where}"
            )
            removed += int(found["n"][0].as_py())
            # A tombstone for each row the assembly used (the key includes its arrival, so a
            # copy of a piece that arrived since is another row and stays staged).
            self.transport.command(
                f"INSERT INTO {staging.STAGED_TURNS} ({key}, {schema.VERSION}, {schema.DELETED}) "
                f"SELECT {key}, {self._next_version()}, 1 FROM {staging.STAGED_TURNS} "
                f"WHERE {where}",
                HIDDEN_INSERT,
            )
        return removed
