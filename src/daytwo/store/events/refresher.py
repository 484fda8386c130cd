"""Keeps the derived tables current off the request path, so reads never wait on writes.

``daytwo serve`` runs one :class:`DerivedRefresher`: it switches its store to read derived
tables as last refreshed (``refresh_on_read = False``), waits for writes, and refreshes at most
every ``interval`` seconds, so a burst of batches costs one refresh, not one per batch. Pages
show :meth:`EventStore.freshness` (how far behind the figures are).
"""

from __future__ import annotations

import logging
import threading
import time

from daytwo.store.events.base import EventStore

log = logging.getLogger("daytwo.store")


class DerivedRefresher:
    """A daemon thread that refreshes a store's derived tables after writes."""

    def __init__(self, store: EventStore, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daytwo-refresher", daemon=True)
        self.refreshes = 0
        self.failures = 0

    def start(self) -> None:
        self.store.refresh_on_read = False
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.store.refresh_on_read = True

    def _run(self) -> None:
        last = 0.0
        first = True  # build what is missing and take up what an earlier process left
        while not self._stop.is_set():
            if not first and not self.store.wait_for_writes(timeout=0.5):
                continue
            # At most one refresh per interval: writes arriving meanwhile share the next one.
            wait = last + self.interval - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            last = time.monotonic()
            try:
                self.store.refresh_derived()
                self.refreshes += 1
                first = False
            except Exception:
                # A full disk or a conflict: the days stay pending, the next round retries.
                self.failures += 1
                log.exception("refreshing the derived tables failed; retrying")
                if self._stop.wait(self.interval):
                    return
