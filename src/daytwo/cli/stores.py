"""What the commands share: who is acting, the stores, and the server when one runs.

Everything heavy is imported inside the functions: a command loads only what it uses, so
``daytwo --version`` and the ledger commands start in a fraction of a second.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from daytwo.errors import InputError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from daytwo.backlog.policy import BacklogPolicy
    from daytwo.cli.link import Remote
    from daytwo.settings import Settings
    from daytwo.store.events import EventStore
    from daytwo.store.ledger import Ledger
    from daytwo.store.ledger.reader import LedgerReader


def actor(given: str | None = None) -> str:
    """``--as NAME`` when given, else the operating-system user, as ``cli:NAME``."""
    if given:
        return given
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        user = os.environ.get("USER")
        return f"cli:{user}" if user else "cli"


@cache
def settings() -> Settings:
    """The one Settings of this command, read from the environment once."""
    from daytwo.settings import Settings

    return Settings()


# The servers this command talks to, closed when it ends (see ``close``).
_OPEN: list[Remote] = []


def server(given_actor: str | None = None) -> Remote | None:
    """The ``daytwo serve`` running on this data dir, or None (see :mod:`daytwo.cli.link`)."""
    from daytwo.cli.link import server_for

    remote = server_for(settings(), actor(given_actor))
    if remote is not None:
        _OPEN.append(remote)
    return remote


def close() -> None:
    """End this command's use of the stores: its connections to a server closed, the
    settings read afresh by the next command (in this process, as the tests run them)."""
    while _OPEN:
        _OPEN.pop().client.close()
    settings.cache_clear()


@contextmanager
def open_ledger() -> Iterator[Ledger]:
    """The ledger, migrated to the latest schema. SQLite and PostgreSQL take writers from more
    than one process, so ledger commands work beside a running server."""
    from daytwo.store.ledger import Ledger, upgrade

    url = settings().resolved_ledger_url
    upgrade(url)
    ledger = Ledger(url)
    try:
        yield ledger
    finally:
        ledger.dispose()


T = TypeVar("T")


def read_ledger(lean: Callable[[LedgerReader], T], full: Callable[[Ledger], T]) -> T:
    """A read of the ledger: ``lean`` through the standard library's SQLite driver when the
    ledger is a local file already at the head (no SQLAlchemy to import, nothing to migrate:
    a list command starts in a fraction of a second), else ``full`` on the ledger as
    :func:`open_ledger` opens it. Both must give the same answer (the suite checks it)."""
    from daytwo.store.ledger.reader import open_reader

    with open_reader(settings().resolved_ledger_url) as reader:
        if reader is not None:
            return lean(reader)
    with open_ledger() as ledger:
        return full(ledger)


def backlog_policy() -> BacklogPolicy:
    from daytwo.backlog.policy import BacklogPolicy

    return BacklogPolicy.from_settings(settings())


@contextmanager
def open_events(*, read_only: bool = True) -> Iterator[EventStore]:
    """The events store of this data dir (a command with no server running on it)."""
    from pathlib import Path

    from daytwo.store.events import open_event_store

    url = settings().resolved_events_url
    exists = url.startswith("duckdb:///") and Path(url.removeprefix("duckdb:///")).exists()
    from daytwo.cli.console import err

    def waiting(why: str) -> None:
        # A server on this data dir holds the store for as long as it runs: waiting for it
        # would hang, so say so (a command reaches here only if it has no way through it).
        from daytwo.errors import StoreLocked
        from daytwo.http import link

        record = link.read(settings().data_dir)
        if record is not None:
            raise StoreLocked(
                f"daytwo serve at {record.url} holds the events store of this data dir and this "
                "command cannot work through it: stop the server, or use its API or pages."
            )
        err.print(f"[dim]{why}…[/]", soft_wrap=True)

    with open_event_store(url, read_only=read_only and exists, wait=waiting) as events:
        yield events


M = TypeVar("M", bound="BaseModel")


def validated(model: type[M], data: dict[str, Any]) -> M:
    """``model`` from command-line values; a bad value is an input error naming the option."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "value"
        raise InputError(f"--{where.replace('_', '-')}: {first['msg']}.") from None
