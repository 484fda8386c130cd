"""The append-only history of the backlog: every state change, with who and when."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.models import BacklogEvent
from daytwo.backlog.schemas import EventPublic

SYSTEM = "system"


def record(
    session: Session,
    subject: str,
    subject_id: int,
    actor: str,
    action: str,
    *,
    before: str | None = None,
    after: str | None = None,
    note: str = "",
) -> None:
    """Append one event; it commits (or rolls back) with the change it describes."""
    session.add(
        BacklogEvent(
            subject=subject,
            subject_id=subject_id,
            actor=actor or SYSTEM,
            action=action,
            before=before[:300] if before else before,
            after=after[:300] if after else after,
            note=note,
        )
    )


def events_of(session: Session, subject: str, subject_id: int) -> list[EventPublic]:
    rows = session.scalars(
        select(BacklogEvent)
        .where(BacklogEvent.subject == subject, BacklogEvent.subject_id == subject_id)
        .order_by(BacklogEvent.at, BacklogEvent.id)
    ).all()
    return [EventPublic.model_validate(r) for r in rows]
