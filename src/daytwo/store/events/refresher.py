"""Keeps the derived tables current off the request path, so reads never wait on writes.

``daytwo serve`` runs one :class:`DerivedRefresher`: it switches its store to read derived
tables as last refreshed (``refresh_on_read = False``), waits for writes, and refreshes at most
every ``interval`` seconds, so a burst of batches costs one refresh, not one per batch. Under
a steady stream of writes it also rests twice as long as its last refresh took, so refreshing
never takes more than a third of the machine from the writers and readers it serves.

A refresh recomputes every day that changed, so under a sustained stream (an OTLP exporter
sending all day) each one costs more as the day fills, and refreshing every second would
recompute the same day over and over. So while writes keep arriving, the refresher defers:
it refreshes once the writes pause for ``interval`` seconds, and at the latest
``stream_interval`` seconds after its previous refresh began. The figures thus lag the
writes by at most ``stream_interval`` plus one refresh, and catch up within ``interval`` of
the stream stopping. A writer that writes in ticks (the trace door's assembler, every
``otlp_assemble_seconds``) leaves lulls longer than ``interval`` between its writes: once two
writes came less than ``pause`` after the one before, only a lull of ``pause`` ends the
stream, so such a stream is not refreshed after every tick; a lone write (or two) is still
refreshed within ``interval``. Pages
show :meth:`EventStore.freshness` (how far behind the figures are).
"""

from __future__ import annotations

import logging
import threading
import time

from daytwo.store.events.base import EventStore
from daytwo.store.faults import storage_fault

log = logging.getLogger("daytwo.store")

# After a refresh that took t seconds, the next starts no sooner than REST_FACTOR * t later.
REST_FACTOR = 2.0
# The longest a sustained stream of writes defers a refresh, by default (seconds).
STREAM_SECONDS = 30.0


class DerivedRefresher:
    """A daemon thread that refreshes a store's derived tables after writes."""

    def __init__(
        self,
        store: EventStore,
        interval: float,
        stream_interval: float = STREAM_SECONDS,
        pause: float | None = None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.stream_interval = max(interval, stream_interval)
        # The lull that ends a stream whose writes came less than this apart (see above).
        self.pause = max(interval, pause if pause is not None else interval)
        # The write count last seen, when it was seen to change (None: not yet), and the two
        # latest spans between changes.
        self._count = -1
        self._changed_at: float | None = None
        self._gaps = (float("inf"), float("inf"))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daytwo-refresher", daemon=True)
        self.refreshes = 0
        self.failures = 0
        # Set once the first round (which builds what is missing) has ended, either way.
        self.first_round = threading.Event()
        self._last_fault: str | None = None

    def start(self) -> None:
        self.store.refresh_on_read = False
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.store.refresh_on_read = True

    def _run(self) -> None:
        next_at = 0.0
        last_started = time.monotonic()
        first = True  # build what is missing and take up what an earlier process left
        while not self._stop.is_set():
            if not first and not self.store.wait_for_writes(timeout=0.5):
                continue
            self._saw_writes()
            # Writes arriving meanwhile share the next refresh.
            wait = next_at - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            if not first and self._defer(until=last_started + self.stream_interval):
                return
            started = last_started = time.monotonic()
            try:
                self.store.refresh_derived()
                self.first_round.set()
                self.refreshes += 1
                first = False
                self._last_fault = None
                took = time.monotonic() - started
                next_at = started + max(self.interval, took * (1 + REST_FACTOR))
            except Exception as exc:
                # A full disk or a conflict: the days stay pending, the next round retries.
                self.first_round.set()
                self.failures += 1
                fault = storage_fault(exc, where="the events store")
                if fault is None:
                    log.exception("refreshing the derived tables failed; retrying")
                elif fault.message != self._last_fault:
                    log.warning("refreshing the derived tables: %s Retrying.", fault.message)
                self._last_fault = fault.message if fault is not None else None
                if self._stop.wait(max(self.interval, 5.0)):
                    return

    def _saw_writes(self) -> None:
        """Note the time of a write count not seen before (to the precision of a look)."""
        count = self.store.write_count()
        if count == self._count:
            return
        if self._count >= 0:  # a change, not the count found at the start
            now = time.monotonic()
            if self._changed_at is not None:
                self._gaps = (self._gaps[1], now - self._changed_at)
            self._changed_at = now
        self._count = count

    def _ticking(self) -> bool:
        """Whether the latest writes are a stream of ticks: three, each less than ``pause``
        after the one before (two writes close together are not yet a stream)."""
        return max(self._gaps) < self.pause

    def _defer(self, until: float) -> bool:
        """Wait while writes keep arriving (each look ``interval`` long), until they pause
        (for one look, or for ``pause`` within a stream of writes less than ``pause`` apart)
        or the monotonic clock reaches ``until``; True when told to stop."""
        while (left := until - time.monotonic()) > 0:
            if self._stop.wait(min(self.interval, left)):
                return True
            self._saw_writes()
            quiet = time.monotonic() - (self._changed_at or 0.0)
            if quiet >= (self.pause if self._ticking() else self.interval):
                return False
        return False
