"""Problems of the loop itself, raised as findings: unowned items, changes that regressed
their metric, items past their SLA, feedback nobody answered.

Each is a :class:`~daytwo.backlog.facts.FindingFacts` with a stable fingerprint, so that the
same problem raised again is recognised (by the detectors' ledger, or by the backlog: an
unowned item's finding never opens an item of its own, it is routed to the default owner).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select

from daytwo.backlog.calc import CLOSED_STATUSES
from daytwo.backlog.feedback import list_feedback
from daytwo.backlog.intake import FindingFacts
from daytwo.backlog.models import Change, Item
from daytwo.backlog.service import list_items, now_utc
from daytwo.store.ledger import Ledger

UNOWNED = "unowned_item"
REGRESSION = "change_regression"
SLA_MISSED = "missed_sla"
FEEDBACK_UNANSWERED = "unanswered_feedback"


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def raised_findings(
    ledger: Ledger, deployment: str | None = None, *, now: datetime | None = None
) -> list[FindingFacts]:
    """Every problem of the loop now, most severe first."""
    at = now or now_utc()
    out: list[FindingFacts] = []
    with ledger.session() as session:
        query = select(Item).where(Item.owner_id.is_(None), Item.status.not_in(CLOSED_STATUSES))
        if deployment:
            query = query.where(Item.deployment == deployment)
        for item in session.scalars(query.order_by(Item.id)):
            out.append(
                FindingFacts(
                    id=f"item-{item.id}-unowned",
                    fingerprint=_fingerprint(UNOWNED, item.deployment, str(item.id)),
                    kind=UNOWNED,
                    deployment=item.deployment,
                    title=f"Item {item.id} has no owner: {item.title}",
                    severity=3,
                    volume_per_week=float(item.signal.get("volume_per_week", 0.0)),
                    journey=item.journey,
                    details={"item_id": item.id},
                )
            )
        cq = select(Change).where(Change.verdict == "regressed")
        if deployment:
            cq = cq.where(Change.deployment == deployment)
        for change in session.scalars(cq.order_by(Change.id)):
            est = change.impact.get("estimate")
            out.append(
                FindingFacts(
                    id=f"change-{change.id}-regressed",
                    fingerprint=_fingerprint(REGRESSION, change.deployment, str(change.id)),
                    kind=REGRESSION,
                    deployment=change.deployment,
                    title=f"Change {change.id} ({change.title}) made {change.metric} worse",
                    severity=3,
                    volume_per_week=0.0,
                    metric=change.metric,
                    journey=change.journeys[0] if len(change.journeys) == 1 else None,
                    details={"change_id": change.id, "estimate": est},
                )
            )
    for late in list_items(ledger, deployment=deployment, overdue=True, now=at):
        clock = "triage" if late.sla.triage == "breached" else "fix"
        out.append(
            FindingFacts(
                id=f"item-{late.id}-sla-{clock}",
                fingerprint=_fingerprint(SLA_MISSED, late.deployment, str(late.id), clock),
                kind=SLA_MISSED,
                deployment=late.deployment,
                title=f"Item {late.id} ({late.priority}) missed its {clock} SLA",
                severity=3 if late.priority in ("P1", "P2") else 2,
                volume_per_week=0.0,
                journey=late.journey,
                details={"item_id": late.id, "owner": late.owner, "clock": clock},
            )
        )
    for fb in list_feedback(ledger, deployment=deployment, overdue=True, limit=1_000_000):
        out.append(
            FindingFacts(
                id=f"feedback-{fb.id}-unanswered",
                fingerprint=_fingerprint(FEEDBACK_UNANSWERED, fb.deployment, str(fb.id)),
                kind=FEEDBACK_UNANSWERED,
                deployment=fb.deployment,
                title=f"Feedback {fb.id} from {fb.source} is past its "
                f"{'acknowledgement' if fb.status == 'new' else 'action'} window",
                severity=2,
                volume_per_week=0.0,
                journey=fb.journey,
                details={"feedback_id": fb.id, "theme": fb.theme},
            )
        )
    return sorted(out, key=lambda f: -f.severity)
