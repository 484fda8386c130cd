"""Group commit of staged rows: requests that are ready together share one transaction.

Staging a request's rows costs the events store a few milliseconds per statement and commit
whatever their size (DuckDB plans the insert and flushes its log each time), about as much as
the rows themselves for a batch of 512 spans. Under load, requests reach the store while
another one is being written; :class:`StageGroup` makes the next writer take every request
waiting by then in one transaction. Each caller still returns only once its own rows are
durable, so an answer never acknowledges what was not stored. When a shared transaction fails,
every request of it is staged again on its own, so that one request's fault is that request's
answer alone. A request's audit count goes into the transaction of its rows (one count per
caller for the requests a transaction holds), where the store can hold both.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pyarrow as pa

from daytwo.store.events import EventStore
from daytwo.store.events.base import AuditCount


@dataclass(slots=True)
class _Waiting:
    rows: pa.Table
    audit: AuditCount | None = None
    done: bool = False
    error: BaseException | None = None


class StageGroup:
    """Stages rows for concurrent callers of one store, a transaction per group of them."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._cond = threading.Condition()
        self._queue: list[_Waiting] = []
        self._writing = False
        self.transactions = 0  # how many transactions staged the rows so far (for tests)

    def stage(self, rows: pa.Table, audit: AuditCount | None = None) -> None:
        """Stage ``rows`` (of the staged schema), with ``audit`` in their transaction, durable
        when this returns."""
        me = _Waiting(rows, audit)
        with self._cond:
            self._queue.append(me)
            while self._writing and not me.done:
                self._cond.wait()
            if not me.done:
                # No one is writing: this caller writes every request waiting now, itself too.
                self._writing = True
                group, self._queue = self._queue, []
        if not me.done:
            try:
                self._write(group)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()
        if me.error is not None:
            raise me.error

    def _write(self, group: list[_Waiting]) -> None:
        settled = False
        try:
            if len(group) == 1:
                self.store.stage(group[0].rows, _counts(group))
            else:
                self.store.stage(pa.concat_tables([w.rows for w in group]), _counts(group))
            self.transactions += 1
            settled = True
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
            else:
                for waiting in group:  # each on its own: one request's fault is its own
                    try:
                        self.store.stage(waiting.rows, _counts([waiting]))
                        self.transactions += 1
                    except Exception as own:
                        waiting.error = own
            settled = True
        finally:
            with self._cond:
                for waiting in group:
                    if not settled and waiting.error is None:
                        waiting.error = RuntimeError("staging was interrupted")
                    waiting.done = True


def _counts(group: Sequence[_Waiting]) -> list[AuditCount]:
    """One count per caller (the fields of an entry) for the requests of ``group``."""
    counts: Counter[AuditCount] = Counter()
    for w in group:
        if w.audit is not None:
            counts[replace(w.audit, requests=0)] += w.audit.requests
    return [replace(key, requests=n) for key, n in counts.items()]
