"""FastAPI dependency aliases: the parts of the app a route may ask for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_events(request: Request) -> EventStore:
    events: EventStore = request.app.state.events
    return events


def get_ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


SettingsDep = Annotated[Settings, Depends(get_settings)]
EventsDep = Annotated[EventStore, Depends(get_events)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
