"""An analysis, in order: choose the deployments and days, run the detectors and record their
findings, then hand each recorded run to every consumer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import pluggy

from daytwo.clock import aware
from daytwo.deployments.schemas import DeploymentPublic
from daytwo.deployments.service import list_deployments
from daytwo.detect import service
from daytwo.detect.data import DeploymentInfo, Window
from daytwo.detect.findings import Finding
from daytwo.detect.gaps.service import RefreshResult, refresh_gaps, vectors_settling
from daytwo.detect.registry import Detector, select
from daytwo.detect.runner import (
    Detected,
    History,
    Progress,
    analysis_window,
    detect_and_record,
    read_history,
)
from daytwo.detect.schemas import RunPublic
from daytwo.errors import NotFoundError
from daytwo.pipeline.ahead import DetectAhead, PlannedLook, fork_available
from daytwo.pipeline.context import AnalysisContext, Trigger
from daytwo.pipeline.plugins import consumers, plugin_manager
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("daytwo.pipeline")

# Why a deployment was not analysed at all: it has no interactions.
NO_DATA = "no data"
# Why it was not analysed again: nothing was delivered since its last run.
NOTHING_NEW = "no new data since the last run"
# How many looks of a replay or backfill share one read of the events (a bound on memory).
LOOKS_PER_READ = 31
# What each look of an analysis may run inside (a replay's clock and people), by deployment and day.
AroundLook = Callable[[str, datetime], AbstractContextManager[None]]


class LastLooks:
    """The findings of each deployment's latest look, as the detectors found them, kept for
    a look that follows with the same detectors on the same window and the same events.

    For a caller that knows no event was written between the two looks (the demo, whose last
    day of replay is looked at once more on the real clock): the detectors are pure over a
    window's events, so the second look records what computing them again would give, and
    skips that calculation. Any difference in the deployment's facts, the window or the
    detectors computes them again.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[DeploymentInfo, Window, tuple[str, ...], Detected]] = {}

    def get(
        self, info: DeploymentInfo, window: Window, chosen: Sequence[Detector[Any]]
    ) -> Detected | None:
        kept = self._last.get(info.name)
        if kept is None or kept[:3] != (info, window, tuple(d.id for d in chosen)):
            return None
        return kept[3]

    def keep(
        self,
        info: DeploymentInfo,
        window: Window,
        chosen: Sequence[Detector[Any]],
        detected: Detected | None,
    ) -> None:
        if detected is None:
            self._last.pop(info.name, None)
        else:
            self._last[info.name] = (info, window, tuple(d.id for d in chosen), detected)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """One deployment analysed as of one instant (or skipped, with the reason)."""

    deployment: str
    run_id: int | None
    as_of: datetime
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None
    recorded: service.Recorded | None = None
    # The consumers that raised on this run (logged; the others still ran).
    failed_consumers: tuple[str, ...] = ()


