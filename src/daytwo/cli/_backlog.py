"""What the backlog commands share: the stores, the policy, and who is acting."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daytwo.backlog.policy import BacklogPolicy
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger import Ledger, upgrade


def cli_actor(given: str | None) -> str:
    """``--as NAME`` when given, else the operating-system user, as ``cli:NAME``."""
    if given:
        return given
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER", "unknown")
    return f"cli:{user}"


@contextmanager
def open_ledger() -> Iterator[tuple[Ledger, BacklogPolicy]]:
    settings = Settings()
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        yield ledger, BacklogPolicy.from_settings(settings)
    finally:
        ledger.dispose()


@contextmanager
def open_events(*, read_only: bool = True) -> Iterator[EventStore]:
    settings = Settings()
    url = settings.resolved_events_url
    exists = url.startswith("duckdb:///") and Path(url.removeprefix("duckdb:///")).exists()
    with open_event_store(url, read_only=read_only and exists) as events:
        yield events
