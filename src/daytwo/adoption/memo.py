"""Answers the adoption pages reuse while the events they were computed from stay the same.

The per-agent tests behind "who stopped" read a quarter of a year of per-agent rollups and test
every agent against their own baseline: the slowest part of ``/adoption``, and the same answer
for every reader until data arrives. :func:`remembered` keeps such an answer per events store,
keyed by what it was asked and by the store's :meth:`~daytwo.store.events.EventStore.data_state`
(a write, a retirement or a refresh of the rollups changes it, and the next reader computes it
anew); a store that cannot say when its data changed reuses nothing. The answers are the same
objects a fresh computation gives, so nothing shown changes; they must not be mutated.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from daytwo.store.events import EventStore

T = TypeVar("T")
KEPT = 32  # answers kept per store (periods, deployments, asked lately)

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


def forget(events: EventStore) -> None:
    """Drop every answer kept for ``events`` (tests compare fresh and kept answers)."""
    with _lock:
        _kept.pop(events, None)
