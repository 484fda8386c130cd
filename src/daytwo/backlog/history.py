"""The append-only history of the backlog: every state change, with who and when."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.models import BacklogEvent, Change, Feedback, Item, RoutingRule
from daytwo.backlog.schemas import EventPublic
from daytwo.governance import audit

SYSTEM = "system"


# The rows whose ``deployment`` says where an event of each subject happened.
_SUBJECTS: dict[str, type[Item] | type[Feedback] | type[Change] | type[RoutingRule]] = {
    "item": Item,
    "feedback": Feedback,
    "change": Change,
    "rule": RoutingRule,
}


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
    """Append one event; it commits (or rolls back) with the change it describes.

    What a person (or key) did is also written to the audit log in the same transaction,
    with the deployment and before → after; the system's own bookkeeping (intake, clocks,
    verdicts) stays in the backlog's history only."""
    actor = actor or SYSTEM
    event = BacklogEvent(
        subject=subject,
        subject_id=subject_id,
        actor=actor,
        action=action,
        before=before[:300] if before else before,
        after=after[:300] if after else after,
        note=note,
    )
    session.add(event)
    if actor == SYSTEM:
        return
    model = _SUBJECTS.get(subject)
    row = session.get(model, subject_id) if model is not None else None
    audit.record(
        session,
        actor=actor,
        action=f"{subject}.{action}".replace(" ", "_"),
        target=f"{subject} {subject_id}",
        deployment=getattr(row, "deployment", None),
        before={action: before} if before is not None else None,
        after={action: after, **({"note": note} if note else {})},
    )


def events_of(session: Session, subject: str, subject_id: int) -> list[EventPublic]:
    rows = session.scalars(
        select(BacklogEvent)
        .where(BacklogEvent.subject == subject, BacklogEvent.subject_id == subject_id)
        .order_by(BacklogEvent.at, BacklogEvent.id)
    ).all()
    return [EventPublic.model_validate(r) for r in rows]
