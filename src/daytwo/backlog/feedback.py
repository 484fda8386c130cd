"""Feedback and its loop: arrive, acknowledge, link to an item, close with what was done.

Customer feedback arrives with interactions (a ``feedback`` object, ``{"thumbs": "down",
"comment": "..."}``, or a ``csat_comment`` string, kept in the interaction's attributes) and is
brought into the ledger by :func:`sync_customer_feedback`; agents report friction through the
API, the UI form or the SDK (:func:`add_feedback`). Each piece has an acknowledgement SLA and an
action window from the settings.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog import history
from daytwo.backlog.calc import theme_for
from daytwo.backlog.models import Feedback, Item
from daytwo.backlog.owners import registered_deployment
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import (
    FeedbackCreate,
    FeedbackKind,
    FeedbackPublic,
    SyncResult,
    ThemeRow,
)
from daytwo.backlog.service import get_row, now_utc
from daytwo.clock import aware
from daytwo.errors import ConflictError, InputError, NotFoundError
from daytwo.governance.policies import redact_text
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

STATUSES = ("new", "acknowledged", "closed")


def _overdue(row: Feedback, now: datetime) -> bool:
    if row.status == "closed":
        return False
    if row.status == "new" and now > aware(row.ack_due):
        return True
    return now > aware(row.action_due)


def to_public(row: Feedback, now: datetime | None = None) -> FeedbackPublic:
    out = FeedbackPublic.model_validate(row)
    return out.model_copy(
        update={
            "received_at": aware(row.received_at),
            "ack_due": aware(row.ack_due),
            "action_due": aware(row.action_due),
            "acknowledged_at": aware(row.acknowledged_at) if row.acknowledged_at else None,
            "closed_at": aware(row.closed_at) if row.closed_at else None,
            "overdue": _overdue(row, now or now_utc()),
        }
    )


def _interaction(events: EventStore, deployment: str, interaction_id: str) -> dict[str, Any]:
    rows = events.query(
        "SELECT interaction_id, journey, started_at FROM interactions "
        "WHERE deployment = ? AND interaction_id = ?",
        [deployment, interaction_id],
    ).to_pylist()
    if not rows:
        raise NotFoundError(
            f"No interaction {interaction_id!r} in {deployment!r}: feedback must name a "
            "stored interaction (or none)."
        )
    return dict(rows[0])


def _new_row(
    spec: FeedbackCreate,
    policy: BacklogPolicy,
    *,
    actor: str,
    journey: str | None,
    source_key: str | None,
) -> Feedback:
    received = spec.received_at or now_utc()
    if received.tzinfo is None:
        raise InputError("received_at needs a time zone.")
    return Feedback(
        deployment=spec.deployment,
        source=spec.source,
        kind=spec.kind,
        source_key=source_key,
        interaction_id=spec.interaction_id,
        author=spec.author,
        rating=spec.rating,
        text=spec.text,
        journey=journey,
        theme=theme_for(spec.text, spec.theme),
        status="new",
        received_at=received.astimezone(UTC),
        ack_due=received + timedelta(days=policy.feedback_ack_days),
        action_due=received + timedelta(days=policy.feedback_action_days),
        resolution="",
        recorded_by=actor,
    )


def add_feedback(
    ledger: Ledger,
    events: EventStore,
    spec: FeedbackCreate,
    policy: BacklogPolicy,
    *,
    actor: str,
) -> FeedbackPublic:
    """Store one piece of feedback; one about an unknown interaction is refused."""
    if not spec.text.strip() and spec.kind in ("friction", "comment", "csat_comment"):
        raise InputError(f"{spec.kind} feedback needs a text.")
    journey = None
    if spec.interaction_id is not None:
        journey = _interaction(events, spec.deployment, spec.interaction_id)["journey"]
    with ledger.session() as session:
        registered_deployment(session, spec.deployment)
        spec = spec.model_copy(update={"text": redact_text(session, spec.deployment, spec.text)})
        row = _new_row(spec, policy, actor=actor, journey=journey, source_key=None)
        session.add(row)
        session.flush()
        history.record(session, "feedback", row.id, actor, "received", after=row.kind)
        return to_public(row)


def _customer_feedback(interaction_id: str, attributes: str | None) -> tuple[str, str, str] | None:
    """(kind, text, key) of the feedback an interaction carries, if any."""
    if not attributes:
        return None
    try:
        attrs = orjson.loads(attributes)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(attrs, dict):
        return None
    fb = attrs.get("feedback")
    if isinstance(fb, dict):
        thumbs = str(fb.get("thumbs", "")).lower()
        text = str(fb.get("comment") or "")
        kind = {"down": "thumbs_down", "up": "thumbs_up"}.get(thumbs, "comment")
        if kind == "comment" and not text:
            return None
        return kind, text, f"interaction:{interaction_id}:feedback"
    if isinstance(fb, str) and fb.strip():
        return "comment", fb.strip(), f"interaction:{interaction_id}:feedback"
    comment = attrs.get("csat_comment")
    if isinstance(comment, str) and comment.strip():
        return "csat_comment", comment.strip(), f"interaction:{interaction_id}:csat_comment"
    return None


def sync_customer_feedback(
    ledger: Ledger, events: EventStore, deployment: str, policy: BacklogPolicy
) -> SyncResult:
    """Bring the feedback that arrived with interactions into the ledger (idempotent)."""
    rows = events.query(
        "SELECT interaction_id, journey, started_at, csat, attributes FROM interactions "
        "WHERE deployment = ? AND attributes IS NOT NULL "
        "AND (attributes LIKE '%\"feedback\"%' OR attributes LIKE '%\"csat_comment\"%') "
        "ORDER BY started_at",
        [deployment],
    ).to_pylist()
    added = 0
    with ledger.session() as session:
        registered_deployment(session, deployment)
        have = set(
            session.scalars(
                select(Feedback.source_key).where(
                    Feedback.deployment == deployment, Feedback.source == "customer"
                )
            )
        )
        for r in rows:
            found = _customer_feedback(str(r["interaction_id"]), r["attributes"])
            if found is None or found[2] in have:
                continue
            kind, text, key = found
            spec = FeedbackCreate(
                deployment=deployment,
                source="customer",
                kind=cast(FeedbackKind, kind),
                text=text,
                interaction_id=str(r["interaction_id"]),
                rating=r["csat"],
                received_at=r["started_at"],
            )
            row = _new_row(spec, policy, actor=history.SYSTEM, journey=r["journey"], source_key=key)
            session.add(row)
            session.flush()
            history.record(session, "feedback", row.id, history.SYSTEM, "received", after=kind)
            have.add(key)
            added += 1
    return SyncResult(scanned=len(rows), added=added)


def _row(session: Session, feedback_id: int) -> Feedback:
    row = session.get(Feedback, feedback_id)
    if row is None:
        raise NotFoundError(f"No feedback {feedback_id}.")
    return row


def get_feedback(ledger: Ledger, feedback_id: int) -> FeedbackPublic:
    with ledger.session() as session:
        return to_public(_row(session, feedback_id))


def acknowledge(ledger: Ledger, feedback_id: int, *, actor: str, note: str = "") -> FeedbackPublic:
    with ledger.session() as session:
        row = _row(session, feedback_id)
        if row.status != "new":
            raise ConflictError(f"Feedback {feedback_id} is already {row.status}.")
        row.status = "acknowledged"
        row.acknowledged_at = now_utc()
        history.record(
            session, "feedback", row.id, actor, "status", before="new", after="acknowledged",
            note=redact_text(session, row.deployment, note),
        )  # fmt: skip
        session.flush()
        return to_public(row)


def link_to_item(ledger: Ledger, feedback_id: int, item_id: int, *, actor: str) -> FeedbackPublic:
    with ledger.session() as session:
        row = _row(session, feedback_id)
        item: Item = get_row(session, item_id)
        if item.deployment != row.deployment:
            raise InputError(f"Item {item_id} belongs to {item.deployment!r}.")
        before = row.item_id
        row.item_id = item.id
        history.record(
            session, "feedback", row.id, actor, "item linked",
            before=str(before) if before else None, after=str(item.id),
        )  # fmt: skip
        history.record(session, "item", item.id, actor, "feedback linked", after=str(row.id))
        if row.status == "new":
            row.status = "acknowledged"
            row.acknowledged_at = now_utc()
            history.record(
                session, "feedback", row.id, actor, "status", before="new", after="acknowledged"
            )
        session.flush()
        return to_public(row)


def close_feedback(
    ledger: Ledger, feedback_id: int, resolution: str, *, actor: str
) -> FeedbackPublic:
    """Close the loop: say what was done (shown to the floor in "you said, we did")."""
    if not resolution.strip():
        raise InputError("Closing feedback needs what was done.")
    with ledger.session() as session:
        row = _row(session, feedback_id)
        if row.status == "closed":
            raise ConflictError(f"Feedback {feedback_id} is already closed.")
        now = now_utc()
        before = row.status
        if row.acknowledged_at is None:
            row.acknowledged_at = now
        row.status = "closed"
        row.closed_at = now
        row.resolution = redact_text(session, row.deployment, resolution.strip())
        history.record(
            session, "feedback", row.id, actor, "status", before=before, after="closed",
            note=row.resolution,
        )  # fmt: skip
        session.flush()
        return to_public(row)


def list_feedback(
    ledger: Ledger,
    *,
    deployment: str | None = None,
    status: str | None = None,
    theme: str | None = None,
    source: str | None = None,
    item_id: int | None = None,
    overdue: bool = False,
    limit: int = 500,
) -> list[FeedbackPublic]:
    if status is not None and status not in STATUSES:
        raise InputError(f"Unknown status {status!r}: use one of {', '.join(STATUSES)}.")
    now = now_utc()
    with ledger.session() as session:
        query = select(Feedback)
        if deployment:
            query = query.where(Feedback.deployment == deployment)
        if status:
            query = query.where(Feedback.status == status)
        if theme:
            query = query.where(Feedback.theme == theme)
        if source:
            query = query.where(Feedback.source == source)
        if item_id is not None:
            query = query.where(Feedback.item_id == item_id)
        rows = session.scalars(
            query.order_by(Feedback.received_at.desc(), Feedback.id.desc())
        ).all()
        out = [to_public(r, now) for r in rows]
    if overdue:
        out = [f for f in out if f.overdue]
    return out[:limit]


def themes(
    ledger: Ledger, deployment: str | None = None, *, only: Collection[str] | None = None
) -> list[ThemeRow]:
    """Feedback counted by theme: open, closed and overdue, biggest open first.

    ``only`` limits the count to those deployments (None: every deployment)."""
    counts: dict[str, list[int]] = {}
    for f in list_feedback(ledger, deployment=deployment, limit=1_000_000):
        if only is not None and f.deployment not in only:
            continue
        c = counts.setdefault(f.theme, [0, 0, 0])
        c[1 if f.status == "closed" else 0] += 1
        c[2] += int(f.overdue)
    rows = [ThemeRow(theme=t, open=c[0], closed=c[1], overdue=c[2]) for t, c in counts.items()]
    return sorted(rows, key=lambda r: (-r.open, -r.closed, r.theme))


def you_said_we_did(
    ledger: Ledger, deployment: str | None = None, *, only: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Closed feedback with what was done and the item that did it, newest first."""
    closed = list_feedback(ledger, deployment=deployment, status="closed", limit=1_000_000)
    closed = [f for f in closed if only is None or f.deployment in only]
    closed.sort(key=lambda f: f.closed_at or f.received_at, reverse=True)
    titles: dict[int, str] = {}
    with ledger.session() as session:
        for f in closed:
            if f.item_id is not None and f.item_id not in titles:
                item = session.get(Item, f.item_id)
                titles[f.item_id] = item.title if item else ""
    return [
        {"feedback": f, "item_title": titles.get(f.item_id) if f.item_id else None} for f in closed
    ]
