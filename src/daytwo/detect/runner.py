"""Running the detectors: load one deployment's data, run each detector, record findings.

This is one step of an analysis; which deployments and days are analysed, and what happens to
the findings afterwards, is the analysis pipeline's business (:mod:`daytwo.pipeline`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.clock import aware
from daytwo.deployments.schemas import DeploymentPublic
from daytwo.detect import service
from daytwo.detect.cells import READ_SEGMENT_KEYS, with_segment_columns
from daytwo.detect.data import (
    INTERACTIONS_OF_SPAN,
    SPAN_END,
    SPAN_START,
    AnalysisData,
    DeploymentInfo,
    EngineRead,
    Memo,
    Window,
    days_before_end_sql,
)
from daytwo.detect.findings import Finding
from daytwo.detect.registry import Detector, Needs
from daytwo.detect.roots import with_roots
from daytwo.interactions.columns import ASSIST_EVENTS, TURNS
from daytwo.metrics.service import baseline_window
from daytwo.store.events import EventStore
from daytwo.store.events.base import STORED_INTERACTIONS
from daytwo.store.events.columns import column_us, epoch_us
from daytwo.store.ledger import Ledger

CURRENT_DAYS = 7
# Interactions read for trends: this many weeks before the end of the analysis.
HISTORY_WEEKS = 8
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DetectorRun:
    """One recorded run of the detectors over one deployment and window."""

    run_id: int
    findings: list[Finding]
    recorded: service.Recorded
    interactions: int
    # What the detectors found, before the ledger held any (the same look again can reuse it).
    detected: Detected | None = None


def analysis_window(
    deployment: DeploymentPublic | None, first_data: datetime, as_of: datetime
) -> Window | None:
    """The baseline window and the last :data:`CURRENT_DAYS` days up to ``as_of``."""
    base = baseline_window(deployment, first_data)
    if base is None:
        return None
    current_start = as_of - timedelta(days=CURRENT_DAYS)
    if current_start < base[1]:
        # Too early: the current period would overlap the baseline.
        return None
    return Window(base[0], base[1], current_start, as_of)


def load_data(
    events: EventStore, info: DeploymentInfo, window: Window, needs: Sequence[Needs]
) -> AnalysisData:
    """Read what the detectors need for one deployment and one window."""
    history_start, recent = _spans(window, needs)
    wanted = _turn_columns(needs)
    interactions = _read_interactions(events, info, history_start, window.current_end)
    if wanted:
        turns = _read_turns(
            events, info, wanted,
            # Turns of the baseline and current windows, and of the last ``turn_days`` where a
            # detector judges more days than the current window.
            "(started_at >= ? AND started_at < ?) OR (started_at >= ? AND started_at < ?)",
            [window.baseline_start, window.baseline_end, recent, window.current_end],
        )  # fmt: skip
    else:
        turns = TURNS.empty_table().select(["interaction_id", "seq"])
    deliveries = _read_deliveries(events, info, history_start, window.current_end, needs)
    assist = _read_assist(events, info, history_start, window.current_end, needs)
    reads = {
        r.name: _engine_read(events, info, r, *r.span(window, history_start), r.gap(window))
        for r in engine_reads(needs).values()
    }
    return AnalysisData(
        info, window, with_segment_columns(interactions), turns, deliveries, assist, reads
    )


@dataclass(frozen=True, slots=True)
class History:
    """One deployment's events read once for several looks (a replay day by day, a backfill):
    every interaction started from ``start`` to ``end`` with all its turns (the columns the
    detectors need), deliveries and assist events. :func:`look_at` cuts out of it exactly what
    :func:`load_data` reads for one window, so a run of daily looks reads the store once
    instead of once a day."""

    info: DeploymentInfo
    start: datetime
    end: datetime
    needs: tuple[Needs, ...]
    interactions: pa.Table
    turns: pa.Table
    deliveries: pa.Table
    assist_events: pa.Table
    # The engine reads (:class:`EngineRead`) of ``needs`` over the whole history, by name; a
    # read grouped by days before its end (cut ``ago``) once per time of day the looks end at,
    # by :func:`_ago_key`, up to the last look that ends then (its end in ``ago_ends``).
    reads: dict[str, pa.Table]
    ago_ends: dict[str, datetime] = field(default_factory=dict)
    # Where a read of the last days (its ``days`` set) starts, by name: the earliest of the
    # looks' spans, not the history's start (the looks need no more of it); and where a read
    # grouped by days before its end that a longer run's groups share starts, by its key.
    read_starts: dict[str, datetime] = field(default_factory=dict)
    # The starts a read of the windows (``windows`` set) leaves out, by name: between the
    # looks' latest baseline end and their earliest current period.
    read_gaps: dict[str, tuple[datetime, datetime] | None] = field(default_factory=dict)
    # What the detectors keep across the looks cut out of this read (its rows never change).
    memo: Memo = field(default_factory=Memo, compare=False, repr=False)
    # When the interaction of each turn, delivery and assist event started (microseconds since
    # the epoch; -1 for none read), joined once for the history: a look selects their rows by
    # its windows with a comparison instead of looking its interaction ids up again.
    turn_started: np.ndarray = field(init=False, repr=False)
    delivery_started: np.ndarray = field(init=False, repr=False)
    assist_started: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ids = self.interactions["interaction_id"]
        started = column_us(self.interactions["started_at"]) if self.interactions.num_rows else None
        for name, table in (
            ("turn_started", self.turns),
            ("delivery_started", self.deliveries),
            ("assist_started", self.assist_events),
        ):
            at = np.full(table.num_rows, -1, dtype=np.int64)
            if table.num_rows and started is not None:
                row = pc.index_in(table["interaction_id"], value_set=ids)
                row_np = np.asarray(pc.fill_null(row, -1).to_numpy(zero_copy_only=False))
                found = row_np >= 0
                at[found] = started[row_np[found]]
            object.__setattr__(self, name, at)

    def covers(self, window: Window, needs: Sequence[Needs]) -> bool:
        """Whether the history holds what :func:`load_data` reads for ``window`` and
        ``needs``: its span, and needs no more than those it was read for (a look that runs
        fewer detectors, such as one where a weekly detector is not due, is cut from it)."""
        history_start, _ = _spans(window, needs)
        return (
            _within(needs, self.needs)
            and self.start <= history_start
            and window.current_end <= self.end
            and all(
                _midnight(s, self.start) and _midnight(e, self.end)
                for r in engine_reads(needs).values()
                if r.cut == "day"
                for s, e in [r.span(window, history_start)]
            )
            and all(
                (anchor := self.ago_ends.get(_ago_key(r.name, e))) is not None
                and _on_grid(e, anchor)
                and (
                    s == self.read_starts.get(_ago_key(r.name, e), self.start)
                    or _on_grid(s, anchor)
                )
                for r in engine_reads(needs).values()
                if r.cut == "ago"
                for s, e in [r.span(window, history_start)]
            )
            and all(
                _look_key(r.name, *r.span(window, history_start)) in self.reads
                for r in engine_reads(needs).values()
                if r.cut == "look"
            )
            and all(
                r.span(window, history_start)[0] >= self.read_starts.get(r.name, self.start)
                for r in engine_reads(needs).values()
                if r.cut not in ("ago", "look")
            )
            and all(
                (held := self.read_gaps.get(r.name)) is None
                or ((gap := r.gap(window)) is not None and gap[0] <= held[0] and held[1] <= gap[1])
                for r in engine_reads(needs).values()
                if r.windows
            )
        )


def _within(needs: Sequence[Needs], read: Sequence[Needs]) -> bool:
    """Whether what ``needs`` asks for is part of what was read for ``read``."""
    return (
        set(_turn_columns(needs)) <= set(_turn_columns(read))
        and (not any(n.deliveries for n in needs) or any(n.deliveries for n in read))
        and (not any(n.assist_events for n in needs) or any(n.assist_events for n in read))
        and max((n.turn_days for n in needs), default=0)
        <= max((n.turn_days for n in read), default=0)
        and set(engine_reads(needs)) <= set(engine_reads(read))
    )


def _midnight(at: datetime, edge: datetime) -> bool:
    """Whether rows grouped by day cut exactly at ``at``: a UTC midnight, or the history's own
    ``edge`` (its first or last day holds exactly what a read from or to ``at`` holds)."""
    return at == edge or _utc(at).time() == time()


def _ago_key(name: str, end: datetime) -> str:
    """Where a history keeps read ``name`` grouped by days before ``end``: one per time of day
    (looks ending at midnight share one; the last look, ending mid-day, has its own)."""
    return f"{name}@{epoch_us(end) % (24 * 3600 * 1_000_000)}"


def _look_key(name: str, start: datetime, end: datetime) -> str:
    """Where a history keeps read ``name`` (cut ``look``) of one look's span."""
    return f"{name}@{epoch_us(start)}-{epoch_us(end)}"


