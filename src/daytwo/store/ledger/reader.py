"""Reading a local SQLite ledger with the standard library's driver, for commands that only list.

Importing SQLAlchemy and the ORM models takes about a third of a second, more than a command
like ``daytwo keys list`` needs in all. A read of a ledger that is already at the shipped schema
needs neither: it checks the schema revision and runs its ``SELECT`` through :mod:`sqlite3`.
The tables stay defined once, in the domains' SQLAlchemy models; each lean query has a test
that gives it the same ledger as its ORM twin and expects the same answer.

Anything else (a PostgreSQL ledger, a ledger not created yet or not at the head, which the ORM
path migrates first) gets ``None`` from :func:`open_reader`, and the command takes the ORM path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daytwo.clock import aware_from_iso
from daytwo.store.ledger.heads import head_revisions

_SQLITE = "sqlite:///"


class LedgerReader:
    """Read-only queries on one SQLite ledger (a connection that refuses writes)."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._con.execute(sql, params).fetchall()


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite ledger URL, or None for another database or an in-memory one."""
    if not url.startswith(_SQLITE) or ":memory:" in url or "?" in url:
        return None
    return Path(url.removeprefix(_SQLITE))


def revisions(con: sqlite3.Connection) -> set[str] | None:
    """The Alembic revisions a SQLite ledger records, or None if it records none."""
    try:
        return {row[0] for row in con.execute("SELECT version_num FROM alembic_version")}
    except sqlite3.OperationalError:  # no such table: never migrated
        return None


@contextmanager
def open_reader(url: str) -> Iterator[LedgerReader | None]:
    """A reader of the SQLite ledger at ``url`` if it exists and is at the shipped head;
    else None (the caller opens the ledger through SQLAlchemy, which migrates it)."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        yield None
        return
    # Not read-only mode: a WAL ledger's shared-memory file may have to be created to read it
    # (a server writing beside us keeps it there). ``query_only`` refuses every write instead.
    with closing(sqlite3.connect(path, timeout=30)) as con:
        con.execute("PRAGMA query_only=ON")
        if revisions(con) != set(head_revisions()):
            yield None
            return
        con.row_factory = sqlite3.Row
        yield LedgerReader(con)


def utc(value: str) -> datetime:
    """A timestamp as the ledger's ``UTCDateTime`` stores it on SQLite (UTC wall-clock text),
    read back as the ORM reads it: aware, in UTC."""
    return aware_from_iso(value).astimezone(UTC)


def utc_or_none(value: str | None) -> datetime | None:
    return None if value is None else utc(value)
