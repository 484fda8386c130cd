"""Rate limits of the outbox: each channel's ``max_per_hour`` per recipient. Beyond it the most
urgent go alone and the rest are carried by one grouped message; nothing is dropped."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from daytwo.notify.calc import (
    priority_rank,
)
from daytwo.notify.enqueue import aware_utc, carry
from daytwo.notify.models import Channel, Delivery
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
        for row in sorted(rows, key=lambda r: ids.index(r.id)):
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
                free = (aware_utc(oldest) if oldest else now) + timedelta(hours=1)
                for row in due:
                    row.next_attempt_at = max(aware_utc(row.next_attempt_at), free)
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
