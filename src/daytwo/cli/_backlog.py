"""What the backlog commands share: the stores, the policy, and who is acting."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from daytwo.backlog.policy import BacklogPolicy
from daytwo.errors import InputError
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


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: dict[str, Any]) -> M:
    """``model`` from command-line values; a bad value is an input error naming the option."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "value"
        raise InputError(f"--{where.replace('_', '-')}: {first['msg']}.") from None
