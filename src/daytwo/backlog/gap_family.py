"""Knowledge-gap findings in the backlog: the gaps one launch brought are one piece of work.

A knowledge gap joins an open item holding a gap that is still growing in the same journeys,
and the gaps an item holds weigh what they cost together (each customer question is in one gap
only), where every other kind of finding competes on its own.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.calc import CLOSED_STATUSES
from daytwo.backlog.facts import FindingFacts, facts_from_snapshot
from daytwo.backlog.models import Item, ItemFinding
from daytwo.detect.roots import GAP_FAMILY_OVERLAP, GAP_KIND, journey_overlap

__all__ = ["GAP_FAMILY_OVERLAP", "GAP_KIND", "gap_family", "growing_alongside", "journey_overlap"]

# Knowledge gaps growing at the same time in the same journeys came with one launch or change:
# one piece of work for whoever owns the bot's knowledge (and one problem on the findings page).


def gap_family(facts: list[FindingFacts]) -> FindingFacts | None:
    """The open knowledge gaps among ``facts`` as one: volumes and people summed, the highest
    severity, the lowest confidence, the largest gap's trend (None for fewer than two)."""
    gaps = [f for f in facts if f.kind == GAP_KIND and f.status != "resolved"]
    if len(gaps) < 2:
        return None
    largest = max(gaps, key=lambda f: f.volume_per_week)
    return FindingFacts(
        id=",".join(f.id for f in gaps),
        fingerprint="",
        kind=GAP_KIND,
        deployment=largest.deployment,
        title=f"{len(gaps)} knowledge gaps together",
        severity=max(f.severity for f in gaps),
        volume_per_week=sum(f.volume_per_week for f in gaps),
        confidence=min(f.confidence for f in gaps),
        trend=largest.trend,
        customers_per_week=sum(f.customers_per_week for f in gaps),
        agents_per_week=sum(f.agents_per_week for f in gaps),
    )


def growing_alongside(session: Session, finding: FindingFacts) -> Item | None:
    """An open item holding a knowledge gap that is still growing (its finding not resolved)
    and landed in the same journeys as this one (their mixes overlap by at least half): the
    new questions one launch brings (taxes, pay day, direct deposit) are one problem to own."""
    if not finding.journeys or finding.status == "resolved":
        return None
    rows = session.execute(
        select(Item, ItemFinding)
        .join(ItemFinding, ItemFinding.item_id == Item.id)
        .where(
            Item.deployment == finding.deployment,
            Item.source == "finding",
            Item.status.not_in(CLOSED_STATUSES),
            ItemFinding.kind == GAP_KIND,
        )
        .order_by(Item.id, ItemFinding.id)
    ).all()
    for item, link in rows:
        other = facts_from_snapshot(link.fingerprint, dict(link.snapshot))
        if (
            other.status != "resolved"
            and journey_overlap(finding.journeys, other.journeys) >= GAP_FAMILY_OVERLAP
        ):
            return item
    return None