def analyze(
    settings: Settings,
    ledger: Ledger,
    events: EventStore,
    *,
    trigger: Trigger,
    deployment: str | None = None,
    since: datetime | None = None,
    as_of: datetime | None = None,
    detector_ids: Sequence[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
    around_look: AroundLook | None = None,
    workers: int = 1,
    last_looks: LastLooks | None = None,
) -> list[RunOutcome]:
    """Analyse each deployment (or one) as of ``as_of`` (default: its latest data), record the
    findings and hand every recorded run to the consumers.

    Incremental, by what arrived: a deployment to which nothing was delivered since its last
    run is skipped (unless ``force``), and one that received a backfill is analysed as of each
    day the backfill touched too (see :func:`_days_to_analyse`). With ``since``, the analysis
    is replayed as of the end of every day from ``since`` on, so findings carry the day they
    first appeared; repeating it changes nothing.

    ``around_look(deployment, as_of)``, when given, is a context manager each look (and the
    hand-over of its run) runs inside: a replay of history sets the clock of each day there
    (:func:`daytwo.clock.frozen_at`) and acts between the looks as its people did.

    With ``workers`` above 1, a deployment's run of several looks (a replay, a backfill) has
    its findings computed by a second process from the end of the run while this one records
    from its start (:class:`~daytwo.pipeline.ahead.DetectAhead`): the same runs, findings and
    ids as one process gives, on two cores. The second core is kept busy between deployments:
    the next deployment's events are read while this one's worker computes, and its worker is
    forked as soon as this one's takes no more looks (while the looks left are recorded here).

    ``last_looks``, when given, keeps each deployment's latest look's findings and hands them
    to a look of the same detectors on the same window (see :class:`LastLooks`).
    """
    manager = plugin_manager()  # loads the contributed detectors too
    registered = {d.name: d for d in list_deployments(ledger)}
    volumes = {v.deployment: v for v in events.volumes()}
    names = [deployment] if deployment else sorted(set(registered) | set(volumes))
    if deployment and deployment not in registered and deployment not in volumes:
        raise NotFoundError(f"No deployment named {deployment!r} and no data for it.")
    chosen = select(detector_ids)
    # Detectors with a cadence keep it unless named or forced (see "Cadence", docs/detectors.md).
    paced = [] if detector_ids is not None or force else [d for d in chosen if d.paced]
    # Each deployment's row of looks, or why it has none, in the order they are analysed.
    rows: list[RunOutcome | _Row] = []
    for name in names:
        vol = volumes.get(name)
        if vol is None or vol.first_started_at is None or vol.last_started_at is None:
            rows.append(RunOutcome(name, None, as_of or datetime.now(UTC), skipped=NO_DATA))
            continue
        dep = registered.get(name)
        end = as_of or min(datetime.now(UTC), vol.last_started_at + timedelta(seconds=1))
        if since:
            days = _replay_days(since, end)
        else:
            previous = service.last_run(ledger, name)
            days = [end] if force else _days_to_analyse(events, name, previous, chosen, end)
            if not days:
                rows.append(
                    RunOutcome(name, previous.id if previous else None, end, skipped=NOTHING_NEW)
                )
                continue
        judged = service.judged_through(ledger, name, [d.id for d in paced])
        looks = _plan(dep, vol.first_started_at, days, chosen, paced, judged)
        info = _info(name, dep, vol.interactions)
        reads = _Reads(events, info, dep, vol.first_started_at, days, chosen)
        rows.append(_Row(name, dep, vol.first_started_at, looks, reads, info))
    ahead_rows = [r for r in rows if isinstance(r, _Row)]
    split = workers > 1 and fork_available()
    outcomes: list[RunOutcome] = []
    try:
        for row in rows:
            if isinstance(row, RunOutcome):
                outcomes.append(row)
                continue
            following = ahead_rows[ahead_rows.index(row) + 1 :]
            if split:
                row.start_ahead(meanwhile=[row.reads] + [r.reads for r in following])
            if split and following:
                # While this row's worker computes its looks, the next row's events are read
                # here: its worker then starts the moment this one has no look left to take.
                following[0].reads.read_all()
            ahead, name = row.ahead, row.name
            try:
                for i, (at, look, _) in enumerate(row.looks):
                    with around_look(name, at) if around_look else nullcontext():
                        detected = ahead.take(i) if ahead else None
                        if split and following and ahead is not None and ahead.done_taking():
                            # The worker computes no more of this row: the next row's worker
                            # takes the core while the looks left here are recorded.
                            following[0].start_ahead()
                        outcome = _look(
                            settings, ledger, events, manager, name, row.dep, row.first_data, at,
                            look, trigger=trigger, since=since, progress=progress,
                            history=row.reads.get(at, read=detected is None), ahead=detected,
                            last_looks=last_looks, interactions=row.info.interactions,
                        )  # fmt: skip
                    outcomes.append(outcome)
            finally:
                if ahead is not None:
                    ahead.close()
                row.reads.release()
    finally:
        for row in ahead_rows:
            if row.ahead is not None:
                row.ahead.close()  # a row's worker started early, where a look raised
    return outcomes


class _Reads:
    """The events a run of looks at one deployment reads (a replay, a backfill), in groups of
    :data:`LOOKS_PER_READ` looks, each group read once, when first wanted; nothing for one
    look (its detectors read the store themselves)."""

    def __init__(
        self,
        events: EventStore,
        info: DeploymentInfo,
        dep: DeploymentPublic | None,
        first_data: datetime,
        days: list[datetime],
        chosen: Sequence[Detector[Any]],
    ) -> None:
        self._events = events
        self._info = info
        self._needs = [d.needs for d in chosen]
        looks = [(at, w) for at in days if (w := analysis_window(dep, first_data, at)) is not None]
        self._groups: list[list[tuple[datetime, Window]]] = (
            [looks[i : i + LOOKS_PER_READ] for i in range(0, len(looks), LOOKS_PER_READ)]
            if len(days) > 1
            else []
        )
        self._group_of = {at: g for g, group in enumerate(self._groups) for at, _ in group}
        self._read: set[int] = set()
        self.histories: dict[datetime, History] = {}
        # The reads grouped by days before their end, read once for every group
        # (:func:`~daytwo.detect.runner.read_history`'s ``kept``).
        self._kept: dict[str, tuple[pa.Table, datetime, datetime]] = {}

    def _read_group(self, g: int) -> None:
        if g in self._read:
            return
        group = self._groups[g]
        history = read_history(
            self._events, self._info, [w for _, w in group], self._needs,
            run=[w for looks in self._groups for _, w in looks], kept=self._kept,
        )  # fmt: skip
        self.histories.update((at, history) for at, _ in group)
        self._read.add(g)

    def read_all(self) -> None:
        for g in range(len(self._groups)):
            self._read_group(g)

    def read_next(self) -> bool:
        """Read the first group not read yet; whether there was one."""
        g = next((g for g in range(len(self._groups)) if g not in self._read), None)
        if g is None:
            return False
        self._read_group(g)
        return True

    def read_back(self) -> None:
        """The groups from the last look back to the one that holds the middle look: what a
        worker taking looks from the end computes before the two processes meet (the front
        group is read by this process when it gets there, while the worker computes)."""
        if not self._groups:
            return
        looks = sum(len(group) for group in self._groups)
        covered = 0
        for g in reversed(range(len(self._groups))):
            self._read_group(g)
            covered += len(self._groups[g])
            if 2 * covered >= looks:
                return

    def get(self, at: datetime, *, read: bool = True) -> History | None:
        """The history of the look as of ``at`` (its group read now, with ``read``)."""
        g = self._group_of.get(at)
        if g is not None and read:
            self._read_group(g)
        return self.histories.get(at)

    def release(self) -> None:
        self.histories = {}
        self._kept = {}


@dataclass(slots=True)
class _Row:
    """One deployment's row of looks in an :func:`analyze`, and its look-ahead worker."""

    name: str
    dep: DeploymentPublic | None
    first_data: datetime
    looks: list[PlannedLook]
    reads: _Reads
    info: DeploymentInfo
    ahead: DetectAhead | None = None
    started: bool = False

    def start_ahead(self, meanwhile: Sequence[_Reads] = ()) -> None:
        """Fork the worker computing this row's looks from its end (once; none for a row of
        one look): the groups of events it computes from are read first, the rest here when
        this process gets there. The fork waits for the gap vectors being embedded (the
        worker finds them in its copy of the cache): while it would, the groups of
        ``meanwhile`` are read, in order."""
        if self.started:
            return
        self.started = True
        if len(self.looks) < 2:
            return
        self.reads.read_back()
        for reads in meanwhile:
            while vectors_settling() and reads.read_next():
                pass
        if self.reads.histories:
            self.ahead = DetectAhead(self.info, self.looks, dict(self.reads.histories))


def _plan(
    dep: DeploymentPublic | None,
    first_data: datetime,
    days: list[datetime],
    chosen: Sequence[Detector[Any]],
    paced: Sequence[Detector[Any]],
    judged: dict[str, list[datetime]],
) -> list[PlannedLook]:
    """Each look of a run of looks at one deployment: its instant, the detectors due then (a
    detector with a cadence runs when no earlier look with a run judged it within its
    ``every_days``; every look with a window records a run, or the analysis stops) and its
    window (None: too early for a run)."""
    judged = {k: list(v) for k, v in judged.items()}
    out: list[PlannedLook] = []
    for at in days:
        look = [d for d in chosen if d not in paced or _due(d, at, judged[d.id])]
        window = analysis_window(dep, first_data, at)
        if window is not None:
            for d in paced:
                if d in look:
                    judged[d.id].append(at)
        out.append((at, look, window))
    return out


def _look(
    settings: Settings,
    ledger: Ledger,
    events: EventStore,
    manager: pluggy.PluginManager,
    name: str,
    dep: DeploymentPublic | None,
    first_data: datetime,
    at: datetime,
    look: Sequence[Detector[Any]],
    *,
    trigger: Trigger,
    since: datetime | None,
    progress: Progress | None,
    history: History | None,
    ahead: Detected | None = None,
    last_looks: LastLooks | None = None,
    interactions: int | None = None,
) -> RunOutcome:
    """One look of :func:`analyze`: the detectors due as of ``at`` (``look``), recorded and
    handed over; ``ahead``: their findings, computed ahead by another process;
    ``interactions``: the deployment's stored conversations (:class:`DeploymentInfo`)."""
    outcome, window = _analyze_one(
        ledger, events, name, dep, first_data, at, look,
        progress=progress, since=since, history=history, detected=ahead, last_looks=last_looks,
        interactions=interactions,
    )  # fmt: skip
    if window is None or outcome.run_id is None or outcome.recorded is None:
        return outcome
    ctx = AnalysisContext(
        settings=settings,
        ledger=ledger,
        events=events,
        deployment_name=name,
        deployment=dep,
        run_id=outcome.run_id,
        as_of=at,
        window=window,
        findings=tuple(outcome.findings),
        recorded=outcome.recorded,
        trigger=trigger,
        since=since,
    )
    return replace(outcome, failed_consumers=hand_over(manager, ctx))


def _due(d: Detector[Any], at: datetime, judged: Sequence[datetime]) -> bool:
    """Whether ``d`` (with a cadence) runs on the look as of ``at``: no earlier run judged it
    on data that ended within its ``every_days`` up to ``at``."""
    since = at - timedelta(days=d.every_days)
    return not any(since < t <= at for t in judged)


def _days_to_analyse(
    events: EventStore,
    name: str,
    previous: RunPublic | None,
    chosen: Sequence[Detector[Any]],
    end: datetime,
) -> list[datetime]:
    """When to analyse ``name`` as of, decided by what arrived since its last run.

    New data means new deliveries, whatever their ``started_at``: a backfill of an earlier
    day is analysed as of the end of each day it touched, then as of ``end``; nothing
    delivered since the last run (and no later ``end`` asked for) means nothing to do.
    """
    # A detector with a cadence is left out of the looks where it is not due: the others say
    # whether the last run ran the same detectors.
    paced = {d.id for d in select(None) if d.paced}
    every_look = {d.id for d in chosen} - paced
    if previous is None or set(previous.detectors) - paced != every_look:
        return [end]
    touched = events.arrived_since(name, aware(previous.started_at))
    ahead = previous.data_through is None or aware(previous.data_through) < end
    if not touched and not ahead:
        return []
    earlier = sorted(
        {
            datetime.combine(day, time(), tzinfo=UTC) + timedelta(days=1)
            for day in touched
            if datetime.combine(day, time(), tzinfo=UTC) + timedelta(days=1) < end
        }
    )
    return [*earlier, end]


def _info(
    name: str, dep: DeploymentPublic | None, interactions: int | None = None
) -> DeploymentInfo:
    return DeploymentInfo(
        name,
        kind=str(dep.kind) if dep else "virtual_agent",
        targets=dict(dep.targets) if dep else {},
        interactions=interactions,
    )


def _replay_days(since: datetime, end: datetime) -> list[datetime]:
    start = datetime.combine(since.date(), time(), tzinfo=UTC) + timedelta(days=1)
    days = []
    at = start
    while at < end:
        days.append(at)
        at += timedelta(days=1)
    days.append(end)
    return days


def _analyze_one(
    ledger: Ledger,
    events: EventStore,
    name: str,
    dep: DeploymentPublic | None,
    first_data: datetime,
    at: datetime,
    chosen: Sequence[Detector[Any]],
    *,
    progress: Progress | None,
    since: datetime | None,
    history: History | None = None,
    detected: Detected | None = None,
    last_looks: LastLooks | None = None,
    interactions: int | None = None,
) -> tuple[RunOutcome, Window | None]:
    """One deployment as of ``at``: skipped (no window), or detected and recorded; the window
    comes back only for a recorded run."""
    window = analysis_window(dep, first_data, at)
    if window is None:
        return RunOutcome(name, None, at, skipped="not enough history past the baseline"), None
    info = _info(name, dep, interactions)
    if detected is None and last_looks is not None:
        detected = last_looks.get(info, window, chosen)
    run = detect_and_record(
        ledger, events, info, window, chosen,
        since=since, progress=progress, history=history, detected=detected,
    )  # fmt: skip
    if last_looks is not None:
        last_looks.keep(info, window, chosen, run.detected)
    return RunOutcome(name, run.run_id, at, run.findings, recorded=run.recorded), window


def hand_over(manager: pluggy.PluginManager, ctx: AnalysisContext) -> tuple[str, ...]:
    """Call every consumer's ``after_analysis`` with ``ctx``, in the declared order; one that
    raises is logged and the rest still run. Returns the names of those that raised."""
    failed = []
    for impl in consumers(manager, "after_analysis"):
        try:
            impl.function(**dict.fromkeys(impl.argnames, ctx))
        except Exception:
            log.exception(
                "consumer %s failed after analysis run %s of %s (%s); the findings are "
                "recorded and the other consumers ran",
                impl.plugin_name, ctx.run_id, ctx.deployment_name, ctx.trigger,
            )  # fmt: skip
            failed.append(impl.plugin_name)
    return tuple(failed)


def cluster_gaps(
    settings: Settings,
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    *,
    trigger: Trigger,
    encoder: str | None = None,
    window_days: int | None = None,
    force: bool = False,
    as_of: datetime | None = None,
) -> RefreshResult:
    """Cluster ``deployment``'s recent unhandled messages into knowledge gaps for the gaps
    pages and API, with ``encoder`` over the last ``window_days`` (default: the configured
    ones).

    Incremental: nothing happens when no data arrived since the last clustering (unless
    ``force``).
    """
    result = refresh_gaps(
        ledger,
        events,
        deployment,
        encoder=encoder or settings.gaps_encoder,
        window_days=window_days or settings.gaps_window_days,
        as_of=as_of,
        force=force,
    )
    log.debug("knowledge gaps of %s (%s): %s", deployment, trigger, result)
    return result
