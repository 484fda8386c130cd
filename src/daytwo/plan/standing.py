"""Where a plan stands: each phase with its status, sign-off and latest evaluation, day N of
the plan, the current phase by evidence and whether the calendar has run ahead of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select

from daytwo.clock import aware
from daytwo.deployments.schemas import DeploymentPublic
from daytwo.deployments.service import get_deployment
from daytwo.plan import calc
from daytwo.plan.ledger import (
    data_span,
    default_through,
    latest_evaluations,
    phases_of,
    plan_row,
    records_of,
    signoff_public,
    signoffs_by_phase,
)
from daytwo.plan.models import GateSignoff, Plan, PlanPhase
from daytwo.plan.schemas import GateResult, PhasePublic, PlanPublic, PlanStatus, SignoffPublic
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger


def plan_exists(ledger: Ledger, deployment: str) -> bool:
    with ledger.session() as session:
        return session.scalar(select(Plan.id).where(Plan.deployment == deployment)) is not None


def get_plan(
    ledger: Ledger, events: EventStore, deployment: str, *, through: date | None = None
) -> PlanPublic:
    """The plan with each phase's status, latest evaluation and sign-off, and where the
    deployment stands by evidence."""
    dep = get_deployment(ledger, deployment)
    with ledger.session() as session:
        plan = plan_row(session, deployment)
        phases = phases_of(session, plan)
        done = signoffs_by_phase(session, deployment)
        evaluations = latest_evaluations(session, deployment)
        records = records_of(session, deployment)
        session.expunge_all()
    day_through = through or default_through(data_span(events, deployment))
    status = plan_status(dep, phases, done, evaluations, day_through)
    out = _phases_public(dep, phases, done, status[1], evaluations)
    return PlanPublic(
        deployment=deployment,
        kind=str(dep.kind.value),
        go_live=dep.go_live,
        template=plan.template,
        version=plan.version,
        updated_at=aware(plan.updated_at),
        updated_by=plan.updated_by,
        phases=out,
        records=records,
        status=status[0],
    )


def _phases_public(
    dep: DeploymentPublic,
    phases: Sequence[PlanPhase],
    done: dict[str, GateSignoff],
    statuses: dict[str, calc.PhaseStatus],
    evaluations: dict[str, GateResult] | None,
) -> list[PhasePublic]:
    """Each phase with its dates, status and sign-off; its objectives, gate and evaluation
    too unless ``evaluations`` is None (the timeline of the charts needs only the dates)."""
    out = []
    for p in phases:
        start, end = calc.phase_dates(dep.go_live, p.start_day, p.end_day)
        full = evaluations is not None
        out.append(
            PhasePublic(
                key=p.key,
                name=p.name,
                start_day=p.start_day,
                end_day=p.end_day,
                start=start,
                end=end,
                objectives=list(p.objectives) if full else [],
                gate=list(p.gate) if full else [],
                status=statuses.get(p.key, "upcoming"),
                signoff=signoff_public(done[p.key]) if p.key in done else None,
                evaluation=(evaluations or {}).get(p.key),
            )
        )
    return out


def plan_status(
    dep: DeploymentPublic,
    phases: Sequence[PlanPhase],
    done: dict[str, GateSignoff],
    evaluations: dict[str, GateResult],
    through: date | None,
) -> tuple[PlanStatus, dict[str, calc.PhaseStatus]]:
    facts = []
    for p in phases:
        ev = evaluations.get(p.key)
        passed = done[p.key].kind if p.key in done else None
        facts.append(
            calc.PhaseFacts(
                p.key,
                p.name,
                p.start_day,
                p.end_day,
                passed=passed,  # type: ignore[arg-type]
                ready=ev.ready if ev else None,
                met=ev.met if ev else None,
                total=ev.total if ev else None,
                unmet=tuple(c.summary for c in ev.criteria if c.verdict != "met") if ev else (),
            )
        )
    day = calc.day_number(dep.go_live, through)
    pos = calc.position(facts, day)
    current = next((f for f in facts if f.key == pos.current), None)
    return (
        PlanStatus(
            day=day,
            days_total=phases[-1].end_day if phases else calc.PLAN_DAYS,
            through=through,
            current_phase=pos.current,
            calendar_phase=pos.calendar,
            calendar_ahead=pos.calendar_ahead,
            headline=pos.headline,
            lead=pos.lead,
            next_gate_ready=current.ready if current else None,
            next_gate_met=current.met if current else None,
            next_gate_total=current.total if current else None,
        ),
        pos.statuses,
    )


def signoffs(ledger: Ledger, deployment: str) -> list[SignoffPublic]:
    with ledger.session() as session:
        return [signoff_public(r) for r in signoffs_by_phase(session, deployment).values()]


def timeline(
    ledger: Ledger, deployment: str, *, with_evaluations: bool = False
) -> tuple[PlanStatus, list[PhasePublic]] | None:
    """Where the plan stands as of its latest evaluation, read from the ledger alone (for the
    overview, the charts and the monthly review: no query of the events store). None without
    a plan. ``with_evaluations`` adds each phase's objectives, gate and latest evaluation."""
    with ledger.session() as session:
        plan = session.scalar(select(Plan).where(Plan.deployment == deployment))
        if plan is None:
            return None
        phases = phases_of(session, plan)
        done = signoffs_by_phase(session, deployment)
        evaluations = latest_evaluations(session, deployment)
        session.expunge_all()
    dep = get_deployment(ledger, deployment)
    through = max((e.through for e in evaluations.values()), default=None)
    status, statuses = plan_status(dep, phases, done, evaluations, through)
    out = _phases_public(dep, phases, done, statuses, evaluations if with_evaluations else None)
    return status, out
