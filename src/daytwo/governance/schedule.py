"""Scheduled retention for `daytwo serve`: a background thread that applies every policy."""

from __future__ import annotations

import logging
import threading

from daytwo.governance.policies import apply_retention
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

log = logging.getLogger("daytwo.governance")


class RetentionSchedule:
    """Applies retention at start and then every ``interval_s`` seconds until stopped.

    A failed run is logged and tried again at the next tick; with no policy set a run is one
    ledger query.
    """

    def __init__(self, ledger: Ledger, events: EventStore, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the retention interval must be positive")
        self._ledger = ledger
        self._events = events
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="daytwo-retention", daemon=True)
        self.runs = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                apply_retention(self._ledger, self._events)
            except Exception:
                log.exception("scheduled retention failed")
            self.runs += 1
            self._stop.wait(self._interval)
