"""Scheduled retention for `daytwo serve`: a background thread that applies every policy."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from daytwo.governance.policies import apply_retention
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from daytwo.store.ledger.leases import lease

# Retention runs in one process at a time, whichever takes this lease.
LEASE = "scheduled-retention"
LEASE_TTL = timedelta(minutes=5)

log = logging.getLogger("daytwo.governance")


class RetentionSchedule:
    """Applies retention at start and then every ``interval_s`` seconds until stopped.

    A failed run is logged and tried again at the next tick; with no policy set a run is one
    ledger query. Where several processes share the stores, only the holder of the retention
    lease runs a tick.
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
        self.skipped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with lease(self._ledger, LEASE, LEASE_TTL) as held:
                    if held:
                        apply_retention(self._ledger, self._events)
                    else:
                        self.skipped += 1
            except Exception:
                log.exception("scheduled retention failed")
            self.runs += 1
            self._stop.wait(self._interval)
