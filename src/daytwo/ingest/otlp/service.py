"""The trace door's running parts: admission under pressure, and the assembler of `serve`.

- :class:`TraceDoor` admits at most ``otlp_max_concurrent`` requests at once (more get a 429
  with ``Retry-After``) and refuses new spans while more than ``otlp_max_staged_rows`` turns
  of open conversations are staged (a 503 with ``Retry-After``): an OTLP exporter then backs
  off and retries the same batch, which is harmless, since pieces are keyed by span id.
- :class:`TraceAssembler` is a background thread that writes the conversations that ended
  every ``otlp_assemble_seconds`` (see :mod:`daytwo.ingest.otlp.assemble`). Where several
  processes share the stores (a ClickHouse events store), one assembles at a time: the holder
  of the ledger's assembly lease. Two assembling the same conversation at once could otherwise
  write an earlier, partial copy over a later, complete one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.core import Metric

from daytwo.errors import Overloaded, RateLimited
from daytwo.governance.audit import fold_staged_audit
from daytwo.governance.plan import RedactionPlan
from daytwo.governance.policies import KeptPlans
from daytwo.ingest.otlp.assemble import Assembled, TraceRules, assemble_ended
from daytwo.ingest.otlp.grouped import StageGroup
from daytwo.ingest.otlp.spans import Limits
from daytwo.ingest.otlp.workers import MappingPool
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from daytwo.store.ledger.leases import lease
from daytwo.telemetry import TELEMETRY, add_state_reader, gauge

log = logging.getLogger("daytwo.otlp")

# Assembly runs in one process at a time, whichever takes this lease.
LEASE = "otlp-assembly"
LEASE_TTL = timedelta(minutes=2)


class TraceDoor:
    """Admission and limits of `/v1/traces` for one app."""

    def __init__(self, settings: Settings, plans: KeptPlans | None = None) -> None:
        self.max_concurrent = settings.otlp_max_concurrent
        self.max_staged = settings.otlp_max_staged_rows
        self.limits = Limits(max_attributes=settings.otlp_max_attributes)
        self.pool = MappingPool(settings.otlp_workers)
        self._lock = threading.Lock()
        self._busy = 0
        self.staged_rows = 0  # estimate: counted exactly by each assembly, added to by receives
        self._group: StageGroup | None = None
        self.plans = plans if plans is not None else KeptPlans()

    def redaction_plan(self, ledger: Ledger, pseudonym_key: bytes | None) -> RedactionPlan:
        """The ledger's redaction plan, kept between requests until a policy changes."""
        return self.plans.current(ledger, pseudonym_key)

    def group(self, store: EventStore) -> StageGroup:
        """The group commit of the requests staging into ``store``."""
        with self._lock:
            if self._group is None or self._group.store is not store:
                self._group = StageGroup(store)
            return self._group

    def enter(self) -> None:
        """Admit a request or raise the answer that makes the exporter back off."""
        if self.staged_rows > self.max_staged:
            raise Overloaded(
                f"{self.staged_rows:,} turns of open conversations wait to be written (the "
                f"limit is {self.max_staged:,}); retry later.",
                retry_after=5,
            )
        with self._lock:
            if self._busy >= self.max_concurrent:
                raise RateLimited(
                    f"{self._busy} trace requests are being decoded; retry in a second.",
                    retry_after=1,
                )
            self._busy += 1

    def leave(self, staged: int = 0) -> None:
        with self._lock:
            self._busy -= 1
            self.staged_rows += staged


