"""The weekly update's sections on the work itself: backlog movement by owner, the feedback
loop ("you said, we did") and next week's focus, read from the backlog as its API answers.

Opened and closed count the items created and closed in the week; open and overdue are as of
the report (overdue: open and past a service level, as ``GET /api/v1/backlog/items?overdue=true``
answers). Feedback is acknowledged in time when it was acknowledged by its ``ack_due`` and
actioned in time when it was closed by its ``action_due``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from daytwo.backlog.calc import CLOSED_STATUSES, PRIORITIES
from daytwo.backlog.feedback import list_feedback
from daytwo.backlog.schemas import FeedbackPublic, ItemPublic
from daytwo.backlog.service import list_items
from daytwo.store.ledger import Ledger

FOCUS = 5  # items in next week's focus
SAID = 3  # "you said, we did" quotes
UNOWNED = "unowned"


class OwnerMovement(BaseModel):
    owner: str  # a handle, or "unowned"
    opened: int
    closed: int
    open: int
    overdue: int


class BacklogMovement(BaseModel):
    opened: int
    closed: int
    open: int
    overdue: int
    by_owner: list[OwnerMovement]


class YouSaid(BaseModel):
    feedback_id: int
    said: str
    did: str
    item_id: int | None
    href: str


class FeedbackLoop(BaseModel):
    received: int
    acknowledged: int
    acknowledged_in_time: int
    actioned: int
    actioned_in_time: int
    open: int
    overdue: int
    you_said: list[YouSaid]


class FocusItem(BaseModel):
    id: int
    title: str
    owner: str | None
    priority: str
    status: str
    fix_due: datetime
    overdue: bool
    href: str


def _within(at: datetime | None, start: datetime, end: datetime) -> bool:
    return at is not None and start <= at < end


def backlog_movement(
    ledger: Ledger, name: str, start: datetime, end: datetime, now: datetime
) -> BacklogMovement:
    """Items opened and closed in [``start``, ``end``), open and overdue as of ``now``, in
    total and by owner (owners with nothing open and no movement are left out)."""
    items = list_items(ledger, deployment=name, now=now)
    rows: dict[str, list[int]] = {}
    for item in items:
        is_open = item.status not in CLOSED_STATUSES
        cells = (
            _within(item.created_at, start, end),
            _within(item.closed_at, start, end),
            is_open,
            is_open and item.sla.breached,
        )
        if any(cells):
            row = rows.setdefault(item.owner or UNOWNED, [0, 0, 0, 0])
            for i, cell in enumerate(cells):
                row[i] += int(cell)
    by_owner = [OwnerMovement(owner=o, opened=r[0], closed=r[1], open=r[2], overdue=r[3])
                for o, r in rows.items()]  # fmt: skip
    by_owner.sort(key=lambda r: (-r.overdue, -r.open, r.owner))
    return BacklogMovement(
        opened=sum(r.opened for r in by_owner),
        closed=sum(r.closed for r in by_owner),
        open=sum(r.open for r in by_owner),
        overdue=sum(r.overdue for r in by_owner),
        by_owner=by_owner,
    )


def _in_time(at: datetime | None, due: datetime) -> bool:
    return at is not None and at <= due


def feedback_loop(ledger: Ledger, name: str, start: datetime, end: datetime) -> FeedbackLoop:
    """The week's feedback: received, acknowledged and actioned (and how much of it within its
    window), what is open and overdue now, and what was done about it in the week."""
    rows: list[FeedbackPublic] = list_feedback(ledger, deployment=name, limit=1_000_000)
    acked = [f for f in rows if _within(f.acknowledged_at, start, end)]
    closed = [f for f in rows if _within(f.closed_at, start, end)]
    closed.sort(key=lambda f: f.closed_at or f.received_at, reverse=True)
    return FeedbackLoop(
        received=sum(_within(f.received_at, start, end) for f in rows),
        acknowledged=len(acked),
        acknowledged_in_time=sum(_in_time(f.acknowledged_at, f.ack_due) for f in acked),
        actioned=len(closed),
        actioned_in_time=sum(_in_time(f.closed_at, f.action_due) for f in closed),
        open=sum(f.status != "closed" for f in rows),
        overdue=sum(f.overdue for f in rows),
        you_said=[
            YouSaid(
                feedback_id=f.id,
                said=f.text or f.kind.replace("_", " "),
                did=f.resolution,
                item_id=f.item_id,
                href=f"/backlog/{f.item_id}" if f.item_id else "/feedback/you-said-we-did",
            )
            for f in closed[:SAID]
        ],
    )


def next_focus(ledger: Ledger, name: str, now: datetime) -> list[FocusItem]:
    """The open items to work on next week: highest priority first, then the backlog's own
    order (its score)."""
    items: list[ItemPublic] = list_items(ledger, deployment=name, include_closed=False, now=now)
    items.sort(key=lambda i: PRIORITIES.index(i.priority))  # stable: score order kept within
    return [
        FocusItem(
            id=i.id,
            title=i.title,
            owner=i.owner,
            priority=i.priority,
            status=i.status,
            fix_due=i.fix_due,
            overdue=i.sla.breached,
            href=f"/backlog/{i.id}",
        )
        for i in items[:FOCUS]
    ]
