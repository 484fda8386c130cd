"""What a detector receives: one deployment's data for one analysis, as Arrow tables.

The runner (``runner.py``) fills an :class:`AnalysisData` from the stores; detectors only read
it. Golden cases build one by hand with :func:`analysis_data`, so every detector can be
checked on a few rows without a database.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import numpy as np
import pyarrow as pa

from daytwo.interactions.columns import ASSIST_EVENTS, TURNS
from daytwo.store.events.base import DELIVERIES, STORED_INTERACTIONS


@dataclass(frozen=True, slots=True)
class Window:
    """The baseline period and the current period of an analysis (half-open intervals).

    ``baseline`` is what "normal" means (the deployment's baseline window); ``current`` is
    what is being judged (by default the last 7 days up to ``current_end``).
    """

    baseline_start: datetime
    baseline_end: datetime
    current_start: datetime
    current_end: datetime

    def __post_init__(self) -> None:
        if self.baseline_end <= self.baseline_start or self.current_end <= self.current_start:
            raise ValueError("a window must end after it starts")

    @property
    def current_days(self) -> float:
        return (self.current_end - self.current_start) / timedelta(days=1)

    @property
    def baseline_days(self) -> float:
        return (self.baseline_end - self.baseline_start) / timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DeploymentInfo:
    """The ledger facts a detector may use: name, kind and KPI targets by metric id."""

    name: str
    kind: str = "virtual_agent"
    targets: Mapping[str, float] = field(default_factory=dict)
    # The deployment's stored conversations when the analysis began, where it knows them (the
    # store's volumes): at least those of any span it reads then, so a read in runs of days
    # (``EngineRead.chunk``) that they all fit in is made in one query without counting its
    # days first. Not part of the deployment's identity.
    interactions: int | None = field(default=None, compare=False)


INTERACTIONS_OF_SPAN = "{interactions}"
SPAN_START = "{span_start}"
SPAN_END = "{span_end}"
DAY_US = 86_400_000_000


def days_before_end_sql(column: str) -> str:
    """SQL: the whole days between ``column`` and the span's end, counted back (0 for the
    last day before it), as the ``ago`` of an engine read cut by days."""
    return (
        f"CAST(floor((date_diff('microsecond', {column}, {SPAN_END}) - 1) / {DAY_US}.0) AS BIGINT)"
    )


@dataclass(frozen=True, slots=True)
class EngineRead:
    """A table the events engine computes for a detector, so that the analysis does not hold
    the raw rows it comes from (a detector asks for it in its ``Needs``).

    ``sql`` is one SELECT, in the portable dialect of :mod:`daytwo.store.events`, over the
    relation :data:`INTERACTIONS_OF_SPAN` (written ``{interactions}``): the deployment's
    interactions started in the read's span, with their ``interaction_id``, ``agent_ref`` and
    ``started_at``; it may join the deployment's other tables to it (their ``deployment =
    ?`` bound to the deployment each time the SQL writes ``?``, in order, outside that
    relation). The span is the analysis's (``days`` None) or its last ``days`` days; the SQL
    may also name its bounds, :data:`SPAN_START` and :data:`SPAN_END` (written
    ``{span_start}`` and ``{span_end}``, each bound as a timestamp), to read the table itself
    without the relation.

    ``cut`` names the column by which the rows of a longer history are cut for one look
    (:func:`daytwo.detect.runner.look_at`): ``started_at`` (a row per event or conversation,
    carrying its conversation's start: always exact) or ``day`` (rows grouped by the UTC day of
    the conversation's start: exact for looks whose span starts and ends at midnight or where
    the history's does) or ``ago`` (rows grouped by whole days before the span's end, counted
    back from it in an ``ago`` column, 0 for the last 24 hours: exact for looks that end a
    whole number of days before the history's end and start on its grid of days or where the
    history starts) or ``look`` (rows that depend on the whole span, a sample of it say: a
    history reads it once per look, over that look's own span, and cuts nothing).

    ``windows``: the read covers only the conversations started in the analysis's baseline
    window or from its current period's start on (the relation leaves out those started
    between the two, :meth:`gap`), for a detector that compares the two windows alone; its
    ``cut`` must be ``started_at``, or ``ago`` for a read whose rows carry ``started_at`` and
    which the detector cuts to the windows itself, every row a single conversation's or of a
    group the gap's edges never split (a history's read of days before its end is read whole,
    without the gap).

    ``from_rows`` computes the same table from an :class:`AnalysisData`'s raw rows (its
    interactions and assist events): what golden cases built by hand give the detector, and
    what the equality tests hold the engine's answer to.

    ``only_if``: the read is made only while this says so; otherwise the engine answers its
    columns with no row without reading a table (the validators' sample, say, which nothing
    reads while no validator is registered). It is asked each time the read is made.

    ``chunk``: the read is made a run of whole days before the span's end at a time, each run
    holding about this many conversations at most (a day that holds more is a run of its own),
    and its rows put together, each run's ``ago`` counted on from the span's end: the engine's
    working memory then follows a run's conversations, not the span's (a read over every turn
    of the span grew with the traffic). Only for a read cut ``ago`` whose rows each belong to
    one day before the end and are worked out from the conversations of that day alone (no
    group spans two days, no row depends on another day's conversations); the rows come
    oldest run first, in each run's own order.
    """

    name: str
    sql: str
    cut: Literal["started_at", "day", "ago", "look"]
    from_rows: Callable[[AnalysisData], pa.Table]
    days: int | None = None
    windows: bool = False
    only_if: Callable[[], bool] | None = None
    chunk: int | None = None

    def __post_init__(self) -> None:
        if self.windows and self.cut == "day":
            raise ValueError(f"engine read {self.name!r}: a read of the windows is cut by start")
        if self.chunk is not None and (self.cut != "ago" or self.chunk < 1):
            raise ValueError(
                f"engine read {self.name!r}: only a read cut by days before the end is read "
                "in runs of days, each of at least one conversation"
            )

    def gap(self, window: Window) -> tuple[datetime, datetime] | None:
        """The conversations' starts a read of the windows leaves out: from the end of the
        baseline window to the current period's start (None: none, or not such a read)."""
        if not self.windows or window.baseline_end >= window.current_start:
            return None
        return window.baseline_end, window.current_start

    def span(self, window: Window, history_start: datetime) -> tuple[datetime, datetime]:
        """The conversations' starts the read covers for one analysis."""
        end = window.current_end
        if self.days is None:
            return history_start, end
        return max(history_start, end - timedelta(days=self.days)), end


T = TypeVar("T")


class Memo:
    """Answers kept across the looks cut out of one read of the events (a
    :class:`~daytwo.detect.runner.History`: a replay's or a backfill's run of daily looks).

    The rows of that read never change, so a part of an answer that depends only on some of
    them (a whole day's aggregates, say) is the same in every look that holds exactly those
    rows: the first look computes it, the others take it. A key must therefore name the rows
    the part was computed from, not only the day: a look whose span starts or ends inside a
    day holds part of it. A look holds the read's rows of a span of time, so its rows of one
    day are named by the day and the first and last start among them (:func:`day_runs`). A
    new read (after a write, say) has a new memo, so nothing computed from older rows is
    ever reused; a look read alone has none."""

    __slots__ = ("_kept", "_lock", "hits", "misses")

    def __init__(self) -> None:
        self._kept: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The answer kept under ``key``, else ``compute()``'s, kept."""
        with self._lock:
            if key in self._kept:
                self.hits += 1
                return self._kept[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self.misses += 1
            self._kept.setdefault(key, value)
        return value

    def __len__(self) -> int:
        return len(self._kept)


def day_runs(started_us: np.ndarray) -> list[tuple[int, int, int]]:
    """The runs of rows of one UTC day in rows ordered by their start (microseconds since the
    epoch): ``(day, first row, rows)`` each, day as days since the epoch."""
    starts = np.asarray(started_us, dtype=np.int64)
    if not len(starts):
        return []
    days = starts // DAY_US
    edges = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
    return [(int(days[a]), a, b - a) for a, b in itertools.pairwise(edges)]


@dataclass(frozen=True, slots=True)
class AnalysisData:
    """One deployment's rows for an analysis.

    - ``interactions``: one row per interaction started from ``history_start`` to
      ``window.current_end``, with the stored columns and their facts
      (:data:`daytwo.store.events.base.STORED_INTERACTIONS`);
    - ``turns``: the turns of those interactions, ordered by interaction and ``seq``, with the
      columns the registered detectors asked for (always ``interaction_id`` and ``seq``);
    - ``deliveries``: the deliveries log of those interactions (every copy received);
    - ``assist_events``: the assist events of those interactions (agent-assist suggestions
      shown and acted on), for the detectors that ask for them;
    - ``reads``: the tables the engine computed for the detectors' :class:`EngineRead`\\ s, by
      name (see :meth:`read`);
    - ``memo``: answers kept across the looks cut out of the same read (:class:`Memo`).
    """

    deployment: DeploymentInfo
    window: Window
    interactions: pa.Table
    turns: pa.Table
    deliveries: pa.Table
    assist_events: pa.Table = field(default_factory=ASSIST_EVENTS.empty_table)
    reads: Mapping[str, pa.Table] = field(default_factory=dict)
    # Where the look was cut out of one read of several looks, that read's answers kept
    # across its looks (:class:`Memo`); None for a look read alone or built by hand.
    memo: Memo | None = field(default=None, compare=False, repr=False)

    @property
    def history_start(self) -> datetime:
        return min(self.window.baseline_start, self.window.current_start)

    def read(self, what: EngineRead) -> pa.Table:
        """The table ``what`` names: as the engine computed it where the runner read it, else
        computed from this data's rows (hand-built data)."""
        found = self.reads.get(what.name)
        return what.from_rows(self) if found is None else found


def analysis_data(
    deployment: DeploymentInfo | str,
    window: Window,
    interactions: list[dict[str, object]] | pa.Table,
    turns: list[dict[str, object]] | pa.Table | None = None,
    deliveries: list[dict[str, object]] | pa.Table | None = None,
    assist_events: list[dict[str, object]] | pa.Table | None = None,
) -> AnalysisData:
    """An :class:`AnalysisData` from rows (dicts), missing columns filled with nulls.

    For golden cases and tests: a row only names the columns it cares about.
    """
    info = DeploymentInfo(deployment) if isinstance(deployment, str) else deployment
    return AnalysisData(
        deployment=info,
        window=window,
        interactions=_table(interactions, STORED_INTERACTIONS, info.name),
        turns=_table(turns or [], TURNS, info.name),
        deliveries=_table(deliveries or [], DELIVERIES, info.name),
        assist_events=_table(assist_events or [], ASSIST_EVENTS, info.name),
    )


def _table(rows: list[dict[str, object]] | pa.Table, schema: pa.Schema, name: str) -> pa.Table:
    if isinstance(rows, pa.Table):
        return rows
    columns: dict[str, list[object]] = {f.name: [] for f in schema}
    for row in rows:
        unknown = set(row) - set(columns)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)} for {schema.names[:3]}…")
        for f in schema:
            default: object = name if f.name == "deployment" else None
            columns[f.name].append(row.get(f.name, default))
    return pa.table(columns, schema=schema)
