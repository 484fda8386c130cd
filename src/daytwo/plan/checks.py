"""Checks on the operation itself: open P1 items, owners, SLAs, feedback windows, alert
routes, data policies, the audit chain, runbooks and handovers.

Each check reads the ledger as it stood at the end of the evaluated day where the ledger keeps
the dates (items opened and closed, SLA clocks, feedback windows, routing rules, records), and
as it stands now where it does not (an item's current priority and owner, data policies, the
audit chain).

**Alert routes** belong to the notifications domain, which sits above the plan. It answers
through :func:`register_alert_routes`: a provider that, given the ledger and a deployment,
returns each owner's alert routes (or None when notifications are not set up). Until one is
registered the check says so and counts as not enough data, never as met.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from daytwo.backlog.calc import CLOSED_STATUSES
from daytwo.backlog.models import Feedback, Item, Owner, RoutingRule
from daytwo.clock import aware
from daytwo.detect.models import FindingRecord
from daytwo.governance import audit
from daytwo.governance.models import DataPolicy
from daytwo.plan import calc
from daytwo.plan.ledger import (
    MAX_BLOCKING,
    OpenMemo,
    blocking_items,
    journey_owners,
    open_items,
)
from daytwo.plan.models import PlanRecord
from daytwo.plan.schemas import (
    CheckCriterion,
    CheckKind,
    CriterionResult,
    Evidence,
    Verdict,
)
from daytwo.store.ledger import Ledger

AlertRoutes = Callable[[Ledger, str], Mapping[str, Sequence[str]] | None]
_ALERT_ROUTES: list[AlertRoutes] = []
FEED_DETECTOR = "feed_quality"


def register_alert_routes(provider: AlertRoutes) -> None:
    """Let the notifications domain answer "which owners have an alert route?"."""
    if provider not in _ALERT_ROUTES:
        _ALERT_ROUTES.append(provider)


def unregister_alert_routes(provider: AlertRoutes) -> None:
    if provider in _ALERT_ROUTES:
        _ALERT_ROUTES.remove(provider)


@dataclass(frozen=True, slots=True)
class CheckContext:
    ledger: Ledger
    deployment: str
    journeys: tuple[str, ...]
    through: date
    # When the ledger's state is read (items open, owners, records): the end of the evaluated
    # day, or now when the evaluation is of the latest day (what the last analysis created
    # counts, though it was written after midnight).
    state_at: datetime | None = None
    # What the evaluation has read of the backlog (see EvalContext.memo).
    memo: OpenMemo = field(default_factory=dict, compare=False, repr=False)

    @property
    def at(self) -> datetime:
        """The end of the evaluated day."""
        return datetime.combine(self.through + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def ledger_at(self) -> datetime:
        return max(self.at, self.state_at) if self.state_at is not None else self.at

    def window_start(self, days: int) -> datetime:
        return self.at - timedelta(days=days)


LABELS: dict[CheckKind, str] = {
    CheckKind.no_open_items: "No open {priority} item",
    CheckKind.journeys_owned: "Every journey has an owner",
    CheckKind.items_owned: "Every open item has an owner",
    CheckKind.sla_compliance: "SLA compliance ≥ {share} over {window} days",
    CheckKind.feedback_action_window: "Feedback actioned in time ≥ {share} over {window} days",
    CheckKind.alert_routes: "Alert routes set for every owner",
    CheckKind.data_feed_healthy: "Data feed healthy for {window} days",
    CheckKind.data_policies: "Retention and redaction policies set",
    CheckKind.audit_chain: "Audit chain verified",
    CheckKind.journey_records: "A {record} for every journey",
    CheckKind.no_emerging_gap: "No new subject in the unanswered questions over {window} days",
}


def check_label(spec: CheckCriterion) -> str:
    if spec.name:
        return spec.name
    text = LABELS[spec.check].format(
        priority=spec.priority,
        share=f"{100 * (spec.at_least or 0):.0f}%",
        window=spec.window_days,
        record=spec.record.value,
    )
    if spec.check in (CheckKind.no_open_items, CheckKind.no_emerging_gap) and spec.journey:
        text += f" in {spec.journey}"
    return text


def run_check(ctx: CheckContext, spec: CheckCriterion, cid: str) -> CriterionResult:
    """Evaluate one check on the operation (those that read the ledger; ``no_emerging_gap``
    reads the events: :mod:`daytwo.plan.gap_check`)."""
    with ctx.ledger.session() as session:
        verdict, summary, extra = _CHECKS[spec.check](session, ctx, spec)
    return CriterionResult(
        id=cid, kind="check", label=check_label(spec), verdict=verdict, summary=summary, **extra
    )


Outcome = tuple[Verdict, str, dict[str, object]]


def _items_outcome(session: Session, rows: list[Item], summary: str, **extra: object) -> Outcome:
    """Met when no item is listed; the listed items block the criterion."""
    details: dict[str, object] = {
        "value": float(len(rows)),
        "unit": "count",
        "blocking": blocking_items(session, rows),
        **extra,
    }
    return calc.count_verdict(len(rows)), summary, details


def _no_open_items(session: Session, ctx: CheckContext, spec: CheckCriterion) -> Outcome:
    rows = open_items(
        session, ctx.deployment, ctx.ledger_at, priority=spec.priority, journey=spec.journey,
        memo=ctx.memo,
    )  # fmt: skip
    where = f" in {spec.journey}" if spec.journey else ""
    summary = (
        f"no {spec.priority} item open{where}"
        if not rows
        else f"{len(rows)} {spec.priority} item{'s' if len(rows) != 1 else ''} open{where}"
    )
    evidence = [
        Evidence(
            label=f"{spec.priority} items",
            href=f"/backlog?deployment={ctx.deployment}&priority={spec.priority}",
        )
    ]
    return _items_outcome(session, rows, summary, evidence=evidence)


def _journeys_owned(session: Session, ctx: CheckContext, spec: CheckCriterion) -> Outcome:
    if not ctx.journeys:
        return "no_data", "the deployment lists no journeys", {}
    owners = journey_owners(session, ctx.deployment, ctx.ledger_at)
    missing = [j for j in ctx.journeys if j not in owners]
    summary = (
        f"all {len(ctx.journeys)} journeys have an owner"
        if not missing
        else f"{len(missing)} of {len(ctx.journeys)} journeys without an owner: "
        + ", ".join(missing)
    )
    return (
        calc.count_verdict(len(missing)),
        summary,
        {
            "value": (len(ctx.journeys) - len(missing)) / len(ctx.journeys),
            "unit": "rate",
            "n": len(ctx.journeys),
            "evidence": [
                Evidence(label="routing rules", href=f"/backlog?deployment={ctx.deployment}")
            ],
        },
    )


def _items_owned(session: Session, ctx: CheckContext, spec: CheckCriterion) -> Outcome:
    rows = [
        r
        for r in open_items(session, ctx.deployment, ctx.ledger_at, memo=ctx.memo)
        if r.owner_id is None
    ]
    summary = (
        "every open item has an owner" if not rows else f"{len(rows)} open items without an owner"
    )
    return _items_outcome(session, rows, summary)


def _sla(session: Session, ctx: CheckContext, spec: CheckCriterion) -> Outcome:
    """SLA clocks (triage and fix) that came due in the window: the share met in time."""
    start, at = ctx.window_start(spec.window_days), ctx.at
    rows = session.scalars(
        select(Item).where(
            Item.deployment == ctx.deployment,
            or_(
                (Item.triage_due >= start) & (Item.triage_due < at),
                (Item.fix_due >= start) & (Item.fix_due < at),
            ),
        )
    ).all()
    good = total = 0
    late: list[Item] = []
    for r in rows:
        clocks = (
            (r.triage_due, r.triaged_at),
            (r.fix_due, r.fix_shipped_at),
        )
        missed = False
        for due, done in clocks:
            due = aware(due)
            if not (start <= due < at):
                continue
            if (
                done is None
                and r.status == "wont_fix"
                and r.closed_at
                and aware(r.closed_at) <= due
            ):
                continue  # closed without a fix before the clock ran out: no SLA to meet
            total += 1
            if done is not None and aware(done) <= due:
                good += 1
            else:
                missed = True
        if missed:
            late.append(r)
    share = good / total if total else None
    target = spec.at_least or 0.0
    summary = (
        f"no SLA came due in the last {spec.window_days} days"
        if share is None
        else f"{100 * share:.0f}% of {total} SLA clocks met vs ≥ {100 * target:.0f}%"
    )
    return (
        calc.share_verdict(good, total, target),
        summary,
        {
            "value": share,
            "n": total,
            "unit": "rate",
            "blocking": blocking_items(session, late),
            "window_start": start.date(),
            "window_end": ctx.through,
            "evidence": [
                Evidence(
                    label="overdue items", href=f"/backlog?deployment={ctx.deployment}&overdue=1"
                )
            ],
        },
    )


def _feedback(session: Session, ctx: CheckContext, spec: CheckCriterion) -> Outcome:
    """Feedback whose action window ended in the window: the share closed within it."""
    start, at = ctx.window_start(spec.window_days), ctx.at
    rows = session.scalars(
        select(Feedback).where(
            Feedback.deployment == ctx.deployment,
            Feedback.action_due >= start,
            Feedback.action_due < at,
        )
    ).all()
    good = sum(1 for r in rows if r.closed_at and aware(r.closed_at) <= aware(r.action_due))
    total = len(rows)
    target = spec.at_least or 0.0
    summary = (
        f"no feedback window ended in the last {spec.window_days} days"
        if not total
        else f"{100 * good / total:.0f}% of {total} feedback actioned in its window vs "
        f"≥ {100 * target:.0f}%"
    )
    return (
        calc.share_verdict(good, total, target),
        summary,
        {
            "value": good / total if total else None,
            "n": total,
            "unit": "rate",
            "window_start": start.date(),
            "window_end": ctx.through,
            "evidence": [
                Evidence(label="feedback inbox", href=f"/feedback?deployment={ctx.deployment}")
            ],
        },
    )


def _alert_routes(session: Session, ctx: CheckContext, spec: CheckCriterion) -> Outcome:
    answers = [r for p in _ALERT_ROUTES if (r := p(ctx.ledger, ctx.deployment)) is not None]
    if not answers:
        return "no_data", "alert routes not configured: no notification routes exist yet", {}
    routes: dict[str, list[str]] = {}
    for answer in answers:
        for handle, found in answer.items():
            routes.setdefault(handle, []).extend(found)
    owners = _owners_of(session, ctx.deployment)
    if not owners:
        return "no_data", "no owners to route alerts to", {}
    missing = [o for o in owners if not routes.get(o)]
    summary = (
        f"all {len(owners)} owners have an alert route"
        if not missing
        else f"{len(missing)} of {len(owners)} owners without an alert route: " + ", ".join(missing)
    )
    return (
        calc.count_verdict(len(missing)),
        summary,
        {
            "value": (len(owners) - len(missing)) / len(owners),
            "unit": "rate",
            "n": len(owners),
        },
    )


def _owners_of(session: Session, deployment: str) -> list[str]:
    """Owners of the deployment: its open items' owners and its routing rules' owners."""
    by_items = (
        select(Owner.handle)
        .join(Item, Item.owner_id == Owner.id)
        .where(Item.deployment == deployment, Item.status.not_in(CLOSED_STATUSES))
    )
    by_rules = (
        select(Owner.handle)
        .join(RoutingRule, RoutingRule.owner_id == Owner.id)
        .where(RoutingRule.deployment == deployment)
    )
    handles = set(session.scalars(by_items)) | set(session.scalars(by_rules))
    return sorted(handles)


def _data_feed(session: Session, ctx: CheckContext, spec: CheckCriterion) -> Outcome:
    """No data-quality finding of the feed (gap, volume, nulls, duplicates, skew) whose time
    overlaps the window."""
    start = ctx.window_start(spec.window_days)
    rows = session.scalars(
        select(FindingRecord)
        .where(
            FindingRecord.deployment == ctx.deployment,
            FindingRecord.detector == FEED_DETECTOR,
            FindingRecord.first_seen < ctx.at,
            FindingRecord.last_seen >= start,
        )
        .order_by(FindingRecord.last_seen.desc())
    ).all()
    evidence = [
        Evidence(label=r.title, href=f"/findings?deployment={ctx.deployment}&kind={r.kind}")
        for r in rows[:MAX_BLOCKING]
    ]
    if not rows:
        summary = f"no data-quality problem in the last {spec.window_days} days"
    else:
        last = max(aware(r.last_seen) for r in rows)
        summary = (
            f"{len(rows)} data-quality problem{'s' if len(rows) != 1 else ''} in the last "
            f"{spec.window_days} days (latest seen {last:%d %b %H:%M})"
        )
    return (
        calc.count_verdict(len(rows)),
        summary,
        {
            "value": float(len(rows)),
            "unit": "count",
            "evidence": evidence,
            "window_start": start.date(),
            "window_end": ctx.through,
        },
    )


def _data_policies(session: Session, ctx: CheckContext, spec: CheckCriterion) -> Outcome:
    row = session.scalar(select(DataPolicy).where(DataPolicy.deployment == ctx.deployment))
    evidence = [Evidence(label="audit log: policy changes", href="/audit?action=policy")]
    if row is None:
        return (
            "not_met",
            "no data policy: redaction is the default, raw data kept forever",
            {"evidence": evidence},
        )
    missing = []
    if row.text_retention_days is None:
        missing.append("text retention")
    if row.interaction_retention_days is None:
        missing.append("interaction retention")
    if missing:
        return "not_met", "policy set, but no " + " and no ".join(missing), {"evidence": evidence}
    summary = (
        f"redaction policy set; text kept {row.text_retention_days} days, interactions "
        f"{row.interaction_retention_days} days"
    )
    return "met", summary, {"evidence": evidence}


def _audit_chain(session: Session, ctx: CheckContext, spec: CheckCriterion) -> Outcome:
    result = audit.verify(ctx.ledger)
    evidence = [Evidence(label="audit log", href="/audit")]
    if result.ok:
        return (
            "met",
            f"{result.entries:,} entries verified, head {result.head[:12]}",
            {"n": result.entries, "evidence": evidence},
        )
    first = result.breaks[0]
    return (
        "not_met",
        f"{len(result.breaks)} breaks; first at entry {first.entry_id}: {first.message}",
        {"n": result.entries, "evidence": evidence},
    )


def _journey_records(session: Session, ctx: CheckContext, spec: CheckCriterion) -> Outcome:
    if not ctx.journeys:
        return "no_data", "the deployment lists no journeys", {}
    rows = session.scalars(
        select(PlanRecord).where(
            PlanRecord.deployment == ctx.deployment,
            PlanRecord.kind == spec.record.value,
            PlanRecord.recorded_at < ctx.ledger_at,
        )
    ).all()
    have = {r.journey: r for r in rows}
    missing = [j for j in ctx.journeys if j not in have]
    kind = spec.record.value
    summary = (
        f"a {kind} for each of {len(ctx.journeys)} journeys"
        if not missing
        else f"{len(missing)} of {len(ctx.journeys)} journeys without a {kind}: "
        + ", ".join(missing)
    )
    evidence = [
        Evidence(label=f"{r.journey}: {r.title}", href=r.location or "/plan")
        for r in sorted(rows, key=lambda r: r.journey)
        if r.journey in ctx.journeys
    ][:MAX_BLOCKING]
    return (
        calc.count_verdict(len(missing)),
        summary,
        {
            "value": (len(ctx.journeys) - len(missing)) / len(ctx.journeys),
            "unit": "rate",
            "n": len(ctx.journeys),
            "evidence": evidence,
        },
    )


_CHECKS: dict[CheckKind, Callable[[Session, CheckContext, CheckCriterion], Outcome]] = {
    CheckKind.no_open_items: _no_open_items,
    CheckKind.journeys_owned: _journeys_owned,
    CheckKind.items_owned: _items_owned,
    CheckKind.sla_compliance: _sla,
    CheckKind.feedback_action_window: _feedback,
    CheckKind.alert_routes: _alert_routes,
    CheckKind.data_feed_healthy: _data_feed,
    CheckKind.data_policies: _data_policies,
    CheckKind.audit_chain: _audit_chain,
    CheckKind.journey_records: _journey_records,
}
