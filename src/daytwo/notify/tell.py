"""Telling an alert's subject: one alert per key, each event queued through the same routes and
outbox, and a live alarm told through the alert that already tells its problem.

:func:`subject_alert` finds or creates the alert of a subject (an item's SLA, a gate, a
deployment's feed, a signal of live traffic); :func:`tell` queues one of its events. A live
alarm points at its finding's backlog item (:func:`own`); when that item already has an alert
(:func:`thread_of`), the alarm is folded into it (:func:`fold`) and its events go out as that
alert's updates: one problem, one alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.models import Item
from daytwo.detect.findings import Finding
from daytwo.notify.calc import priority_rank
from daytwo.notify.enqueue import EventSpec, enqueue
from daytwo.notify.live import Owned
from daytwo.notify.models import Alert
from daytwo.settings import Settings


def subject_alert(
    session: Session, key: str, *, deployment: str, kind: str, priority: str, title: str,
    owner: str | None, item_id: int | None, now: datetime,
) -> tuple[Alert, bool]:  # fmt: skip
    """The subject's alert, created (open, unescalated) when it has none yet; True if new."""
    alert = session.scalar(select(Alert).where(Alert.dedupe_key == key))
    if alert is not None:
        return alert, False
    alert = Alert(
        dedupe_key=key, deployment=deployment, item_id=item_id, kind=kind, priority=priority,
        title=title[:300], owner=owner, status="open", events=0, escalation_level=0,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(alert)
    session.flush()
    return alert, True


def tell(
    session: Session, settings: Settings, alert: Alert, *, event: str, state: str, summary: str,
    evidence: list[str], update: bool, now: datetime, item: Item | None = None,
    url: str | None = None, via: Alert | None = None,
) -> int:  # fmt: skip
    """Queue ``event`` of ``alert``, which now is in ``state``; ``via``: the alert that
    already tells the same problem (:func:`thread_of`), whose update the event is sent as."""
    alert.events += 1
    alert.state = state
    alert.updated_at = now
    told = alert
    if via is not None:
        via.events += 1
        via.updated_at = now
        told, update = via, True
    spec = EventSpec(
        alert=told, event=event, idempotency_key=f"{alert.kind}-{alert.id}.{alert.events}",
        summary=summary, evidence=evidence, update=update,
        journey=item.journey if item else None,
        finding_kind=item.finding_kind if item else None,
        item_status=item.status if item else None, url=url,
    )  # fmt: skip
    return enqueue(session, settings, spec, now=now)


def live_alert(
    session: Session, key: str, deployment: str, kind: str, title: str, now: datetime,
    window: timedelta,
) -> tuple[Alert, bool]:  # fmt: skip
    """A deployment's P1 alert from live traffic, (re)opened with its escalation clock."""
    alert, new = subject_alert(
        session, key, deployment=deployment, kind=kind, priority="P1", title=title,
        owner=None, item_id=None, now=now,
    )  # fmt: skip
    alert.status = "open"
    alert.escalation_level = 0
    alert.escalate_at = now + window
    return alert, new


# The alerts that tell a problem (an item): its own, or a live alarm's.
_PROBLEM_ALERTS = ("problem", "traffic", "feed")
MERGED = "merged"  # a live alert whose events go out as updates of its problem's alert


def thread_of(session: Session, alert: Alert) -> Alert | None:
    """The alert that already tells the problem of ``alert`` (a live alarm pointed at its
    item): the item's problem alert, else its earliest live alert, when that is another one.
    One problem, one alert: a later alarm of it is an update there, never an alert of its own."""
    if alert.item_id is None:
        return None
    others = session.scalars(
        select(Alert)
        .where(
            Alert.item_id == alert.item_id, Alert.kind.in_(_PROBLEM_ALERTS),
            Alert.status != MERGED, Alert.id != alert.id,
        )
        .order_by(Alert.id)
    ).all()  # fmt: skip
    return next((a for a in others if a.kind == "problem" or a.id < alert.id), None)


def fold(alert: Alert, into: Alert, *, now: datetime, window: timedelta) -> None:
    """Make the live ``alert`` tell its alarm through ``into``: it stays the memory of what
    its signal told (its ``state``), and ``into`` carries the messages, its priority raised
    to the alarm's, reopened if it was resolved, with its escalation clock running unless it
    is acknowledged."""
    alert.status = MERGED
    alert.escalate_at = None
    if priority_rank(alert.priority) < priority_rank(into.priority):
        into.priority = alert.priority
    if into.status == "resolved":
        into.status = "open"
        into.escalation_level = 0
        into.escalate_at = None
    if into.status == "open" and into.priority == "P1" and into.escalate_at is None:
        into.escalate_at = now + window


def own(session: Session, alert: Alert, owned: dict[str, Owned], finding: Finding) -> Item | None:
    """Point a live alert at its finding's backlog item and owner (routed by ownership)."""
    mine = owned.get(finding.fingerprint)
    if mine is None:
        return None
    alert.item_id = mine.item_id
    alert.owner = mine.owner
    return session.get(Item, mine.item_id)
