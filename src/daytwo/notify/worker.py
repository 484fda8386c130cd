"""Delivery in `daytwo serve`: a background thread that sends what is due and escalates
unacknowledged P1 alerts every ``notify_deliver_seconds``, and raises the alerts of items
opened outside an analysis every :data:`SYNC_EVERY` passes.

Only the server that serves runs it (``create_app(..., serving=True)``, which `daytwo serve`
passes); an app built for a test or a benchmark sends nothing on its own, so what a test sees
is what it drove (``POST /api/v1/notify/deliver``, :meth:`DeliveryWorker.run_once`)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from daytwo.notify.alerts import escalate_due
from daytwo.notify.events import raise_due
from daytwo.notify.outbox import deliver_due
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

log = logging.getLogger("daytwo.notify")
# Passes between two runs of the checks on their own clock (items opened by hand or through
# the API, SLA clocks, silent feeds): a minute at the default interval.
SYNC_EVERY = 12


class DeliveryWorker:
    """Runs one delivery pass every ``interval_s`` seconds until stopped; a failed pass is
    logged and the next one tried (rows stay in the outbox, nothing is lost)."""

    def __init__(
        self, ledger: Ledger, settings: Settings, interval_s: float,
        events: EventStore | None = None,
    ) -> None:  # fmt: skip
        if interval_s <= 0:
            raise ValueError("the delivery interval must be positive")
        self._ledger = ledger
        self._events = events
        self._settings = settings
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="daytwo-notify", daemon=True)
        self.passes = 0
        self.started: datetime | None = None  # when this server began to listen

    @classmethod
    def from_settings(
        cls, ledger: Ledger, settings: Settings, events: EventStore | None = None
    ) -> DeliveryWorker | None:
        if settings.notify_deliver_seconds <= 0:
            return None
        return cls(ledger, settings, settings.notify_deliver_seconds, events)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self.started = datetime.now(UTC)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop after the send in flight (a pass checks between sends); True when the thread
        has ended. A send still in flight at ``timeout`` keeps its lease: the next server
        sends it again with the same idempotency key."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("notification delivery did not stop within %.0f s", timeout)
            return False
        return True

    def run_once(self) -> None:
        if self.passes % SYNC_EVERY == 0:
            raise_due(self._ledger, self._settings, self._events, since=self.started)
        escalate_due(self._ledger, self._settings)
        deliver_due(self._ledger, self._settings, stop=self._stop)
        self.passes += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a pass must never end the thread
                log.exception("notification delivery pass failed")
            self._stop.wait(self._interval)
