"""Plans in the ledger: apply (from YAML, the API or a template), evaluate the gates, sign off
or override (where a plan stands is :mod:`daytwo.plan.standing`).

Every write goes through one function here and is written to the audit log in the same
transaction. An evaluation is kept per phase and day, so the page reads the latest one and the
daily analysis keeps it current; evaluating again the same day replaces it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from daytwo.backlog.models import Owner
from daytwo.clock import aware
from daytwo.deployments.service import get_deployment
from daytwo.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from daytwo.governance import audit
from daytwo.governance.models import DataPolicy, Role
from daytwo.plan.evaluate import EvalContext, evaluate_gate
from daytwo.plan.ledger import (
    EventsMemo,
    Trigger,
    data_span,
    default_through,
    known_journeys,
    phases_of,
    plan_row,
    signoff_public,
    signoffs_by_phase,
    spec_of,
    store_evaluation,
)
from daytwo.plan.models import GateSignoff, Plan, PlanPhase, PlanRecord
from daytwo.plan.schemas import (
    GateResult,
    PhaseSpec,
    PlanPublic,
    PlanSpec,
    RecordSpec,
    SignoffPublic,
)
from daytwo.plan.standing import get_plan
from daytwo.plan.validate import check_plan, criterion_ids, parse_plan, template_for
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

# Roles that may sign a gate off; only an admin may override an unready one.
SIGNERS = (Role.owner, Role.admin)


def apply_plan(
    ledger: Ledger,
    events: EventStore,
    spec: PlanSpec | dict[str, Any],
    *,
    actor: str,
    ip: str | None = None,
    at: datetime | None = None,
) -> PlanPublic:
    """Validate ``spec`` against the catalog and the deployment, then store it as the
    deployment's plan (a new version); its records are added or updated. Sign-offs and
    evaluations are kept by phase key. Nothing is stored when anything is wrong."""
    plan_spec = spec if isinstance(spec, PlanSpec) else parse_plan(spec)
    dep = get_deployment(ledger, plan_spec.deployment)
    with ledger.session() as session:
        policy = session.scalar(select(DataPolicy).where(DataPolicy.deployment == dep.name))
        owners = list(session.scalars(select(Owner.handle)))
    check_plan(
        plan_spec,
        dep,
        known_journeys=known_journeys(events, dep),
        retention_days=policy.interaction_retention_days if policy else None,
        owners=owners,
    )
    now = at or datetime.now(UTC)
    with ledger.session() as session:
        row = session.scalar(select(Plan).where(Plan.deployment == dep.name))
        before = None
        if row is None:
            row = Plan(deployment=dep.name, version=0, created_at=now, updated_by=actor)
            session.add(row)
            session.flush()
        else:
            before = {"version": row.version, "phases": [p.key for p in phases_of(session, row)]}
            session.execute(delete(PlanPhase).where(PlanPhase.plan_id == row.id))
        row.version += 1
        row.template = plan_spec.template
        row.updated_at = now
        row.updated_by = actor
        for position, phase in enumerate(plan_spec.phases):
            ids = criterion_ids(phase.gate)
            gate = [
                {**c.model_dump(mode="json", exclude_none=True), "id": cid}
                for c, cid in zip(phase.gate, ids, strict=True)
            ]
            session.add(
                PlanPhase(
                    plan_id=row.id,
                    position=position,
                    key=phase.key,
                    name=phase.name,
                    start_day=phase.start_day,
                    end_day=phase.end_day,
                    objectives=list(phase.objectives),
                    gate=gate,
                )
            )
        for record in plan_spec.records:
            _upsert_record(session, dep.name, record, actor=actor, at=now)
        audit.record(
            session,
            actor=actor,
            action="plan.apply",
            target=dep.name,
            deployment=dep.name,
            ip=ip,
            before=before,
            after={
                "version": row.version,
                "phases": [p.key for p in plan_spec.phases],
                "records": len(plan_spec.records),
            },
        )
    return get_plan(ledger, events, dep.name)


def apply_template(
    ledger: Ledger, events: EventStore, deployment: str, *, actor: str
) -> PlanPublic:
    """The default plan of the deployment's kind, with its own targets."""
    return apply_plan(ledger, events, template_for(get_deployment(ledger, deployment)), actor=actor)


