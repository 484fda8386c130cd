"""One digest per owner instead of a message per event, for owners who choose it.

An owner whose preference is ``daily`` or ``weekly`` gets their non-P1 messages (to their own
channel; routes to team channels are unaffected) held in the outbox with status ``digest``.
At 08:00 in their time zone (on Mondays for weekly) one ``digest`` message carries them all,
each with its own idempotency key, after a summary of their backlog: open items by priority,
what is new since the last digest, what is due before the next one, what was verified. The
held messages are marked grouped into it, so the delivery log shows where each one went.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.calc import OPEN_STATUSES
from daytwo.backlog.models import Item, Owner
from daytwo.clock import aware
from daytwo.notify.calc import digest_slot
from daytwo.notify.enqueue import carry, owner_contact
from daytwo.notify.models import Alert, Channel, Delivery, Preference
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger

_LISTED = 5  # items named per section; the rest are counted


def _names(items: list[Item]) -> str:
    shown = ", ".join(f"#{i.id} {i.title}" for i in items[:_LISTED])
    more = len(items) - _LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def backlog_summary(session: Session, owner: str, *, since: datetime, until: datetime) -> list[str]:
    """The digest's first lines: the owner's open items, new, due and verified."""
    owner_id = session.scalar(select(Owner.id).where(Owner.handle == owner))
    if owner_id is None:
        return []
    items = list(session.scalars(select(Item).where(Item.owner_id == owner_id).order_by(Item.id)))
    open_items = [i for i in items if i.status in OPEN_STATUSES]
    by_priority = Counter(i.priority for i in open_items)
    lines = [
        "Open: "
        + (
            ", ".join(f"{by_priority[p]} {p}" for p in sorted(by_priority))
            if open_items
            else "none"
        )
    ]
    new = [i for i in open_items if aware(i.created_at) > since]
    if new:
        lines.append(f"New: {_names(new)}")
    due = [
        i
        for i in open_items
        if (i.triaged_at is None and aware(i.triage_due) <= until)
        or (i.fix_shipped_at is None and aware(i.fix_due) <= until)
    ]
    if due:
        lines.append(f"Due before the next digest (or late): {_names(due)}")
    verified = [
        i for i in items if i.status == "verified" and i.closed_at and aware(i.closed_at) > since
    ]
    if verified:
        lines.append(f"Verified: {_names(verified)}")
    return lines


def _where(session: Session, pref: Preference) -> tuple[int, str | None] | None:
    """The owner's channel (and recipient): their own, else their e-mail contact."""
    if pref.channel_id is not None:
        return pref.channel_id, None
    contact = owner_contact(session, pref.owner)
    mail = session.scalar(
        select(Channel.id).where(Channel.kind == "email", Channel.active.is_(True))
        .order_by(Channel.id).limit(1)
    )  # fmt: skip
    return (mail, contact) if contact and mail is not None else None


def send_digests(ledger: Ledger, settings: Settings, *, now: datetime | None = None) -> int:
    """Queue the digest of every owner whose digest time has come; returns how many."""
    now = now or datetime.now(UTC)
    queued = 0
    with ledger.session() as session:
        prefs = session.scalars(select(Preference).where(Preference.digest != "off")).all()
        for pref in prefs:
            slot = digest_slot(pref.digest, pref.timezone, now)
            last = aware(pref.digest_sent_at) if pref.digest_sent_at else None
            if last is not None and last >= slot:
                continue
            held = list(
                session.scalars(
                    select(Delivery)
                    .join(Alert, Alert.id == Delivery.alert_id)
                    .where(Delivery.status == "digest", Alert.owner == pref.owner)
                    .order_by(Delivery.id)
                )
            )
            where = _where(session, pref)
            pref.digest_sent_at = now
            if where is None:
                continue  # no way to reach them: held messages stay listed in the log
            since = last or now - timedelta(days=7 if pref.digest == "weekly" else 1)
            until = now + timedelta(days=7 if pref.digest == "weekly" else 1)
            summary_lines = backlog_summary(session, pref.owner, since=since, until=until)
            if not held and summary_lines in ([], ["Open: none"]):
                continue  # nothing to say
            channel_id, recipient = where
            period = "week" if pref.digest == "weekly" else "day"
            messages = f"{len(held)} message{'' if len(held) == 1 else 's'}"
            carry(
                session, settings, channel_id=channel_id, recipient=recipient, rows=held,
                now=now, event="digest", owner=pref.owner, deployment="(digest)",
                title=f"Digest for {pref.owner}: {messages}",
                summary=f"Your {period} in daytwo: {messages} held for this digest.",
                evidence=summary_lines,
            )  # fmt: skip
            queued += 1
    return queued
