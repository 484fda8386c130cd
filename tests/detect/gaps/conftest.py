"""A small deployment with three unmet needs, stored through the real ingest path."""

from __future__ import annotations

from typing import Any

from daytwo.ingest.decode import decode_objects
from daytwo.ingest.service import ingest
from daytwo.store.events import EventStore


def store(events: EventStore, records: list[dict[str, Any]]) -> None:
    ingest(events, decode_objects(records), source="test")