def _upsert_record(
    session: Session, deployment: str, spec: RecordSpec, *, actor: str, at: datetime
) -> None:
    row = session.scalar(
        select(PlanRecord).where(
            PlanRecord.deployment == deployment,
            PlanRecord.journey == spec.journey,
            PlanRecord.kind == spec.kind.value,
        )
    )
    if row is None:
        row = PlanRecord(
            deployment=deployment, journey=spec.journey, kind=spec.kind.value, recorded_at=at
        )
        session.add(row)
    row.title = spec.title
    row.location = spec.location
    row.owner = spec.owner
    row.recorded_by = actor


def add_record(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    spec: RecordSpec,
    *,
    actor: str,
    at: datetime | None = None,
) -> RecordSpec:
    """Add (or update) the runbook or handover record of one journey, audited."""
    dep = get_deployment(ledger, deployment)
    journeys = known_journeys(events, dep)
    if journeys and spec.journey not in journeys:
        raise InputError(
            f"journey: unknown journey {spec.journey!r}; the deployment has: "
            f"{', '.join(journeys)}.",
            details={"field": "journey"},
        )
    with ledger.session() as session:
        if (
            spec.owner is not None
            and session.scalar(select(Owner.id).where(Owner.handle == spec.owner)) is None
        ):
            raise InputError(
                f"owner: no owner with handle {spec.owner!r}.", details={"field": "owner"}
            )
        _upsert_record(session, deployment, spec, actor=actor, at=at or datetime.now(UTC))
        audit.record(
            session,
            actor=actor,
            action="plan.record",
            target=f"{deployment}/{spec.journey}/{spec.kind.value}",
            deployment=deployment,
            after=spec.model_dump(mode="json"),
        )
    return spec


# -- evaluation ----------------------------------------------------------------------------


def context(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    through: date | None = None,
    reads: EventsMemo | None = None,
) -> EvalContext:
    """What a gate is evaluated on; ``reads``: a memo of the events store's reads, for a caller
    that evaluates again while nothing writes the store (see :data:`EventsMemo`)."""
    dep = get_deployment(ledger, deployment)
    span = data_span(events, deployment, reads)
    latest = default_through(span)
    day = through or latest or (datetime.now(UTC).date() - timedelta(days=1))
    # The latest day is judged on the ledger as it stands; an earlier one as it stood then.
    current = latest is None or day >= latest
    state_at = datetime.now(UTC) if current else None
    return EvalContext(ledger, events, dep, day, span.first, state_at, reads=reads)


def evaluate_phase(ctx: EvalContext, phase: PlanPhase | PhaseSpec) -> GateResult:
    spec = phase if isinstance(phase, PhaseSpec) else spec_of(phase)
    ids = (
        [str(c["id"]) for c in phase.gate]
        if isinstance(phase, PlanPhase)
        else criterion_ids(spec.gate)
    )
    return evaluate_gate(ctx, spec.key, spec.gate, ids)


def evaluate(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    *,
    through: date | None = None,
    trigger: Trigger = "on_demand",
    upcoming: bool = True,
    reads: EventsMemo | None = None,
) -> list[GateResult]:
    """Evaluate the gates of the plan through ``through`` (default: the last day with data)
    and keep the evaluations: every gate, or (``upcoming=False``) the passed ones and the
    current one only. ``reads``: see :func:`context`."""
    ctx = context(ledger, events, deployment, through, reads)
    with ledger.session() as session:
        plan = plan_row(session, deployment)
        phases = phases_of(session, plan)
        done = set(signoffs_by_phase(session, deployment))
        session.expunge_all()
    if not upcoming:
        current = next((k for k, p in enumerate(phases) if p.key not in done), len(phases))
        phases = phases[: current + 1]
    results = [evaluate_phase(ctx, p) for p in phases]
    with ledger.session() as session:
        for r in results:
            store_evaluation(session, deployment, r, trigger)
    return results


