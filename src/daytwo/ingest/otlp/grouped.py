"""Group commit of staged rows: requests that are ready together share one transaction.

Staging a request's rows costs the events store a few milliseconds per statement and commit
whatever their size (DuckDB plans the insert and flushes its log each time), about as much as
the rows themselves for a batch of 512 spans. Under load, requests reach the store while
another one is being written; :class:`StageGroup` makes the next writer take every request
waiting by then in one transaction. Each caller still returns only once its own rows are
durable, so an answer never acknowledges what was not stored. When a shared transaction fails,
every request of it is staged again on its own, so that one request's fault is that request's
answer alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pyarrow as pa

from daytwo.store.events import EventStore


@dataclass(slots=True)
class _Waiting:
    rows: pa.Table
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

    def stage(self, rows: pa.Table) -> None:
        """Stage ``rows`` (of the staged schema), durable when this returns."""
        me = _Waiting(rows)
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
                self.store.stage(group[0].rows)
            else:
                self.store.stage(pa.concat_tables([w.rows for w in group]))
            self.transactions += 1
            settled = True
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
            else:
                for waiting in group:  # each on its own: one request's fault is its own
                    try:
                        self.store.stage(waiting.rows)
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
