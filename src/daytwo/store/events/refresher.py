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
``otlp_assemble_seconds`` plus the time its round takes) leaves lulls longer than ``interval``
between its writes: once two writes came less than ``pause`` after the one before, they are a
stream of ticks, and only a lull of twice its longest recent gap (at least ``pause``, at most
``stream_interval``) ends it, so a round slowed by a loaded machine does not pass for the
stream's end; a lone write (or two) is still refreshed within ``interval``. The store times
every write as it commits (:meth:`EventStore.activity`), so the gaps are measured, not guessed
from when the refresher looked; a request staged for a later write (the trace door's) counts
as activity too; and while staged rows wait to be written (the trace door's open
conversations, where the store can tell), their writes are still to come, so the refresher
waits until none wait (at most ``stream_interval``) and then refreshes within ``interval`` of
the last write. Pages show :meth:`EventStore.freshness` (how far behind the figures are).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from daytwo.store.events.base import EventStore
from daytwo.store.faults import storage_fault

log = logging.getLogger("daytwo.store")

# After a refresh that took t seconds, the next starts no sooner than REST_FACTOR * t later.
REST_FACTOR = 2.0
# The longest a sustained stream of writes defers a refresh, by default (seconds).
STREAM_SECONDS = 30.0
# Within a stream of ticks, the lull that ends it is this many times its longest recent gap.
LULL_FACTOR = 2.0
# The recent gaps of a stream that set that lull.
RECENT_GAPS = 3


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
        # The shortest lull that ends a stream of ticks (see above).
        self.pause = max(interval, pause if pause is not None else interval)
        # The writes taken up so far (their count, the latest one's time), and the gaps
        # between the latest ones while they are a stream (each shorter than the lull then).
        self._seen = 0
        self._last_write: float | None = None
        self._gaps: deque[float] = deque(maxlen=RECENT_GAPS)
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

    def lull(self) -> float:
        """The quiet that ends the writes taken up so far: ``interval`` after a lone write
        (or two); in a stream of ticks (two gaps or more, each shorter than the lull in force
        before it), twice its longest recent gap, at least ``pause``, at most
        ``stream_interval``."""
        if len(self._gaps) < 2:
            return self.interval
        return min(self.stream_interval, max(self.pause, LULL_FACTOR * max(self._gaps)))

    def _take_up(self) -> tuple[float, bool]:
        """Take up the writes committed since the last look, each at its exact time; the
        latest moment of activity (a write, or a request staged for a later one), and whether
        staged rows wait to be written (their writes are still to come)."""
        seen = self.store.activity()
        new = seen.writes - self._seen
        times = seen.write_times[-new:] if new > 0 else ()
        if new > len(times):  # more writes than the store keeps times of: close together
            self._last_write = None
        for at in times:
            if self._last_write is not None:
                gap = at - self._last_write
                if gap < max(self.lull(), self.pause):
                    self._gaps.append(gap)
                else:  # a lull: what follows starts anew
                    self._gaps.clear()
            self._last_write = at
        self._seen = seen.writes
        pending = bool(seen.staged_rows)
        if pending:
            # Writes of staged pieces are not a stream of ticks to time: once none wait, the
            # last one is refreshed after a look.
            self._gaps.clear()
        latest = [t for t in (self._last_write, seen.staged_at) if t is not None]
        return (max(latest) if latest else float("-inf")), pending

    def _defer(self, until: float) -> bool:
        """Wait while writes (or staged requests) keep arriving, or staged rows wait to be
        written, until the activity pauses for :meth:`lull` with nothing staged, or the
        monotonic clock reaches ``until``; True when told to stop."""
        while True:
            latest, pending = self._take_up()
            now = time.monotonic()
            if now >= until:
                return False
            if pending:  # their writes are still to come: look again in a while
                wait = self.interval
            else:
                wait = latest + self.lull() - now
                if wait <= 0:
                    return False
            if self._stop.wait(min(wait, until - now)):
                return True