# -- sign-off ------------------------------------------------------------------------------


def check_signer(actor: str, role: Role, *, override: bool) -> None:
    """Signing off needs the owner or admin role; overriding, the admin role."""
    if role not in SIGNERS:
        raise PermissionDenied(
            f"{actor} is {'an' if role.value[0] in 'aeiou' else 'a'} {role.value}: signing off "
            "a gate needs the owner or admin role."
        )
    if override and role != Role.admin:
        raise PermissionDenied(f"{actor} is an owner: only an admin can override a gate.")


def signoff(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    phase: str,
    *,
    actor: str,
    role: Role,
    reason: str = "",
    override: bool = False,
    through: date | None = None,
    at: datetime | None = None,
    ip: str | None = None,
    reads: EventsMemo | None = None,
) -> SignoffPublic:
    """Pass a gate. Signing off needs the owner or admin role and a ready gate (evaluated
    now); passing an unready gate is an override: an admin's, with a written reason. Gates
    pass in order. Recorded with who and when in the audit log. ``reads``: see
    :func:`context`."""
    check_signer(actor, role, override=override)
    if override and len(reason.strip()) < 10:
        raise InputError(
            "reason: an override needs a written reason (at least 10 characters).",
            details={"field": "reason"},
        )
    ctx = context(ledger, events, deployment, through, reads)
    with ledger.session() as session:
        plan = plan_row(session, deployment)
        phases = phases_of(session, plan)
        session.expunge_all()
        done = signoffs_by_phase(session, deployment)
    keys = [p.key for p in phases]
    if phase not in keys:
        raise NotFoundError(
            f"{deployment!r} has no phase {phase!r}; its phases: {', '.join(keys)}."
        )
    if phase in done:
        raise ConflictError(
            f"The {phase} gate was already passed on {aware(done[phase].at):%Y-%m-%d} "
            f"by {done[phase].actor}."
        )
    earlier = [k for k in keys[: keys.index(phase)] if k not in done]
    if earlier:
        raise ConflictError(f"Pass the {earlier[0]} gate first: gates pass in order.")
    target = phases[keys.index(phase)]
    result = evaluate_phase(ctx, target)
    unmet = [c for c in result.criteria if c.verdict != "met"]
    if not result.ready and not override:
        listed = "; ".join(c.summary for c in unmet[:3])
        raise ConflictError(
            f"The {target.name} gate is not ready: {len(unmet)} of {result.total} criteria not "
            f"met ({listed}). An admin can override it with a written reason.",
            details={"unmet": [c.id for c in unmet]},
        )
    kind = "override" if override and not result.ready else "signoff"
    when = at or datetime.now(UTC)
    with ledger.session() as session:
        store_evaluation(session, deployment, result, "on_demand")
        row = GateSignoff(
            deployment=deployment,
            phase=phase,
            kind=kind,
            actor=actor,
            role=role.value,
            at=when,
            reason=reason.strip(),
            ready=result.ready,
            unmet=[c.id for c in unmet],
            snapshot=result.model_dump(mode="json"),
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action=f"plan.{kind}",
            target=f"{deployment}/{phase}",
            deployment=deployment,
            ip=ip,
            after={
                "phase": phase,
                "ready": result.ready,
                "met": result.met,
                "total": result.total,
                "unmet": [c.id for c in unmet],
                "reason": reason.strip(),
            },
        )
        return signoff_public(row)


# -- reading -------------------------------------------------------------------------------
