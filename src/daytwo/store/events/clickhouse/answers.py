"""Answers over the derived tables, reused until the derived tables change (ClickHouse).

In ``serve`` the derived tables are read as last refreshed (see
:class:`~daytwo.store.events.refresher.DerivedRefresher`), so a page asks the same small
questions of them (a rollup summed over 28 days, a quantile from the counted values) many times
between two refreshes, and each answer is the same every time. On ClickHouse each of them is a
round trip (chDB runs one statement at a time): a page that asks 20 of them and checks which
rollups are built before each spent most of its time on round trips, not on reading.

What a reader of the derived tables sees is fixed by two bookkeeping tables: which definition
each derived table is built at (``derived_state``) and which refresh of each day is current
(``derived_days``): every refresh, by any process, records its days there once its rows are in.
A :class:`DerivedState` is one read of both, its ``token`` a digest of what they hold (read
with ``FINAL``, so a merge of their parts does not change it). Answers computed under a token
are reused while the token holds; the token is read again at most every ``keep_s`` seconds, and
at once after this process refreshes. Another process's refresh is therefore seen within
``keep_s`` seconds, well within how far behind ``serve`` already lets the derived tables be.
"""

# Table names here are module constants.
# ruff: noqa: S608

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from daytwo.errors import StoreError
from daytwo.store.events.clickhouse import derived as ch_derived
from daytwo.store.events.clickhouse.transport import Transport

# How long a read of the bookkeeping is trusted before it is read again.
KEEP_S = 1.0
# Answers kept (a page's worth, many times), and how recently one must have been asked for to
# be computed anew after a refresh of this process.
ANSWERS_KEPT = 512
ANSWERS_WARM_S = 120.0

_STATE_SQL = f"SELECT name, version, built FROM {ch_derived.STATE} FINAL ORDER BY name, built"
_PENDING_SQL = f"SELECT count() AS n FROM {ch_derived.CHANGED}"
_DAYS_SQL = (
    "SELECT count() AS n, groupBitXor(cityHash64(name, deployment, day, "
    f"{ch_derived.REFRESH})) AS h, max({ch_derived.REFRESH}) AS latest FROM {ch_derived.DAYS} FINAL"
)


@dataclass(frozen=True, slots=True)
class DerivedState:
    """One read of the derived tables' bookkeeping: the definition each table is built at, how
    many changed days wait for a refresh, and a token that changes whenever what a reader of
    the derived tables sees may change (a write alone does not: its days wait)."""

    built: dict[str, str]
    pending: int
    token: Hashable


def read_state(transport: Transport) -> DerivedState:
    """Read the bookkeeping (three small statements)."""
    state = transport.query(_STATE_SQL).to_pylist()
    pending = int(transport.query(_PENDING_SQL)["n"][0].as_py() or 0)
    days = transport.query(_DAYS_SQL).to_pylist()[0]
    built = {r["name"]: r["version"] for r in state}
    token = (
        tuple((r["name"], r["version"], int(r["built"])) for r in state),
        int(days["n"] or 0),
        int(days["h"] or 0),
        int(days["latest"] or 0),
    )
    return DerivedState(built, pending, token)


class DerivedAnswers:
    """The bookkeeping as last read, and the answers computed under it."""

    def __init__(self, transport: Transport, keep_s: float = KEEP_S) -> None:
        self._transport = transport
        self._keep_s = keep_s
        self._lock = threading.Lock()
        self._state: DerivedState | None = None
        self._read_at = 0.0
        # (sql, params…) -> (token, answer, last asked)
        self._answers: OrderedDict[tuple[Any, ...], tuple[Hashable, pa.Table, float]] = (
            OrderedDict()
        )

    def state(self) -> DerivedState:
        """The bookkeeping, read again if the last read is older than ``keep_s``."""
        now = time.monotonic()
        with self._lock:
            if self._state is not None and now - self._read_at < self._keep_s:
                return self._state
        state = read_state(self._transport)
        with self._lock:
            self._state, self._read_at = state, now
        return state

    def forget_state(self) -> None:
        """This process changed the bookkeeping (built or refreshed a table): read it anew."""
        with self._lock:
            self._state = None

    def answer(self, key: tuple[Any, ...], compute: Callable[[], pa.Table]) -> pa.Table:
        """The answer to ``key``: reused if computed under the current token, else computed."""
        token = self.state().token
        now = time.monotonic()
        with self._lock:
            known = self._answers.get(key)
            if known is not None and known[0] == token:
                self._answers[key] = (token, known[1], now)
                self._answers.move_to_end(key)
                return known[1]
        answer = compute()
        with self._lock:
            self._answers[key] = (token, answer, now)
            self._answers.move_to_end(key)
            while len(self._answers) > ANSWERS_KEPT:
                self._answers.popitem(last=False)
        return answer

    def renew(self, compute: Callable[[tuple[Any, ...]], pa.Table]) -> None:
        """After this process refreshed: read the bookkeeping, and compute anew the answers
        asked for lately, so the next page finds them ready."""
        self.forget_state()
        token = self.state().token
        horizon = time.monotonic() - ANSWERS_WARM_S
        with self._lock:
            recent = [
                (k, used)
                for k, (old, _, used) in self._answers.items()
                if used >= horizon and old != token
            ]
        for key, used in recent:
            try:
                answer = compute(key)
            except StoreError:  # a table rebuilt under another shape: asked for afresh
                continue
            with self._lock:
                self._answers[key] = (token, answer, used)