class TraceAssembler:
    """Writes ended conversations every ``interval_s`` until stopped; a failed run is logged
    and retried at the next tick (the pieces stay staged until a write succeeds)."""

    def __init__(
        self,
        events: EventStore,
        door: TraceDoor,
        *,
        interval_s: float,
        idle: timedelta,
        settle: timedelta,
        rules: TraceRules,
        ledger: Ledger | None = None,
    ) -> None:
        self._events = events
        self._ledger = ledger
        self._door = door
        self._interval = interval_s
        self.idle = idle
        self.settle = settle
        self.rules = rules
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="daytwo-otlp", daemon=True)
        self.last: Assembled | None = None
        self.last_seconds = 0.0
        self.skipped = 0

    @classmethod
    def from_settings(
        cls,
        events: EventStore,
        door: TraceDoor,
        settings: Settings,
        ledger: Ledger | None = None,
    ) -> TraceAssembler:
        return cls(
            events,
            door,
            interval_s=settings.otlp_assemble_seconds,
            idle=timedelta(seconds=settings.otlp_idle_seconds),
            settle=timedelta(seconds=settings.otlp_settle_seconds),
            rules=TraceRules(
                handoff_tools=settings.otlp_handoff_tools,
                default_outcome=settings.otlp_default_outcome or None,
            ),
            ledger=ledger,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self.fold_audit()  # what the last requests staged, into the ledger before leaving

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.fold_audit()  # first at start: what a killed process left is folded now
            self.tick()
            self._stop.wait(self._interval)

    def fold_audit(self) -> int:
        """Fold the audit counts staged with the trace requests' rows into the ledger's
        hash chain (see :func:`~daytwo.governance.audit.fold_staged_audit`); a failure is
        logged and the counts stay staged for the next try."""
        if self._ledger is None:
            return 0
        try:
            return fold_staged_audit(self._ledger, self._events)
        except Exception:
            log.exception("folding the trace door's audit counts into the ledger failed")
            return 0

    def tick(self, now: datetime | None = None) -> int:
        """Write every conversation that has ended by ``now``; returns how many. With a ledger,
        only while this process holds the assembly lease (another that holds it skips)."""
        if self._ledger is None:
            return self._assemble(now)
        try:
            with lease(self._ledger, LEASE, LEASE_TTL) as held:
                if held:
                    return self._assemble(now)
                self.skipped += 1
                return 0
        except Exception:
            log.exception("the trace assembler could not take its lease")
            return 0

    def _assemble(self, now: datetime | None) -> int:
        written = 0
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                done = assemble_ended(
                    self._events,
                    now=now or datetime.now(UTC),
                    idle=self.idle,
                    settle=self.settle,
                    rules=self.rules,
                )
                self.last, self.last_seconds = done, time.perf_counter() - started
                written += done.conversations
                TELEMETRY.otlp_conversations.inc(done.conversations)
                if not done.more:  # a round that took fewer than it may left none ended
                    break
            self._door.staged_rows = self._events.staged_stats().rows
        except Exception:
            log.exception("writing the traced conversations that ended failed")
        return written


@add_state_reader
def trace_state(state: Any) -> Iterable[Metric]:
    """Staged turns and open conversations of the trace door, and its last assembly."""
    stats = state.events.staged_stats()
    rows = gauge("daytwo_otlp_staged_turns", "Turns staged for traced conversations not yet ended.")
    rows.add_metric([], stats.rows)
    yield rows
    open_ = gauge("daytwo_otlp_open_conversations", "Traced conversations not yet ended.")
    open_.add_metric([], stats.conversations)
    yield open_
    door = getattr(state, "trace_door", None)
    if door is not None:
        ready = gauge(
            "daytwo_otlp_workers_ready",
            "1 once the trace door's worker processes have warmed up (or it has none); until "
            "then requests are mapped in the server's threads.",
        )
        ready.add_metric([], 1 if door.pool.workers == 0 or door.pool.ready(timeout=0) else 0)
        yield ready
    assembler = getattr(state, "trace_assembler", None)
    if assembler is not None and assembler.last is not None:
        last = gauge(
            "daytwo_otlp_assembly_duration_seconds",
            "Duration of the last write of ended traced conversations.",
        )
        last.add_metric([], assembler.last_seconds)
        yield last
