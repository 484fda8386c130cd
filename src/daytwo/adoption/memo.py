"""Answers the adoption pages reuse while the events they were computed from stay the same, and
serve, marked with their age, while a newer one is computed in the background.

The per-agent tests behind "who stopped" read a quarter of a year of per-agent rollups and test
every agent against their own baseline; the comparisons bootstrap over agents: the slow parts of
``/adoption``, and the same answer for every reader until data arrives.

- :func:`remembered` keeps such an answer per events store, keyed by what it was asked and by
  the store's :meth:`~daytwo.store.events.EventStore.data_state` (a write, a retirement or a
  refresh of the rollups changes it, and the next reader computes it anew); a store that cannot
  say when its data changed reuses nothing.
- :func:`latest` (stale-while-revalidate) keeps the last answer per key whatever the state.
  While the state it was computed under holds it is current; once data arrives it is still
  served at once, as a :class:`Kept` that says when it was computed and that a refresh is
  running, and one refresh per key computes the new answer in a background thread, which the
  next reader gets. Only the very first answer for a key is computed while the reader waits,
  and the analysis computes the adoption page's first answers itself
  (:func:`~daytwo.adoption.plugin.after_analysis`), as does a server soon after it starts
  (:class:`~daytwo.adoption.served.PrepareAfterStart`), so a page read after either never
  waits for them.

The answers are the same objects a fresh computation gives; they must not be mutated.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

from daytwo.store.events import EventStore

log = logging.getLogger("daytwo.adoption")

T = TypeVar("T")
KEPT = 32  # answers kept per store (periods, deployments, asked lately)
LATEST_KEPT = 64  # latest answers kept per store (keys: page, section, period asked for)

_lock = threading.Lock()
_kept: weakref.WeakKeyDictionary[EventStore, OrderedDict[Hashable, Any]] = (
    weakref.WeakKeyDictionary()
)


def remembered(events: EventStore, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or the answer it gave for ``key`` while the store's data is unchanged."""
    state = events.data_state()
    if state is None:
        return compute()
    full = (key, state)
    with _lock:
        kept = _kept.setdefault(events, OrderedDict())
        if full in kept:
            kept.move_to_end(full)
            return cast(T, kept[full])
    answer = compute()
    with _lock:
        kept = _kept.setdefault(events, OrderedDict())
        kept[full] = answer
        while len(kept) > KEPT:
            kept.popitem(last=False)
    return answer


@dataclass(frozen=True, slots=True)
class Kept(Generic[T]):
    """An answer and how current it is: ``computed_at`` (UTC); ``stale`` when data arrived
    (or what it also depends on changed) since; ``refreshing`` while a newer one is being
    computed."""

    answer: T
    computed_at: datetime
    stale: bool = False
    refreshing: bool = False


@dataclass(slots=True)
class _Entry:
    state: Hashable
    answer: Any
    computed_at: datetime


_latest: weakref.WeakKeyDictionary[EventStore, OrderedDict[Hashable, _Entry]] = (
    weakref.WeakKeyDictionary()
)
_running: dict[tuple[int, Hashable], Future[None]] = {}
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="daytwo-adoption-refresh")


def _state(events: EventStore, also: Hashable) -> Hashable | None:
    state = events.data_state()
    return None if state is None else (state, also)


def _store(events: EventStore, key: Hashable, state: Hashable, answer: Any) -> _Entry:
    entry = _Entry(state, answer, datetime.now(UTC))
    with _lock:
        kept = _latest.setdefault(events, OrderedDict())
        kept[key] = entry
        kept.move_to_end(key)
        while len(kept) > LATEST_KEPT:
            kept.popitem(last=False)
    return entry


def latest(
    events: EventStore, key: Hashable, compute: Callable[[], T], *, also: Hashable = None
) -> Kept[T]:
    """The answer for ``key``: the current one; else the last one, at once, while one
    background refresh computes the next; else (never computed) ``compute()`` now.

    ``also`` is what the answer depends on besides the events (a fingerprint of the ledger
    rows it reads): a change to it makes the kept answer stale like new data does."""
    state = _state(events, also)
    if state is None:
        return Kept(compute(), datetime.now(UTC))
    with _lock:
        entry = _latest.get(events, OrderedDict()).get(key)
    if entry is None:
        entry = _store(events, key, state, compute())
        return Kept(cast(T, entry.answer), entry.computed_at)
    if entry.state == state:
        return Kept(cast(T, entry.answer), entry.computed_at)
    return Kept(
        cast(T, entry.answer),
        entry.computed_at,
        stale=True,
        refreshing=_refresh(events, key, compute, also),
    )


def current(events: EventStore, key: Hashable, *, also: Hashable = None) -> bool:
    """Whether the answer kept for ``key`` is current (computed under the store's data state
    and ``also`` as they are now)."""
    state = _state(events, also)
    if state is None:
        return False
    with _lock:
        entry = _latest.get(events, OrderedDict()).get(key)
    return entry is not None and entry.state == state


def warm(
    events: EventStore, key: Hashable, compute: Callable[[], T], *, also: Hashable = None
) -> T:
    """Compute the answer for ``key`` now and keep it as the latest (the analysis does this
    for the adoption page, so that no reader waits for the first answer)."""
    state = _state(events, also)
    answer = compute()
    if state is not None:
        _store(events, key, state, answer)
    return answer


def _refresh(events: EventStore, key: Hashable, compute: Callable[[], Any], also: Hashable) -> bool:
    """Start the background refresh of ``key`` unless one is running; True when one is."""
    ref = weakref.ref(events)
    slot = (id(events), key)

    def run() -> None:
        store = ref()
        try:
            if store is not None:
                # The state before computing: data arriving meanwhile leaves it stale.
                state = _state(store, also)
                answer = compute()
                if state is not None:
                    _store(store, key, state, answer)
        except Exception:
            log.exception("refreshing the adoption answer %r failed; the last one is served", key)
        finally:
            with _lock:
                _running.pop(slot, None)

    with _lock:
        if slot in _running:
            return True
        future: Future[None] = Future()
        _running[slot] = future
    try:
        task = _pool.submit(run)
    except RuntimeError:  # the interpreter is shutting down
        with _lock:
            _running.pop(slot, None)
        return False
    task.add_done_callback(lambda _: future.set_result(None))
    return True


_readers: weakref.WeakKeyDictionary[EventStore, int] = weakref.WeakKeyDictionary()


def add_readers(events: EventStore) -> None:
    """Say that an app in this process serves readers from ``events`` (from its start to its
    end; apps sharing a store each say so): answers prepared for the store will be read."""
    with _lock:
        _readers[events] = _readers.get(events, 0) + 1


def drop_readers(events: EventStore) -> None:
    """An app that said :func:`add_readers` has stopped."""
    with _lock:
        left = _readers.get(events, 0) - 1
        if left > 0:
            _readers[events] = left
        else:
            _readers.pop(events, None)


def has_readers(events: EventStore) -> bool:
    """Whether an app in this process serves readers from ``events``; a one-shot analysis
    (``daytwo analyze`` with no server, the demo build) has none, and answers prepared for it
    would go unread."""
    with _lock:
        return events in _readers


def settle(timeout: float = 60.0) -> None:
    """Wait for the background refreshes running now (tests and benchmarks)."""
    with _lock:
        running = list(_running.values())
    for f in running:
        f.result(timeout=timeout)


def forget(events: EventStore) -> None:
    """Drop every answer kept for ``events`` (tests compare fresh and kept answers)."""
    settle()
    with _lock:
        _kept.pop(events, None)
        _latest.pop(events, None)
