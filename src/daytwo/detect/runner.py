"""Running the detectors: load one deployment's data, run each detector, record findings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pyarrow as pa

from daytwo.backlog.intake import after_analysis
from daytwo.deployments.schemas import DeploymentPublic
from daytwo.deployments.service import list_deployments
from daytwo.detect import service
from daytwo.detect.cells import with_segment_columns
from daytwo.detect.data import AnalysisData, DeploymentInfo, Window
from daytwo.detect.findings import Finding
from daytwo.detect.registry import Detector, Needs, select
from daytwo.detect.roots import with_roots
from daytwo.errors import NotFoundError
from daytwo.interactions.columns import TURNS
from daytwo.metrics.service import baseline_window
from daytwo.store.events import EventStore
from daytwo.store.events.base import STORED_INTERACTIONS
from daytwo.store.ledger import Ledger

CURRENT_DAYS = 7
# Interactions read for trends: this many weeks before the end of the analysis.
HISTORY_WEEKS = 8
Progress = Callable[[str], None]


# Why a deployment was not analysed at all: it has no interactions.
NO_DATA = "no data"


@dataclass(frozen=True, slots=True)
class RunOutcome:
    deployment: str
    run_id: int | None
    as_of: datetime
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None
    recorded: service.Recorded | None = None


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
    history_start = min(window.baseline_start, window.current_end - timedelta(weeks=HISTORY_WEEKS))
    columns = [f.name for f in STORED_INTERACTIONS if f.name != "attributes"]
    interactions = events.query(
        f"SELECT {', '.join(columns)} FROM interactions "  # noqa: S608
        "WHERE deployment = ? AND started_at >= ? AND started_at < ? ORDER BY started_at",
        [info.name, history_start, window.current_end],
    )
    wanted = sorted({c for n in needs for c in n.turn_columns} - {"interaction_id", "seq"})
    unknown = set(wanted) - set(TURNS.names)
    if unknown:
        raise ValueError(f"detectors asked for unknown turn columns {sorted(unknown)}")
    turn_sql = ", ".join(["t.interaction_id", "t.seq", *(f"t.{c}" for c in wanted)])
    if wanted:
        turns = events.query(
            f"SELECT {turn_sql} FROM turns t WHERE t.deployment = ? "  # noqa: S608
            "AND t.interaction_id IN (SELECT interaction_id FROM interactions "
            "WHERE deployment = ? AND ((started_at >= ? AND started_at < ?) "
            "OR (started_at >= ? AND started_at < ?))) ORDER BY t.interaction_id, t.seq",
            [
                info.name,
                info.name,
                window.baseline_start,
                window.baseline_end,
                window.current_start,
                window.current_end,
            ],
        )
    else:
        turns = TURNS.empty_table().select(["interaction_id", "seq"])
    if any(n.deliveries for n in needs):
        # Every delivery of the interactions read above, however late it was received.
        deliveries = events.query(
            "SELECT interaction_id, deployment, batch_id, source, received_at FROM deliveries "
            "WHERE deployment = ? AND interaction_id IN (SELECT interaction_id FROM interactions "
            "WHERE deployment = ? AND started_at >= ? AND started_at < ?) ORDER BY received_at",
            [info.name, info.name, history_start, window.current_end],
        )
    else:
        deliveries = pa.table(
            {
                "interaction_id": pa.array([], pa.string()),
                "deployment": pa.array([], pa.string()),
                "batch_id": pa.array([], pa.string()),
                "source": pa.array([], pa.string()),
                "received_at": pa.array([], pa.timestamp("us", tz="UTC")),
            }
        )
    return AnalysisData(info, window, with_segment_columns(interactions), turns, deliveries)


def run_detectors(
    data: AnalysisData, chosen: Sequence[Detector[Any]], progress: Progress | None = None
) -> list[Finding]:
    out: list[Finding] = []
    for d in chosen:
        if progress:
            progress(d.id)
        out.extend(d.run(data))
    return out


def analyze(
    ledger: Ledger,
    events: EventStore,
    *,
    deployment: str | None = None,
    since: datetime | None = None,
    as_of: datetime | None = None,
    detector_ids: Sequence[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> list[RunOutcome]:
    """Analyse each deployment (or one) as of ``as_of`` (default: its latest data) and record.

    Incremental: a deployment whose data has not moved since its last run is skipped (unless
    ``force``). With ``since``, the analysis is replayed as of the end of every day from
    ``since`` on, so findings carry the day they first appeared; repeating it changes nothing.
    """
    registered = {d.name: d for d in list_deployments(ledger)}
    volumes = {v.deployment: v for v in events.volumes()}
    names = [deployment] if deployment else sorted(set(registered) | set(volumes))
    if deployment and deployment not in registered and deployment not in volumes:
        raise NotFoundError(f"No deployment named {deployment!r} and no data for it.")
    chosen = select(detector_ids)
    outcomes: list[RunOutcome] = []
    for name in names:
        vol = volumes.get(name)
        if vol is None or vol.first_started_at is None or vol.last_started_at is None:
            outcomes.append(RunOutcome(name, None, as_of or datetime.now(UTC), skipped=NO_DATA))
            continue
        dep = registered.get(name)
        end = as_of or min(datetime.now(UTC), vol.last_started_at + timedelta(seconds=1))
        days = _replay_days(since, end) if since else [end]
        for at in days:
            outcomes.append(
                _analyze_one(ledger, events, name, dep, vol.first_started_at, at, chosen,
                             force=force or since is not None, progress=progress, since=since)
            )  # fmt: skip
    return outcomes


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
    force: bool,
    progress: Progress | None,
    since: datetime | None,
) -> RunOutcome:
    window = analysis_window(dep, first_data, at)
    if window is None:
        return RunOutcome(name, None, at, skipped="not enough history past the baseline")
    previous = service.last_run(ledger, name)
    if (
        not force
        and previous is not None
        and previous.data_through is not None
        and _aware(previous.data_through) >= at
        and set(previous.detectors) == {d.id for d in chosen}
    ):
        return RunOutcome(name, previous.id, at, skipped="no new data since the last run")
    info = DeploymentInfo(
        name,
        kind=str(dep.kind) if dep else "virtual_agent",
        targets=dict(dep.targets) if dep else {},
    )
    run_id = service.start_run(ledger, name, [d.id for d in chosen])
    try:
        data = load_data(events, info, window, [d.needs for d in chosen])
        # A finding a broader one explains carries its root: the backlog joins them.
        findings = with_roots(data, run_detectors(data, chosen, progress))
        recorded = service.record_findings(
            ledger, run_id, name, [d.id for d in chosen], findings,
            since=since, data_through=at, interactions=data.interactions.num_rows,
        )  # fmt: skip
    except Exception as exc:
        service.fail_run(ledger, run_id, f"{type(exc).__name__}: {exc}")
        raise
    after_analysis(ledger, name)  # each finding opens or updates its item in the backlog
    return RunOutcome(name, run_id, at, findings, recorded=recorded)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
