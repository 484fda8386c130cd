"""The plan's part in every analysis: evaluate the gates, and raise a finding when a gate that
was passed no longer holds.

After the detectors have run for a deployment, :func:`after_analysis` (the pipeline's hook)
calls :func:`evaluate_gates`, which evaluates every gate of
its plan through the analysed day and keeps the evaluations. For each passed gate, a criterion
that was met when the gate was passed and is now not met raises one finding per gate
("Stabilise exit criteria no longer hold: ..."), kept in the findings ledger like any other
(detector ``plan_gates``) and handed to the backlog, so it gets an owner and a priority. The
finding resolves when the criteria hold again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from daytwo.backlog.intake import absorb_finding, facts_from_detect
from daytwo.backlog.models import Item, ItemFinding
from daytwo.backlog.policy import BacklogPolicy
from daytwo.detect.findings import Finding, FindingScope, Severity
from daytwo.detect.schemas import FindingFilter
from daytwo.detect.service import list_findings, record_raised
from daytwo.pipeline import AnalysisContext, hookimpl
from daytwo.plan.ledger import EventsMemo
from daytwo.plan.models import GateSignoff, Plan, PlanPhase
from daytwo.plan.schemas import GateResult
from daytwo.plan.service import evaluate
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

SOURCE = "plan_gates"
KIND = "gate_no_longer_holds"


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    deployment: str
    through: date | None
    gates: list[GateResult]
    raised: int
    resolved: int


def regressed_findings(
    deployment: str,
    passed: Sequence[tuple[PlanPhase, GateSignoff]],
    results: dict[str, GateResult],
    at: datetime,
) -> list[Finding]:
    """A finding for each passed gate with a criterion met when it was passed, not met now."""
    out = []
    for phase, signed in passed:
        now = results.get(phase.key)
        if now is None:
            continue
        held = {c["id"] for c in signed.snapshot.get("criteria", []) if c.get("verdict") == "met"}
        failing = [c for c in now.criteria if c.id in held and c.verdict == "not_met"]
        if not failing:
            continue
        metrics = [c.evidence[0].href for c in failing if c.kind == "metric" and c.evidence]
        title = f"{phase.name} exit criteria no longer hold: " + "; ".join(
            c.summary for c in failing
        )
        out.append(
            Finding(
                detector=SOURCE,
                kind=KIND,
                title=title[:500],
                scope=FindingScope(deployment),
                severity=Severity.high,
                first_seen=at,
                last_seen=at,
                key=(phase.key,),
                details={
                    "phase": phase.key,
                    "passed_on": signed.at.date().isoformat(),
                    "passed_by": signed.actor,
                    "criteria": [c.id for c in failing],
                    "summaries": [c.summary for c in failing],
                    "evidence": metrics,
                },
            )
        )
    return out


def _severity(link: ItemFinding) -> tuple[int, int]:
    return int(link.snapshot.get("severity", 0)), link.id


def _under_blocking(ledger: Ledger, finding: Finding, results: dict[str, GateResult]) -> Finding:
    """``finding`` (a gate that no longer holds) as a symptom of the problem blocking it, when
    every criterion that broke is blocked by an open item of another problem: rooted at the
    finding standing for the highest-scored of those items. A criterion broken with no open
    item behind it is news of its own: the gate stays a problem of its own."""
    now = results.get(str(finding.details["phase"]))
    if now is None:
        return finding
    broken = set(finding.details["criteria"])
    blocked = [[b.id for b in c.blocking] for c in now.criteria if c.id in broken]
    if not blocked or not all(blocked):
        return finding
    ids = {i for ids in blocked for i in ids}
    with ledger.session() as session:
        items = session.scalars(select(Item).where(Item.id.in_(ids))).all()
        links = session.scalars(select(ItemFinding).where(ItemFinding.item_id.in_(ids))).all()
        by_item: dict[int, list[ItemFinding]] = {}
        for link in links:
            by_item.setdefault(link.item_id, []).append(link)
        for item in sorted(items, key=lambda i: (-i.score, i.id)):
            held = by_item.get(item.id, [])
            if any(link.kind == KIND for link in held):
                continue  # a gate's own item: not a cause
            standing = [
                link
                for link in held
                if not link.snapshot.get("root") and link.snapshot.get("status") != "resolved"
            ]
            # The finding the item was opened from, else its most severe one standing alone.
            lead = [link for link in standing if link.fingerprint == item.lead]
            if lead or standing:
                top = lead[0] if lead else max(standing, key=_severity)
                return replace(finding, details={**finding.details, "root": top.fingerprint})
    return finding


def evaluate_gates(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    *,
    through: date | None = None,
    trigger: str = "analysis",
    upcoming: bool = True,
    settings: Settings | None = None,
    reads: EventsMemo | None = None,
) -> PlanOutcome | None:
    """Evaluate ``deployment``'s plan (if it has one) and raise or resolve its findings;
    ``upcoming=False`` leaves the gates after the current one alone (a replay of history).
    A raised finding goes to the backlog under ``settings``' policy (default: the
    environment's). ``reads``: a memo of the events store's reads shared by a caller's
    evaluations while nothing writes the store (:func:`daytwo.plan.service.context`)."""
    with ledger.session() as session:
        plan = session.scalar(select(Plan).where(Plan.deployment == deployment))
        if plan is None:
            return None
        phases = {
            p.key: p for p in session.scalars(select(PlanPhase).where(PlanPhase.plan_id == plan.id))
        }
        signed = list(
            session.scalars(
                select(GateSignoff)
                .where(GateSignoff.deployment == deployment)
                .order_by(GateSignoff.id)
            )
        )
        session.expunge_all()
    gates = evaluate(
        ledger,
        events,
        deployment,
        through=through,
        trigger="analysis" if trigger == "analysis" else "on_demand",
        upcoming=upcoming,
        reads=reads,
    )
    day = gates[0].through if gates else through
    at = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC) if day else datetime.now(UTC)
    passed = [(phases[s.phase], s) for s in signed if s.phase in phases]
    by_phase = {g.phase: g for g in gates}
    findings = [
        _under_blocking(ledger, f, by_phase)
        for f in regressed_findings(deployment, passed, by_phase, at)
    ]
    recorded = record_raised(ledger, deployment, SOURCE, findings, at=at)
    if recorded.new or recorded.updated or recorded.resolved:
        policy = BacklogPolicy.from_settings(settings or Settings())
        raised = list_findings(ledger, FindingFilter(deployment=deployment, detector=SOURCE))
        for f in raised:
            absorb_finding(ledger, facts_from_detect(f), policy, actor=SOURCE)
    return PlanOutcome(deployment, day, gates, recorded.new + recorded.regressed, recorded.resolved)


@hookimpl
def after_analysis(ctx: AnalysisContext) -> None:
    """The pipeline's hook: every gate of the analysed deployment's plan, through the last day
    the analysis covered (each day of a replay in turn)."""
    through = (ctx.as_of - timedelta(microseconds=1)).astimezone(UTC).date()
    evaluate_gates(
        ctx.ledger, ctx.events, ctx.deployment_name, through=through, settings=ctx.settings
    )
