"""Rate limits of the outbox: each route's ``max_per_hour`` (the messages it chose), then each
channel's per recipient. Beyond a limit the most urgent go alone and the rest are carried by
one grouped message; nothing is dropped. A route's limit lets P1 and escalations through,
and counts them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from daytwo.clock import aware
from daytwo.notify.calc import (
    priority_rank,
)
from daytwo.notify.enqueue import carry
from daytwo.notify.models import Channel, Delivery, Route
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger


def _sent_in_window(
    session: Session, channel_id: int, recipient: str | None, since: datetime
) -> int:
    """Messages this channel sent to ``recipient`` since ``since``, or is sending now."""
    same = and_(Delivery.channel_id == channel_id, _same_recipient(recipient))
    return int(
        session.scalar(
            select(func.count(Delivery.id)).where(
                same,
                or_(
                    and_(Delivery.status == "delivered", Delivery.delivered_at >= since),
                    Delivery.status == "sending",
                ),
            )
        )
        or 0
    )


def _same_recipient(recipient: str | None) -> ColumnElement[bool]:
    return Delivery.recipient.is_(None) if recipient is None else Delivery.recipient == recipient


def _urgent(row: Delivery) -> bool:
    return row.payload["item"]["priority"] == "P1" or row.event == "alert.escalated"


def _route_sent(session: Session, route_id: int, since: datetime) -> int:
    """Messages this route chose that went out since ``since``, or are going out now."""
    return int(
        session.scalar(
            select(func.count(Delivery.id)).where(
                Delivery.route_id == route_id,
                or_(
                    and_(Delivery.status == "delivered", Delivery.delivered_at >= since),
                    Delivery.status == "sending",
                ),
            )
        )
        or 0
    )


def _wait_for_a_slot(due: list[Delivery], oldest: datetime | None, now: datetime) -> None:
    """Hold ``due`` until the hour's first message (``oldest``, sent within the last hour) is
    an hour old and frees a slot: nothing is dropped, only delayed."""
    free = (aware(oldest) if oldest else now) + timedelta(hours=1)
    for row in due:
        row.next_attempt_at = max(aware(row.next_attempt_at), free)


def _route_limits(
    session: Session, settings: Settings, rows: list[Delivery], now: datetime
) -> list[Delivery]:
    """Apply each route's ``max_per_hour`` to the due ``rows`` (in order); returns the rows to
    go on with. P1 alerts and escalations break through and count; of the others, what fits
    goes one by one (the most urgent first) and the rest in one grouped message (which counts
    as one); with the hour used up they wait until it frees a slot."""
    limits = {
        r.id: int(r.max_per_hour)
        for r in session.scalars(
            select(Route).where(
                Route.id.in_({r.route_id for r in rows if r.route_id is not None}),
                Route.max_per_hour.is_not(None),
            )
        )
        if r.max_per_hour
    }
    if not limits:
        return rows
    out: list[Delivery] = []
    held: dict[int, list[Delivery]] = {}
    for row in rows:
        alerting = row.alert_id is not None and row.event != "grouped"
        if row.route_id in limits and alerting and not _urgent(row):
            held.setdefault(row.route_id, []).append(row)
        else:
            out.append(row)
    hour_ago = now - timedelta(hours=1)
    for route_id, due in held.items():
        limit = limits[route_id]
        urgent = sum(1 for r in out if r.route_id == route_id and r.status != "sending")
        room = limit - _route_sent(session, route_id, hour_ago) - urgent
        if len(due) <= room:
            out += due
            continue
        if room <= 0:
            oldest = session.scalar(
                select(func.min(Delivery.delivered_at)).where(
                    Delivery.route_id == route_id, Delivery.status == "delivered",
                    Delivery.delivered_at >= hour_ago,
                )
            )  # fmt: skip
            _wait_for_a_slot(due, oldest, now)
            continue
        due.sort(key=lambda r: (priority_rank(r.payload["item"]["priority"]), r.id))
        out += due[: room - 1]
        rest = due[room - 1 :]
        group_id = carry(
            session, settings, channel_id=rest[0].channel_id, recipient=rest[0].recipient,
            rows=rest, now=now, event="grouped",
            title=f"{len(rest)} alerts held by route {route_id}'s limit of {limit} an hour",
            summary=f"{len(rest)} alerts arrived beyond route {route_id}'s {limit} messages "
            "an hour; here they are together.",
        )  # fmt: skip
        group = session.get(Delivery, group_id)
        assert group is not None
        group.route_id = route_id
        out.append(group)
    return out


def within_limits(ledger: Ledger, settings: Settings, ids: list[int], now: datetime) -> list[int]:
    """Apply each channel's ``max_per_hour`` (per recipient) to the due rows ``ids``: what
    fits is sent one by one; beyond it the most urgent go one by one and the rest are carried
    by one grouped message (its own outbox row, retried like any other); when the hour is
    used up they wait until it frees a slot. Nothing is dropped. Returns the ids to send."""
    if not ids:
        return ids
    keep: list[int] = []
    with ledger.session() as session:
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(ids))).all()
        limits = {
            c.id: int(c.config["max_per_hour"])
            for c in session.scalars(
                select(Channel).where(Channel.id.in_({r.channel_id for r in rows}))
            )
            if c.config.get("max_per_hour")
        }
        held: dict[tuple[int, str | None], list[Delivery]] = {}
        ordered = sorted(rows, key=lambda r: ids.index(r.id))
        for row in _route_limits(session, settings, ordered, now):
            # A document (an issued report, no alert) is one message the reader asked for:
            # never held or grouped.
            alerting = row.alert_id is not None and row.event != "grouped"
            if row.channel_id in limits and alerting:
                held.setdefault((row.channel_id, row.recipient), []).append(row)
            else:
                keep.append(row.id)
        hour_ago = now - timedelta(hours=1)
        for (channel_id, recipient), due in held.items():
            limit = limits[channel_id]
            room = limit - _sent_in_window(session, channel_id, recipient, hour_ago)
            if len(due) <= room:
                keep += [r.id for r in due]
                continue
            if room <= 0:
                oldest = session.scalar(
                    select(func.min(Delivery.delivered_at)).where(
                        Delivery.channel_id == channel_id, _same_recipient(recipient),
                        Delivery.status == "delivered", Delivery.delivered_at >= hour_ago,
                    )
                )  # fmt: skip
                _wait_for_a_slot(due, oldest, now)
                continue
            due.sort(key=lambda r: (priority_rank(r.payload["item"]["priority"]), r.id))
            keep += [r.id for r in due[: room - 1]]
            rest = due[room - 1 :]
            group_id = carry(
                session, settings, channel_id=channel_id, recipient=recipient, rows=rest,
                now=now, event="grouped",
                title=f"{len(rest)} alerts held by a limit of {limit} messages an hour",
                summary=f"{len(rest)} alerts arrived beyond this channel's {limit} messages an "
                "hour; here they are together.",
            )  # fmt: skip
            keep.append(group_id)
    return keep