def _on_grid(at: datetime, end: datetime) -> bool:
    """Whether ``at`` is a whole number of days before ``end`` (rows grouped by whole days
    before ``end`` cut exactly there)."""
    return at <= end and (_utc(end) - _utc(at)) % timedelta(days=1) == timedelta(0)


def engine_reads(needs: Sequence[Needs]) -> dict[str, EngineRead]:
    """The engine reads ``needs`` ask for, once each, by name."""
    out: dict[str, EngineRead] = {}
    for n in needs:
        for r in n.reads:
            if out.setdefault(r.name, r) != r:
                raise ValueError(f"two different engine reads are named {r.name!r}")
    return out


def engine_read(
    events: EventStore, deployment: str, read: EngineRead, start: datetime, end: datetime
) -> pa.Table:
    """``read``'s table for ``deployment``'s conversations started in ``[start, end)`` (for a
    reader outside an analysis, such as the gaps' refresh)."""
    return _engine_read(events, DeploymentInfo(deployment), read, start, end)


def _engine_read(
    events: EventStore,
    info: DeploymentInfo,
    read: EngineRead,
    start: datetime,
    end: datetime,
    gap: tuple[datetime, datetime] | None = None,
) -> pa.Table:
    """``read``'s table for ``info``'s conversations started in ``[start, end)``, less those
    started in ``gap`` (a read with a ``chunk`` made a run of days at a time)."""
    # Where every conversation of the deployment fits in one run, the runs are not counted.
    known = info.interactions
    fits = known is not None and read.chunk is not None and known <= read.chunk
    if read.chunk is not None and not fits and (read.only_if is None or read.only_if()):
        runs = _day_runs(events, info, read.chunk, start, end, gap)
        if len(runs) > 1:
            parts = []
            for first, after in runs:
                part = _engine_read_once(
                    events, info, read, max(start, end - first), end - after, gap
                )
                if after:
                    at = part.column_names.index("ago")
                    ago = pc.add(part["ago"], pa.scalar(after // timedelta(days=1), pa.int64()))
                    part = part.set_column(at, "ago", ago.cast(part.schema.field("ago").type))
                parts.append(part)
            return pa.concat_tables(parts)
    return _engine_read_once(events, info, read, start, end, gap)


def _day_runs(
    events: EventStore,
    info: DeploymentInfo,
    most: int,
    start: datetime,
    end: datetime,
    gap: tuple[datetime, datetime] | None,
) -> list[tuple[timedelta, timedelta]]:
    """The runs of whole days before ``end`` that a read in chunks of ``most`` conversations is
    made over, oldest first: ``(from, to)`` before ``end`` each (the first run from ``start``
    however far back it is, the last to ``end``), each holding at most ``most`` of the
    conversations started in ``[start, end)`` (less ``gap``) or a single day."""
    where = "deployment = ? AND started_at >= ? AND started_at < ?"
    params: list[Any] = [end, info.name, start, end]
    if gap is not None:
        where += " AND (started_at < ? OR started_at >= ?)"
        params += list(gap)
    ago = days_before_end_sql("started_at").replace(SPAN_END, "CAST(? AS TIMESTAMP)")
    counts = events.query(
        f"SELECT ago, CAST(count(*) AS BIGINT) AS n FROM (SELECT {ago} AS ago "  # noqa: S608
        f"FROM interactions WHERE {where}) c GROUP BY ago ORDER BY ago DESC",
        params,
    )
    groups: list[list[int]] = []
    held = 0
    for days, n in zip(counts["ago"].to_pylist(), counts["n"].to_pylist(), strict=True):
        if groups and held + n <= most:
            groups[-1].append(days)
            held += n
        else:
            groups.append([days])
            held = n
    day = timedelta(days=1)
    # Each run from its oldest day's start (the first from ``start``) to the next run's.
    return [
        (
            end - start if i == 0 else (g[0] + 1) * day,
            (groups[i + 1][0] + 1) * day if i + 1 < len(groups) else timedelta(0),
        )
        for i, g in enumerate(groups)
    ]


def _engine_read_once(
    events: EventStore,
    info: DeploymentInfo,
    read: EngineRead,
    start: datetime,
    end: datetime,
    gap: tuple[datetime, datetime] | None = None,
) -> pa.Table:
    """:func:`_engine_read` in one query."""
    where = "deployment = ? AND started_at >= ? AND started_at < ?"
    if gap is not None:
        where += " AND (started_at < ? OR started_at >= ?)"
    interactions = f"(SELECT interaction_id, agent_ref, started_at FROM interactions WHERE {where})"  # noqa: S608
    span: list[Any] = [info.name, start, end, *(gap or ())]
    params: list[Any] = []
    sql = []
    # Each placeholder bound in the order it is written: the relation's deployment and span,
    # a bound of the span, or the deployment where the SQL writes ``?``.
    for piece in _PLACEHOLDERS.split(read.sql):
        if piece == INTERACTIONS_OF_SPAN:
            sql.append(interactions)
            params += span
        elif piece in (SPAN_START, SPAN_END):
            sql.append("CAST(? AS TIMESTAMP)")
            params.append(start if piece == SPAN_START else end)
        elif piece == "?":
            sql.append(piece)
            params.append(info.name)
        else:
            sql.append(piece)
    text = "".join(sql)
    if read.only_if is None or read.only_if():
        return events.query(text, params)
    # The same columns, no row: asked of the engine once (a LIMIT 0 reads no table, but is
    # planned each time, about 8 ms), then kept.
    key = (read.name, type(events).__name__)
    if (empty := _UNWANTED.get(key)) is None:
        empty = _UNWANTED[key] = events.query(
            f"SELECT * FROM ({text}) AS unwanted LIMIT 0",  # noqa: S608
            params,
        )
    return empty


# The empty answer of each engine read an analysis did not want (by read and engine).
_UNWANTED: dict[tuple[str, str], pa.Table] = {}


_PLACEHOLDERS = re.compile(
    "(" + "|".join(re.escape(p) for p in (INTERACTIONS_OF_SPAN, SPAN_START, SPAN_END, "?")) + ")"
)


def _cut_read(
    read: EngineRead,
    table: pa.Table,
    start: datetime,
    end: datetime,
    history_end: datetime,
    gap: tuple[datetime, datetime] | None = None,
) -> pa.Table:
    """The rows of a history's ``table`` for conversations started in ``[start, end)``, less
    those started in ``gap`` (:meth:`History.covers` made sure rows grouped by day cut
    exactly there)."""
    if read.cut == "started_at":
        at = table["started_at"]
        keep = pc.and_(pc.greater_equal(at, pa.scalar(start)), pc.less(at, pa.scalar(end)))
        if gap is not None:
            outside = pc.or_(
                pc.less(at, pa.scalar(gap[0])), pc.greater_equal(at, pa.scalar(gap[1]))
            )
            keep = pc.and_(keep, outside)
    elif read.cut == "ago":
        shift = (_utc(history_end) - _utc(end)) // timedelta(days=1)
        span = -((_utc(start) - _utc(end)) // timedelta(days=1))  # days, the first one partial
        ago = pc.subtract(table["ago"], pa.scalar(shift, pa.int64()))
        keep = pc.and_(
            pc.greater_equal(ago, pa.scalar(0, pa.int64())),
            pc.less(ago, pa.scalar(span, pa.int64())),
        )
        return table.filter(keep).set_column(
            table.column_names.index("ago"), "ago", pc.filter(ago, keep)
        )
    else:
        first = _utc(start).date()
        last = _utc(end)
        stop = last.date() if last.time() == time() else last.date() + timedelta(days=1)
        day = table["day"]
        keep = pc.and_(
            pc.greater_equal(day, pa.scalar(first, pa.date32())),
            pc.less(day, pa.scalar(stop, pa.date32())),
        )
    return table.filter(keep)


def read_history(
    events: EventStore,
    info: DeploymentInfo,
    windows: Sequence[Window],
    needs: Sequence[Needs],
    *,
    run: Sequence[Window] = (),
    kept: dict[str, tuple[pa.Table, datetime, datetime]] | None = None,
) -> History:
    """Read once what :func:`load_data` would read for each of ``windows``.

    ``windows`` may be one group of a longer run of looks (``run``: every window of it, these
    included), read in groups as they are wanted: a read grouped by days before its end (cut
    ``ago``) is then read once for the whole run, from the earliest span to the last of the
    run's looks ending at that time of day, and kept in ``kept`` (by :func:`_ago_key`: its table,
    start and end) for the run's other groups, which cut their looks out of it: an earlier
    group's looks end a whole number of days before it, as the exact cut asks. Without
    ``kept``, each such read covers ``windows`` alone, from their earliest span."""
    if not windows:
        raise ValueError("read_history needs at least one window")
    start = min(_spans(w, needs)[0] for w in windows)
    end = max(w.current_end for w in windows)
    wanted = _turn_columns(needs)
    # A read grouped by days before its end: once per time of day the looks end at, to the
    # last look ending then (of the run, where its reads are kept, from the earliest span of
    # the run's looks ending then).
    ago: dict[str, tuple[EngineRead, datetime]] = {}
    for r in engine_reads(needs).values():
        if r.cut == "ago":
            for w in sorted(windows, key=lambda w: w.current_end):
                ago[_ago_key(r.name, w.current_end)] = (r, w.current_end)
    if kept is not None:
        for key, (r, _) in ago.items():
            if key in kept:
                continue
            ending = [w for w in [*windows, *run] if _ago_key(r.name, w.current_end) == key]
            first = min(_spans(w, needs)[0] for w in ending)
            last = max(w.current_end for w in ending)
            kept[key] = (_engine_read(events, info, r, first, last), first, last)
    # A read of the last days from the earliest look's span on.
    starts = {
        r.name: min(r.span(w, _spans(w, needs)[0])[0] for w in windows)
        for r in engine_reads(needs).values()
        if r.cut not in ("ago", "look")
    }
    # A read of each look's own span.
    looks = {
        _look_key(r.name, *span): (r, span)
        for r in engine_reads(needs).values()
        if r.cut == "look"
        for w in windows
        for span in [r.span(w, _spans(w, needs)[0])]
    }
    # A read of the windows leaves out what every look leaves out.
    gaps: dict[str, tuple[datetime, datetime] | None] = {}
    for r in engine_reads(needs).values():
        if r.windows:
            held = [r.gap(w) for w in windows]
            if all(g is not None for g in held):
                lo = max(g[0] for g in held if g is not None)
                hi = min(g[1] for g in held if g is not None)
                gaps[r.name] = (lo, hi) if lo < hi else None
            else:
                gaps[r.name] = None
    interactions = _read_interactions(events, info, start, end)
    if wanted:
        every = "started_at >= ? AND started_at < ?"
        turns = _read_turns(events, info, wanted, every, [start, end])
    else:
        turns = TURNS.empty_table().select(["interaction_id", "seq"])
    return History(
        info, start, end, tuple(needs), with_segment_columns(interactions), turns,
        _read_deliveries(events, info, start, end, needs),
        _read_assist(events, info, start, end, needs),
        {r.name: _engine_read(events, info, r, starts[r.name], end, gaps.get(r.name))
         for r in engine_reads(needs).values() if r.cut not in ("ago", "look")}
        | {key: kept[key][0] if kept is not None else _engine_read(events, info, r, start, at)
           for key, (r, at) in ago.items()}
        | {key: _engine_read(events, info, r, *span) for key, (r, span) in looks.items()},
        {key: kept[key][2] if kept is not None else at for key, (_, at) in ago.items()},
        starts | {key: kept[key][1] for key in ago if kept is not None},
        gaps,
    )  # fmt: skip


def look_at(history: History, window: Window, needs: Sequence[Needs] | None = None) -> AnalysisData:
    """What :func:`load_data` would read for ``window`` and ``needs`` (default: those the
    history was read for), cut out of ``history``."""
    return _look_at(history, window, needs)[0]


def _look_at(
    history: History, window: Window, needs: Sequence[Needs] | None
) -> tuple[AnalysisData, np.ndarray | None]:
    """:func:`look_at`, and when each of its turns' interaction started (microseconds since
    the epoch, one per turn; None where it read no turn columns)."""
    needs = history.needs if needs is None else tuple(needs)
    if not history.covers(window, needs):
        raise ValueError(f"the history read from {history.start} to {history.end} does not "
                         f"cover the window ending {window.current_end}")  # fmt: skip
    history_start, recent = _spans(window, needs)
    table = history.interactions
    started = column_us(table["started_at"])
    lo, hi = np.searchsorted(
        started, [epoch_us(history_start), epoch_us(window.current_end)], "left"
    )
    interactions = table.slice(int(lo), int(hi - lo))
    first, last = epoch_us(history_start), epoch_us(window.current_end)
    wanted = _turn_columns(needs)
    if wanted:
        # The turns of the interactions read that started in the baseline or the recent days.
        at = history.turn_started
        with_turns = (
            (at >= first)
            & (at < last)
            & (
                ((at >= epoch_us(window.baseline_start)) & (at < epoch_us(window.baseline_end)))
                | ((at >= epoch_us(recent)) & (at < last))
            )
        )
        turns = history.turns.filter(pa.array(with_turns))
        turn_started: np.ndarray | None = at[with_turns]
        if wanted != _turn_columns(history.needs):
            turns = turns.select(["interaction_id", "seq", *wanted])
    else:
        turns = TURNS.empty_table().select(["interaction_id", "seq"])
        turn_started = None
    deliveries, assist = history.deliveries, history.assist_events
    if not any(n.deliveries for n in needs):
        deliveries = _no_deliveries()
    if not any(n.assist_events for n in needs):
        assist = ASSIST_EVENTS.empty_table()
    if deliveries.num_rows:
        at = history.delivery_started
        deliveries = deliveries.filter(pa.array((at >= first) & (at < last)))
    if assist.num_rows:
        at = history.assist_started
        assist = assist.filter(pa.array((at >= first) & (at < last)))
    reads = {}
    for name, r in engine_reads(needs).items():
        if r.cut == "look":
            reads[name] = history.reads[_look_key(name, *r.span(window, history_start))]
            continue
        key = _ago_key(name, window.current_end) if r.cut == "ago" else name
        anchor = history.ago_ends.get(key, history.end)
        reads[name] = _cut_read(
            r, history.reads[key], *r.span(window, history_start), anchor, r.gap(window)
        )
    data = AnalysisData(
        history.info, window, interactions, turns, deliveries, assist, reads, history.memo
    )
    return data, turn_started


def _spans(window: Window, needs: Sequence[Needs]) -> tuple[datetime, datetime]:
    """Where a window's interactions start (its history) and where the turns of its recent
    days start."""
    history_start = min(window.baseline_start, window.current_end - timedelta(weeks=HISTORY_WEEKS))
    recent = min(
        window.current_start,
        window.current_end - timedelta(days=max((n.turn_days for n in needs), default=0)),
    )
    return history_start, recent


def _turn_columns(needs: Sequence[Needs]) -> list[str]:
    wanted = sorted({c for n in needs for c in n.turn_columns} - {"interaction_id", "seq"})
    unknown = set(wanted) - set(TURNS.names)
    if unknown:
        raise ValueError(f"detectors asked for unknown turn columns {sorted(unknown)}")
    return wanted


def _read_interactions(
    events: EventStore, info: DeploymentInfo, start: datetime, end: datetime
) -> pa.Table:
    """The stored columns (less ``attributes``) of the interactions started in ``[start, end)``;
    of the ``segments`` map only the keys the detectors read, each a ``segment.<key>`` column
    looked up by the engine (the map was the largest column read, and looking its keys up in
    Python cost more than the engine's look-up)."""
    columns = [f.name for f in STORED_INTERACTIONS if f.name not in ("attributes", "segments")]
    columns += [f"segments['{k}'] AS \"segment.{k}\"" for k in READ_SEGMENT_KEYS]
    return events.query(
        f"SELECT {', '.join(columns)} FROM interactions "  # noqa: S608
        "WHERE deployment = ? AND started_at >= ? AND started_at < ? "
        "ORDER BY started_at, interaction_id",
        [info.name, start, end],
    )


def _read_turns(
    events: EventStore, info: DeploymentInfo, wanted: list[str], where: str, params: list[Any]
) -> pa.Table:
    """The ``wanted`` columns of the turns of the interactions ``where`` picks."""
    turn_sql = ", ".join(["t.interaction_id", "t.seq", *(f"t.{c}" for c in wanted)])
    return events.query(
        f"SELECT {turn_sql} FROM turns t WHERE t.deployment = ? "  # noqa: S608
        "AND t.interaction_id IN (SELECT interaction_id FROM interactions "
        f"WHERE deployment = ? AND ({where})) ORDER BY t.interaction_id, t.seq",
        [info.name, info.name, *params],
    )


def _read_deliveries(
    events: EventStore, info: DeploymentInfo, start: datetime, end: datetime, needs: Sequence[Needs]
) -> pa.Table:
    if any(n.deliveries for n in needs):
        # Every delivery of the interactions read, however late it was received.
        return events.query(
            "SELECT interaction_id, deployment, batch_id, source, received_at FROM deliveries "
            "WHERE deployment = ? AND interaction_id IN (SELECT interaction_id FROM interactions "
            "WHERE deployment = ? AND started_at >= ? AND started_at < ?) "
            "ORDER BY received_at, interaction_id, batch_id",
            [info.name, info.name, start, end],
        )
    return _no_deliveries()


def _no_deliveries() -> pa.Table:
    return pa.table(
        {
            "interaction_id": pa.array([], pa.string()),
            "deployment": pa.array([], pa.string()),
            "batch_id": pa.array([], pa.string()),
            "source": pa.array([], pa.string()),
            "received_at": pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )


def _read_assist(
    events: EventStore, info: DeploymentInfo, start: datetime, end: datetime, needs: Sequence[Needs]
) -> pa.Table:
    if any(n.assist_events for n in needs):
        return events.query(
            f"SELECT {', '.join(ASSIST_EVENTS.names)} FROM assist_events "  # noqa: S608
            "WHERE deployment = ? AND interaction_id IN (SELECT interaction_id FROM "
            "interactions WHERE deployment = ? AND started_at >= ? AND started_at < ?) "
            "ORDER BY interaction_id, seq",
            [info.name, info.name, start, end],
        ).cast(ASSIST_EVENTS)
    return ASSIST_EVENTS.empty_table()


def _utc(at: datetime) -> datetime:
    """``at`` in UTC (a naive time is taken as UTC, as the stores do)."""
    return aware(at).astimezone(UTC)


def run_detectors(
    data: AnalysisData,
    chosen: Sequence[Detector[Any]],
    progress: Progress | None = None,
    *,
    turn_started: np.ndarray | None = None,
) -> list[Finding]:
    """Run ``chosen`` over ``data``; ``turn_started``, where the caller knows it (a look cut out
    of a history), is when each turn's interaction started (microseconds since the epoch)."""
    out: list[Finding] = []
    loaded = max((d.needs.turn_days for d in chosen), default=0)
    views: dict[int, AnalysisData] = {loaded: data}
    for d in chosen:
        if progress:
            progress(d.id)
        days = d.needs.turn_days
        if days not in views:
            views[days] = _turns_of_days(data, days, turn_started)
        out.extend(d.run(views[days]))
    return out


def _turns_of_days(
    data: AnalysisData, turn_days: int, turn_started: np.ndarray | None = None
) -> AnalysisData:
    """``data`` with the turns a detector asking for ``turn_days`` gets: those of the baseline
    and current windows and of the last ``turn_days`` days. The turns are loaded once, for the
    detector that asks for the most days; the others see exactly what they asked for.

    With ``turn_started`` (when each turn's interaction started, one per turn of ``data``), the
    turns are chosen by comparing those times with the windows: the same turns as looking
    their interaction ids up among the interactions started in the windows, which is what
    happens without it (an interaction id is one interaction)."""
    w = data.window
    since = min(w.current_start, w.current_end - timedelta(days=turn_days))
    if turn_started is not None and len(turn_started) == data.turns.num_rows:
        at = turn_started
        keep_turns = ((at >= epoch_us(w.baseline_start)) & (at < epoch_us(w.baseline_end))) | (
            (at >= epoch_us(since)) & (at < epoch_us(w.current_end))
        )
        return replace(data, turns=data.turns.filter(pa.array(keep_turns)))
    started = data.interactions["started_at"]

    def within(start: datetime, end: datetime) -> Any:
        return pc.and_(pc.greater_equal(started, start), pc.less(started, end))

    keep = pc.or_(within(w.baseline_start, w.baseline_end), within(since, w.current_end))
    ids = data.interactions.filter(keep)["interaction_id"].combine_chunks()
    turns = data.turns.filter(pc.is_in(data.turns["interaction_id"], value_set=ids))
    return replace(data, turns=turns)


@dataclass(frozen=True, slots=True)
class Detected:
    """What the detectors found in one look, before it is recorded: the findings (with their
    roots) and how many interactions the look read."""

    findings: list[Finding]
    interactions: int


def detect_look(
    events: EventStore | None,
    info: DeploymentInfo,
    window: Window,
    chosen: Sequence[Detector[Any]],
    *,
    progress: Progress | None = None,
    history: History | None = None,
) -> Detected:
    """Run ``chosen`` over ``info``'s data for ``window``, cut out of ``history`` where it
    covers the look, read from ``events`` otherwise; pure but for that read (a look computed
    ahead in another process passes no store, and needs a history that covers it)."""
    needs = [d.needs for d in chosen]
    turn_started = None
    if history is not None and history.covers(window, needs):
        data, turn_started = _look_at(history, window, needs)
    elif events is not None:
        data = load_data(events, info, window, needs)
    else:
        raise ValueError(f"no store to read, and no history covering {window.current_end}")
    # A finding a broader one explains carries its root: the backlog joins them.
    found = run_detectors(data, chosen, progress, turn_started=turn_started)
    findings = with_roots(data, found)
    return Detected(findings, data.interactions.num_rows)


def detect_and_record(
    ledger: Ledger,
    events: EventStore,
    info: DeploymentInfo,
    window: Window,
    chosen: Sequence[Detector[Any]],
    *,
    since: datetime | None,
    progress: Progress | None = None,
    history: History | None = None,
    detected: Detected | None = None,
) -> DetectorRun:
    """Load ``info``'s data for ``window`` (cut out of ``history`` where one was read for a run
    of looks), run ``chosen`` and record the findings as one run in the ledger (a failure
    marks the run failed and is raised); ``detected``, where the look was computed ahead
    (:func:`detect_look`), is recorded as it is. The findings returned are those the ledger
    raised: segment findings a repeated look holds are left out until confirmed."""
    ids = [d.id for d in chosen]
    run_id = service.start_run(ledger, info.name, ids)
    try:
        if detected is None:
            detected = detect_look(events, info, window, chosen, progress=progress, history=history)
        findings = detected.findings
        recorded = service.record_findings(
            ledger, run_id, info.name, ids, findings,
            since=since, data_through=window.current_end, interactions=detected.interactions,
        )  # fmt: skip
    except Exception as exc:
        service.fail_run(ledger, run_id, f"{type(exc).__name__}: {exc}")
        raise
    held = set(recorded.held_fingerprints)
    raised = [f for f in findings if f.fingerprint not in held]
    return DetectorRun(run_id, raised, recorded, detected.interactions, detected)
