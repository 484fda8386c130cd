"""Running the detectors: load one deployment's data, run each detector, record findings.

This is one step of an analysis; which deployments and days are analysed, and what happens to
the findings afterwards, is the analysis pipeline's business (:mod:`daytwo.pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.detect import service
from daytwo.detect.cells import with_segment_columns
from daytwo.detect.data import AnalysisData, DeploymentInfo, Window
from daytwo.detect.findings import Finding
from daytwo.detect.registry import Detector, Needs
from daytwo.detect.roots import with_roots
from daytwo.interactions.columns import ASSIST_EVENTS, TURNS
from daytwo.metrics.service import baseline_window
from daytwo.store.events import EventStore
from daytwo.store.events.base import STORED_INTERACTIONS
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
    # Turns of the baseline and current windows, and of the last ``turn_days`` where a detector
    # judges more days than the current window.
    recent = min(
        window.current_start,
        window.current_end - timedelta(days=max((n.turn_days for n in needs), default=0)),
    )
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
                recent,
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
    assist = ASSIST_EVENTS.empty_table()
    if any(n.assist_events for n in needs):
        assist = events.query(
            f"SELECT {', '.join(ASSIST_EVENTS.names)} FROM assist_events "  # noqa: S608
            "WHERE deployment = ? AND interaction_id IN (SELECT interaction_id FROM "
            "interactions WHERE deployment = ? AND started_at >= ? AND started_at < ?) "
            "ORDER BY interaction_id, seq",
            [info.name, info.name, history_start, window.current_end],
        ).cast(ASSIST_EVENTS)
    return AnalysisData(info, window, with_segment_columns(interactions), turns, deliveries, assist)


def run_detectors(
    data: AnalysisData, chosen: Sequence[Detector[Any]], progress: Progress | None = None
) -> list[Finding]:
    out: list[Finding] = []
    loaded = max((d.needs.turn_days for d in chosen), default=0)
    views: dict[int, AnalysisData] = {loaded: data}
    for d in chosen:
        if progress:
            progress(d.id)
        days = d.needs.turn_days
        if days not in views:
            views[days] = _turns_of_days(data, days)
        out.extend(d.run(views[days]))
    return out


def _turns_of_days(data: AnalysisData, turn_days: int) -> AnalysisData:
    """``data`` with the turns a detector asking for ``turn_days`` gets: those of the baseline
    and current windows and of the last ``turn_days`` days. The turns are loaded once, for the
    detector that asks for the most days; the others see exactly what they asked for."""
    w = data.window
    since = min(w.current_start, w.current_end - timedelta(days=turn_days))
    started = data.interactions["started_at"]

    def within(start: datetime, end: datetime) -> Any:
        return pc.and_(pc.greater_equal(started, start), pc.less(started, end))

    keep = pc.or_(within(w.baseline_start, w.baseline_end), within(since, w.current_end))
    ids = data.interactions.filter(keep)["interaction_id"].combine_chunks()
    turns = data.turns.filter(pc.is_in(data.turns["interaction_id"], value_set=ids))
    return replace(data, turns=turns)


def detect_and_record(
    ledger: Ledger,
    events: EventStore,
    info: DeploymentInfo,
    window: Window,
    chosen: Sequence[Detector[Any]],
    *,
    since: datetime | None,
    progress: Progress | None = None,
) -> DetectorRun:
    """Load ``info``'s data for ``window``, run ``chosen`` and record the findings as one run
    in the ledger (a failure marks the run failed and is raised)."""
    ids = [d.id for d in chosen]
    run_id = service.start_run(ledger, info.name, ids)
    try:
        data = load_data(events, info, window, [d.needs for d in chosen])
        # A finding a broader one explains carries its root: the backlog joins them.
        findings = with_roots(data, run_detectors(data, chosen, progress))
        recorded = service.record_findings(
            ledger, run_id, info.name, ids, findings,
            since=since, data_through=window.current_end, interactions=data.interactions.num_rows,
        )  # fmt: skip
    except Exception as exc:
        service.fail_run(ledger, run_id, f"{type(exc).__name__}: {exc}")
        raise
    return DetectorRun(run_id, findings, recorded, data.interactions.num_rows)
