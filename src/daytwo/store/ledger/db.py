"""Opening the ledger and migrating it with the Alembic scripts shipped in the package."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from daytwo.errors import StoreError
from daytwo.store.faults import storage_fault
from daytwo.store.ledger.heads import MIGRATIONS, head_revisions
from daytwo.store.ledger.reader import revisions, sqlite_path

if TYPE_CHECKING:
    from alembic.config import Config


def migration_config(url: str) -> Config:
    """An Alembic config for ``url`` that uses the migrations inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def at_head(url: str) -> bool:
    """Whether the ledger at ``url`` is already at the shipped head (one cheap query; a local
    SQLite file is asked through the standard library's driver, without an engine)."""
    path = sqlite_path(url)
    if path is not None:
        if not path.is_file():
            return False
        with closing(sqlite3.connect(path, timeout=30)) as con:
            return revisions(con) == set(head_revisions())
    local = url.startswith("sqlite:///") and ":memory:" not in url
    if local and not Path(url.removeprefix("sqlite:///").split("?")[0]).exists():
        return False
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            current = {
                row[0] for row in con.execute(text("SELECT version_num FROM alembic_version"))
            }
    except (OperationalError, ProgrammingError):
        return False
    finally:
        engine.dispose()
    return current == set(head_revisions())


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the ledger at ``url`` up to ``revision`` (creating it if needed).

    Whatever stops a migration (a read-only or full disk, a database that is down, a schema
    written by a newer daytwo, a step that fails) is a :class:`StoreError` naming the cause. A
    ledger already at the head is left alone without loading Alembic: every command calls
    this, and most find nothing to do.
    """
    where = f"the ledger at {_safe(url)}"
    try:
        _prepare(url)
        if revision == "head" and at_head(url):
            return
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise _fault(exc, where) from None
    from alembic import command
    from alembic.util.exc import CommandError

    try:
        command.upgrade(migration_config(url), revision)
    except CommandError as exc:
        if "Can't locate revision" in str(exc):
            raise StoreError(
                f"Cannot migrate {where}: its schema was written by a newer daytwo "
                f"({exc}). Upgrade daytwo, or point it at another ledger."
            ) from None
        raise StoreError(f"Cannot migrate {where}: {exc}") from None
    except (SQLAlchemyError, OSError) as exc:
        raise _fault(exc, where) from None


def _fault(exc: Exception, where: str) -> StoreError:
    fault = storage_fault(exc, where=where)
    detail = getattr(exc, "orig", None) or exc
    return fault or StoreError(f"Cannot migrate {where}: {detail}")


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(migration_config(url), revision)


def _prepare(url: str) -> None:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def _safe(url: str) -> str:
    # Never print a password.
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    _prepare(url)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_con, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_con.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

    return engine


class Ledger:
    """The ledger database: an engine and a session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
