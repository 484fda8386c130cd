"""Suspect changes: the recorded changes whose time and scope fit a problem's onset, ranked.

A problem began on a day, somewhere (a deployment, perhaps a journey or a segment), in a metric.
The changes shipped to that deployment shortly before (:data:`LOOKBACK_DAYS`; up to
:data:`AFTER_DAYS` after, since an onset is only known to the day of the detector's window)
are its suspects, each scored on three fits that multiply:

- **time**: the closer the change shipped to the onset, the likelier (1 on the day, falling to
  0.2 at the edge of the look-back; a change after the onset counts half);
- **scope**: a change to the problem's own journey fits best (1); a change to the whole
  deployment fits anywhere (0.6); a journey change behind a deployment-wide problem fits
  less (0.5); a change to other journeys does not fit at all;
- **kind**: a change judged by the problem's own metric fits best (1); a change of a kind
  that moves that sort of metric next (0.8: a model change and latency or errors, a flow change
  and escalations, a knowledge change and fallbacks or gaps); any other change 0.4.

Each suspect carries its reason in words ("flow change to card_declined on 20 Oct;
escalation rose in that journey from 21 Oct"), and whether it is already linked to the item.
The ranking is pure (:func:`rank_suspects`); the service functions read the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.models import Change, ChangeItem, Item, ItemFinding
from daytwo.clock import aware
from daytwo.detect.models import FindingRecord
from daytwo.errors import NotFoundError
from daytwo.metrics.catalog import REGISTRY
from daytwo.store.ledger import Ledger

LOOKBACK_DAYS = 14
AFTER_DAYS = 2
MIN_SCORE = 0.1
MAX_SUSPECTS = 5

# Which metrics (and finding kinds) each kind of change is known to move.
MOVES: dict[str, frozenset[str]] = {
    "model": frozenset(
        {
            "latency_p50", "latency_p95", "latency_p99", "latency_mean", "error_rate",
            "availability", "cost_per_interaction", "ai_cost", "containment_rate",
            "fallback_rate_conversation", "fallback_rate_turn", "silent_failure",
        }
    ),
    "prompt": frozenset(
        {
            "fallback_rate_conversation", "fallback_rate_turn", "containment_rate",
            "rephrase_rate", "escalation_rate", "csat", "silent_failure", "sentiment",
        }
    ),
    "knowledge": frozenset(
        {
            "fallback_rate_conversation", "fallback_rate_turn", "containment_rate",
            "rephrase_rate", "knowledge_gap", "escalation_rate",
        }
    ),
    "flow": frozenset(
        {
            "escalation_rate", "containment_rate", "abandonment_rate", "average_handle_time",
            "failure_point", "csat",
        }
    ),
    "config": frozenset({"error_rate", "availability", "latency_p95", "freshness_gap"}),
    "training": frozenset(
        {"suggestion_acceptance_rate", "ai_usage_rate", "feature_utilisation", "adoption_decay"}
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Onset:
    """What a problem is, where and since when: the facts the suspects are fitted to."""

    deployment: str
    onset: datetime
    journey: str | None = None
    segment: tuple[str, str] | None = None
    metric: str | None = None
    kind: str | None = None  # the finding kind (degradation, knowledge_gap...)
    worse: bool = True  # the metric moved the wrong way (for the wording)


@dataclass(frozen=True, slots=True)
class ChangeFacts:
    id: int
    deployment: str
    kind: str
    title: str
    shipped_at: datetime
    journeys: tuple[str, ...]
    metric: str


class Suspect(BaseModel):
    """A recorded change that may have caused a problem, and why."""

    change_id: int
    title: str
    kind: str
    shipped_at: datetime
    journeys: list[str]
    score: float
    reason: str
    linked: bool = False


def _time_fit(shipped: datetime, onset: datetime) -> float:
    gap = (onset - shipped) / timedelta(days=1)
    if gap < -AFTER_DAYS or gap > LOOKBACK_DAYS:
        return 0.0
    if gap < 0:
        return 0.5
    return 1.0 - 0.8 * gap / LOOKBACK_DAYS


def _scope_fit(change: ChangeFacts, problem: Onset) -> float:
    if not change.journeys:
        return 0.6
    if problem.journey is None:
        return 0.5
    return 1.0 if problem.journey in change.journeys else 0.0


def _kind_fit(change: ChangeFacts, problem: Onset) -> float:
    if problem.metric is not None and change.metric == problem.metric:
        return 1.0
    moved = MOVES.get(change.kind, frozenset())
    if (problem.metric in moved) or (problem.kind in moved):
        return 0.8
    return 0.4


def _day(at: datetime) -> str:
    return f"{at.day} {at:%b}"


def reason(change: ChangeFacts, problem: Onset) -> str:
    """``flow change to card_declined on 20 Oct; escalation rose in that journey from 21 Oct``"""
    where = ", ".join(change.journeys) if change.journeys else "the whole deployment"
    said = f"{change.kind} change to {where} on {_day(change.shipped_at)}"
    metric = REGISTRY.get(problem.metric or "")
    what = metric.name.lower() if metric else (problem.kind or "the problem").replace("_", " ")
    if metric is not None and metric.good is not None:
        went_up = (metric.good == "down") == problem.worse
        moved = "rose" if went_up else "fell"
    else:
        moved = "appeared"
    if problem.journey and problem.journey in change.journeys:
        place = " in that journey"
    elif problem.journey:
        place = f" in {problem.journey}"
    elif problem.segment:
        place = f" on {problem.segment[0]} {problem.segment[1]}"
    else:
        place = ""
    return f"{said}; {what} {moved}{place} from {_day(problem.onset)}"


def rank_suspects(
    problem: Onset, changes: Sequence[ChangeFacts], linked: frozenset[int] = frozenset()
) -> list[Suspect]:
    """The changes that fit ``problem``, best first (see the module docstring)."""
    out: list[Suspect] = []
    for c in changes:
        if c.deployment != problem.deployment:
            continue
        score = (
            _time_fit(aware(c.shipped_at), aware(problem.onset))
            * _scope_fit(c, problem)
            * _kind_fit(c, problem)
        )
        if score < MIN_SCORE and c.id not in linked:
            continue
        out.append(
            Suspect(
                change_id=c.id,
                title=c.title,
                kind=c.kind,
                shipped_at=c.shipped_at,
                journeys=list(c.journeys),
                score=round(score, 3),
                reason=reason(c, problem),
                linked=c.id in linked,
            )
        )
    out.sort(key=lambda s: (-s.linked, -s.score, s.shipped_at))
    return out[:MAX_SUSPECTS]


# -- from the ledger -----------------------------------------------------------------------


def _changes(session: Session, deployment: str) -> list[ChangeFacts]:
    rows = session.scalars(select(Change).where(Change.deployment == deployment))
    return [
        ChangeFacts(
            r.id, r.deployment, r.kind, r.title, aware(r.shipped_at), tuple(r.journeys), r.metric
        )
        for r in rows
    ]


def onset_of(row: FindingRecord) -> Onset:
    worse = True
    metric = REGISTRY.get(row.metric or "")
    if metric is not None and metric.good and None not in (row.baseline_value, row.current_value):
        delta = float(row.current_value or 0) - float(row.baseline_value or 0)
        worse = (delta < 0) if metric.good == "up" else (delta > 0)
    segment = (
        (row.segment_key, row.segment_value) if row.segment_key and row.segment_value else None
    )
    return Onset(
        deployment=row.deployment,
        onset=aware(row.first_seen),
        journey=row.journey,
        segment=segment,
        metric=row.metric,
        kind=row.kind,
        worse=worse,
    )


def _finding(session: Session, finding_id: int) -> FindingRecord:
    row = session.get(FindingRecord, finding_id)
    if row is None:
        raise NotFoundError(f"No finding {finding_id}.")
    return row


def item_of_finding(session: Session, row: FindingRecord) -> Item | None:
    """The backlog item a finding joined (by fingerprint), if any."""
    link = session.scalar(select(ItemFinding).where(ItemFinding.fingerprint == row.fingerprint))
    return session.get(Item, link.item_id) if link is not None else None


def _linked(session: Session, item: Item | None) -> frozenset[int]:
    if item is None:
        return frozenset()
    return frozenset(
        session.scalars(select(ChangeItem.change_id).where(ChangeItem.item_id == item.id))
    )


def finding_suspects(ledger: Ledger, finding_id: int) -> list[Suspect]:
    """The suspect changes of one finding (404 for an unknown one)."""
    with ledger.session() as session:
        row = _finding(session, finding_id)
        linked = _linked(session, item_of_finding(session, row))
        return rank_suspects(onset_of(row), _changes(session, row.deployment), linked)


def item_suspects(ledger: Ledger, item_id: int) -> list[Suspect]:
    """The suspect changes of an item: the best fit to any of its findings, each change once
    (an item with no finding is fitted to its own journey and creation day)."""
    with ledger.session() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise NotFoundError(f"No item {item_id}.")
        changes = _changes(session, item.deployment)
        linked = _linked(session, item)
        prints = list(
            session.scalars(select(ItemFinding.fingerprint).where(ItemFinding.item_id == item_id))
        )
        findings = (
            list(
                session.scalars(select(FindingRecord).where(FindingRecord.fingerprint.in_(prints)))
            )
            if prints
            else []
        )
        problems = [onset_of(f) for f in findings] or [
            Onset(item.deployment, aware(item.created_at), journey=item.journey)
        ]
        best: dict[int, Suspect] = {}
        for problem in problems:
            for s in rank_suspects(problem, changes, linked):
                if s.change_id not in best or s.score > best[s.change_id].score:
                    best[s.change_id] = s
        ranked = sorted(best.values(), key=lambda s: (-s.linked, -s.score, s.shipped_at))
        return ranked[:MAX_SUSPECTS]
