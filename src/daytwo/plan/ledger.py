"""What the plan reads from and writes to the ledger, shared by its services: plans and their
phases, evaluations kept per gate and day, sign-offs, records; the span of a deployment's data;
and the backlog's open items and journey owners as they stood at a moment.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from daytwo.backlog.calc import CLOSED_STATUSES, problem_of
from daytwo.backlog.models import Item, ItemFinding, Owner, RoutingRule
from daytwo.backlog.service import owner_handles
from daytwo.clock import aware
from daytwo.deployments.schemas import DeploymentPublic
from daytwo.detect.models import AnalysisRun, FindingRecord
from daytwo.errors import NotFoundError
from daytwo.metrics import rollup
from daytwo.plan.calc import Seen, touched_journeys
from daytwo.plan.models import GateEvaluation, GateSignoff, Plan, PlanPhase, PlanRecord
from daytwo.plan.schemas import (
    BlockingItem,
    GateResult,
    PhaseSpec,
    RecordKind,
    RecordSpec,
    SignoffPublic,
)
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

Trigger = Literal["analysis", "on_demand"]
# Most blocking items listed under one criterion.
MAX_BLOCKING = 10
# What one evaluation has read of the backlog (:func:`open_items`): the open items of a
# deployment at a moment, and their findings' links.
OpenMemo = dict[tuple[str, str, datetime], list[Any]]
# What a run of evaluations has read of the events store (a deployment's data span, metric
# totals and daily points), by the read and its arguments: kept by a caller that evaluates
# many days or gates while nothing writes the store (a replay of history), so the same read
# asked again (the baseline, the span, a window seen before) is answered from here.
EventsMemo = dict[tuple[Hashable, ...], Any]
T = TypeVar("T")


def remembered(memo: EventsMemo | None, key: tuple[Hashable, ...], read: Callable[[], T]) -> T:
    """``read()``, or what it answered for ``key`` before in ``memo`` (None: no memo)."""
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    out: T = memo[key]
    return out


@dataclass(frozen=True, slots=True)
class DataSpan:
    first: datetime | None
    last: datetime | None


def data_span(events: EventStore, deployment: str, memo: EventsMemo | None = None) -> DataSpan:
    """First and last conversation start of ``deployment`` (the rollups' when current)."""
    return remembered(memo, ("data_span", deployment), lambda: _data_span(events, deployment))


def _data_span(events: EventStore, deployment: str) -> DataSpan:
    known = rollup.volumes(events)
    if known is not None:
        for v in known:
            if v.deployment == deployment:
                return DataSpan(v.first_started_at, v.last_started_at)
        return DataSpan(None, None)
    row = events.query(
        "SELECT min(started_at) AS first, max(started_at) AS last FROM interactions "
        "WHERE deployment = ?",
        [deployment],
    ).to_pylist()[0]
    return DataSpan(row["first"], row["last"])


def default_through(span: DataSpan, now: datetime | None = None) -> date | None:
    """The last day with data, never after today."""
    if span.last is None:
        return None
    today = (now or datetime.now(UTC)).date()
    return min(aware(span.last).astimezone(UTC).date(), today)


def known_journeys(events: EventStore, dep: DeploymentPublic) -> list[str]:
    if dep.journeys:
        return list(dep.journeys)
    values = rollup.dimension_values(events, dep.name) or {}
    return list(values.get("journey", []))


def spec_of(phase: PlanPhase) -> PhaseSpec:
    return PhaseSpec.model_validate(
        {
            "key": phase.key,
            "name": phase.name,
            "start_day": phase.start_day,
            "end_day": phase.end_day,
            "objectives": list(phase.objectives),
            "gate": phase.gate,
        }
    )


def plan_row(session: Session, deployment: str) -> Plan:
    row = session.scalar(select(Plan).where(Plan.deployment == deployment))
    if row is None:
        raise NotFoundError(
            f"{deployment!r} has no plan yet: `daytwo plan apply plan.yaml`, or "
            f"`daytwo plan apply --template -d {deployment}` for the default of its kind."
        )
    return row


def phases_of(session: Session, plan: Plan) -> list[PlanPhase]:
    return list(
        session.scalars(
            select(PlanPhase).where(PlanPhase.plan_id == plan.id).order_by(PlanPhase.position)
        )
    )


def records_of(session: Session, deployment: str) -> list[RecordSpec]:
    rows = session.scalars(
        select(PlanRecord)
        .where(PlanRecord.deployment == deployment)
        .order_by(PlanRecord.journey, PlanRecord.kind)
    )
    return [
        RecordSpec(
            journey=r.journey,
            kind=RecordKind(r.kind),
            title=r.title,
            location=r.location,
            owner=r.owner,
        )
        for r in rows
    ]


def store_evaluation(session: Session, deployment: str, r: GateResult, trigger: Trigger) -> None:
    row = session.scalar(
        select(GateEvaluation).where(
            GateEvaluation.deployment == deployment,
            GateEvaluation.phase == r.phase,
            GateEvaluation.through == r.through,
        )
    )
    if row is None:
        row = GateEvaluation(deployment=deployment, phase=r.phase, through=r.through)
        session.add(row)
    row.evaluated_at = r.evaluated_at
    row.trigger = trigger
    row.ready = r.ready
    row.met = r.met
    row.total = r.total
    row.results = r.model_dump(mode="json")


def latest_evaluations(session: Session, deployment: str) -> dict[str, GateResult]:
    """The latest kept evaluation of each phase (latest day, then latest run)."""
    latest = (
        select(GateEvaluation.phase, func.max(GateEvaluation.through).label("through"))
        .where(GateEvaluation.deployment == deployment)
        .group_by(GateEvaluation.phase)
        .subquery()
    )
    rows = session.scalars(
        select(GateEvaluation)
        .join(
            latest,
            (GateEvaluation.phase == latest.c.phase) & (GateEvaluation.through == latest.c.through),
        )
        .where(GateEvaluation.deployment == deployment)
        .order_by(GateEvaluation.evaluated_at.desc())
    )
    out: dict[str, GateResult] = {}
    for row in rows:
        if row.phase not in out:
            out[row.phase] = GateResult.model_validate(row.results)
    return out


def gate_history(ledger: Ledger, deployment: str, phase: str) -> list[tuple[date, bool, int, int]]:
    """Each kept evaluation of one gate: day, ready, met, total (oldest first)."""
    with ledger.session() as session:
        rows = session.execute(
            select(
                GateEvaluation.through,
                GateEvaluation.ready,
                GateEvaluation.met,
                GateEvaluation.total,
            )
            .where(GateEvaluation.deployment == deployment, GateEvaluation.phase == phase)
            .order_by(GateEvaluation.through)
        ).all()
    return [(r[0], bool(r[1]), int(r[2]), int(r[3])) for r in rows]


def signoffs_by_phase(session: Session, deployment: str) -> dict[str, GateSignoff]:
    rows = session.scalars(
        select(GateSignoff).where(GateSignoff.deployment == deployment).order_by(GateSignoff.id)
    )
    return {r.phase: r for r in rows}


def signoff_public(row: GateSignoff) -> SignoffPublic:
    out = SignoffPublic.model_validate(row)
    return out.model_copy(update={"at": aware(row.at)})


def _open_at(query: object, at: datetime) -> object:
    return query.where(  # type: ignore[attr-defined]
        Item.created_at < at,
        or_(Item.closed_at.is_(None), Item.closed_at >= at),
    )


def blocking_items(session: Session, items: Sequence[Item]) -> list[BlockingItem]:
    listed = list(items)[:MAX_BLOCKING]
    handles = owner_handles(session, listed)  # their owners' handles in one read
    return [
        BlockingItem(
            id=item.id,
            title=item.title,
            priority=item.priority,
            owner=handles.get(item.owner_id) if item.owner_id is not None else None,
            href=f"/backlog/{item.id}",
        )
        for item in listed
    ]


def open_items(
    session: Session,
    deployment: str,
    at: datetime,
    *,
    priority: str | None = None,
    journey: str | None = None,
    metric: str | None = None,
    memo: OpenMemo | None = None,
) -> list[Item]:
    """Items open at ``at`` (created before, not closed by then), highest score first.

    With ``metric``: the items about it, those whose leading signal is about the same problem
    (a p95 latency criterion and a mean latency item) or that hold an unresolved finding
    about it (a model change's item, led by its latency rise, holds its turn errors too).

    With ``memo`` (a dict kept for one evaluation, while nothing writes the backlog), the
    deployment's open items and their findings' links are read once for every call that
    passes it, each call's answer then picked from them: the same items, in the same order."""
    if memo is None:
        query = select(Item).where(Item.deployment == deployment)
        query = _open_at(query, at)  # type: ignore[assignment]
        if priority:
            query = query.where(Item.priority == priority)
        if journey:
            query = query.where(Item.journey == journey)
        rows = _still_open(session.scalars(query.order_by(Item.score.desc(), Item.id)))
    else:
        rows = _open_read_once(session, deployment, at, memo)
        if priority:
            rows = [r for r in rows if r.priority == priority]
        if journey:
            rows = [r for r in rows if r.journey == journey]
    if metric:
        wanted = problem_of("", metric)
        held: set[int] = set()
        if rows:
            if memo is None:
                links: Iterable[ItemFinding] = session.scalars(
                    select(ItemFinding).where(ItemFinding.item_id.in_([r.id for r in rows]))
                )
            else:
                links = _links_read_once(session, deployment, at, memo)
            for link in links:
                snap = link.snapshot or {}
                about = snap.get("metric")
                fresh = snap.get("status") != "resolved" and isinstance(about, str)
                if fresh and problem_of(link.kind, str(about)) == wanted:
                    held.add(link.item_id)
        rows = [r for r in rows if problem_of("", r.signal.get("metric")) == wanted or r.id in held]
    return rows


def _still_open(rows: Iterable[Item]) -> list[Item]:
    # An item closed but reopened keeps no closed_at; a closed one without a date is closed.
    return [r for r in rows if r.closed_at is not None or r.status not in CLOSED_STATUSES]


def _open_read_once(session: Session, deployment: str, at: datetime, memo: OpenMemo) -> list[Item]:
    key = ("open_items", deployment, at)
    if key not in memo:
        query = _open_at(select(Item).where(Item.deployment == deployment), at)
        ordered = query.order_by(Item.score.desc(), Item.id)  # type: ignore[attr-defined]
        memo[key] = _still_open(session.scalars(ordered))
    return list(memo[key])


def _links_read_once(
    session: Session, deployment: str, at: datetime, memo: OpenMemo
) -> list[ItemFinding]:
    key = ("open_item_links", deployment, at)
    if key not in memo:
        ids = [r.id for r in _open_read_once(session, deployment, at, memo)]
        links: list[ItemFinding] = []
        for i in range(0, len(ids), _IDS_PER_QUERY):
            links.extend(
                session.scalars(
                    select(ItemFinding).where(ItemFinding.item_id.in_(ids[i : i + _IDS_PER_QUERY]))
                )
            )
        memo[key] = links
    return list(memo[key])


# Item ids per query of the links read once (well under every store's limit on parameters).
_IDS_PER_QUERY = 500


def journey_owners(session: Session, deployment: str, at: datetime) -> dict[str, str]:
    """Journey -> owner handle, from routing rules that name the journey (first rule wins)."""
    rules = session.execute(
        select(RoutingRule.journey, Owner.handle)
        .join(Owner, Owner.id == RoutingRule.owner_id)
        .where(
            RoutingRule.deployment == deployment,
            RoutingRule.journey.is_not(None),
            RoutingRule.created_at < at,
            Owner.active.is_(True),
        )
        .order_by(RoutingRule.position, RoutingRule.id)
    ).all()
    owners: dict[str, str] = {}
    for journey, handle in rules:
        owners.setdefault(str(journey), str(handle))
    return owners


def findings_seen(session: Session, deployment: str, at: datetime, since: datetime) -> list[Seen]:
    """The findings of ``deployment`` known at ``at`` and last seen on or after ``since``,
    resolved ones included: a problem seen in a criterion's window counts against it until
    the window has moved past it.

    Known at ``at``: first seen before it, and last brought up to date by an analysis of the
    data up to ``at`` at the latest. A day evaluated again after a later analysis leaves out
    what that analysis saw with hindsight (a knowledge gap's first question can be weeks older
    than the growth that made it a finding).
    """
    # The columns a Seen needs, not whole rows (no row objects to build and track).
    rows = session.execute(
        select(
            FindingRecord.id,
            FindingRecord.kind,
            FindingRecord.title,
            FindingRecord.journey,
            FindingRecord.segment_key,
            FindingRecord.segment_value,
            FindingRecord.metric,
            FindingRecord.baseline_value,
            FindingRecord.current_value,
            FindingRecord.last_seen,
            FindingRecord.details,
        )
        .outerjoin(AnalysisRun, AnalysisRun.id == FindingRecord.last_run_id)
        .where(
            FindingRecord.deployment == deployment,
            FindingRecord.first_seen < at,
            FindingRecord.last_seen >= since,
            or_(AnalysisRun.data_through.is_(None), AnalysisRun.data_through <= at),
        )
        .order_by(FindingRecord.severity.desc(), FindingRecord.last_seen.desc())
    ).all()
    return [
        Seen(
            id=r.id,
            kind=r.kind,
            title=r.title,
            journey=r.journey,
            segment=(
                (r.segment_key, r.segment_value)
                if r.segment_key is not None and r.segment_value is not None
                else None
            ),
            metric=r.metric,
            baseline=r.baseline_value,
            current=r.current_value,
            seen_on=aware(r.last_seen).astimezone(UTC).date(),
            journeys=touched_journeys(_counts((r.details or {}).get("journeys"))),
        )
        for r in rows
    ]


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int | float) and v > 0}
