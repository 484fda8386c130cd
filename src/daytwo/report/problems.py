"""What got worse, as problems rather than findings.

The detectors see one problem in many cells (a site's drop is also each of its teams'), and the
backlog holds one item per problem. A report counts what a reader acts on: the open findings
grouped by the backlog item they joined; a finding no item holds yet joins its root's problem
(the finding that explains it, see :mod:`daytwo.detect.roots`) or stands alone. Each problem
links to its item, or to its finding while no item holds it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.models import Item, ItemFinding, Owner
from daytwo.detect.findings import Severity
from daytwo.detect.models import FindingRecord

OPEN_FINDING_STATUSES = ("open", "regressed")


class Problem(BaseModel):
    """One problem still open: its item (when the backlog holds it) and its findings."""

    item_id: int | None
    finding_id: int  # the most severe of its findings
    title: str
    owner: str | None
    priority: str | None
    item_status: str | None
    severity: str
    findings: int
    first_seen: datetime
    new: bool  # first seen in the report's period
    href: str

    @property
    def label(self) -> str:
        return f"#{self.item_id}" if self.item_id is not None else f"finding {self.finding_id}"


def open_problems(
    session: Session, deployment: str, start: datetime, end: datetime
) -> list[Problem]:
    """The deployment's open problems, most severe first; ``new`` when first seen in
    [``start``, ``end``)."""
    findings = session.scalars(
        select(FindingRecord)
        .where(
            FindingRecord.deployment == deployment,
            FindingRecord.status.in_(OPEN_FINDING_STATUSES),
        )
        .order_by(FindingRecord.severity.desc(), FindingRecord.id)
    ).all()
    prints = {f.fingerprint for f in findings}
    links = select(ItemFinding.fingerprint, ItemFinding.item_id).where(
        ItemFinding.fingerprint.in_(prints)
    )
    item_of = dict(session.execute(links).all())
    groups: dict[tuple[str, object], list[FindingRecord]] = {}
    for f in findings:
        root = f.details.get("root")
        root = root if root in prints else f.fingerprint
        item = item_of.get(f.fingerprint, item_of.get(root))
        key: tuple[str, object] = ("item", item) if item is not None else ("finding", root)
        groups.setdefault(key, []).append(f)
    rows = (
        select(Item, Owner.handle)
        .outerjoin(Owner, Owner.id == Item.owner_id)
        .where(Item.id.in_([k[1] for k in groups if k[0] == "item"]))
    )
    items = {item.id: (item, handle) for item, handle in session.execute(rows)}
    problems: list[Problem] = []
    for (kind, ref), members in groups.items():
        lead = members[0]  # the query orders by severity
        first = min(m.first_seen for m in members)
        row = items.get(ref) if kind == "item" else None  # type: ignore[call-overload]
        item, owner = row if row is not None else (None, None)
        problems.append(
            Problem(
                item_id=item.id if item else None,
                finding_id=lead.id,
                title=item.title if item else lead.title,
                owner=owner,
                priority=item.priority if item else None,
                item_status=item.status if item else None,
                severity=Severity(lead.severity).name,
                findings=len(members),
                first_seen=first,
                new=start <= first < end,
                href=f"/backlog/{item.id}" if item else f"/findings/{lead.id}",
            )
        )
    return sorted(
        problems, key=lambda p: (-Severity[p.severity], p.priority or "P9", p.item_id or 0)
    )
