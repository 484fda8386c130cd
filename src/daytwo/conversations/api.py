"""`/api/v1/interactions`: search conversations and read transcripts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from daytwo.conversations import service
from daytwo.conversations.schemas import ConversationPage, Transcript
from daytwo.http.access import Scope, requires
from daytwo.http.deps import EventsDep
from daytwo.http.params import SliceDep

router = APIRouter(
    prefix="/api/v1/interactions", tags=["interactions"], dependencies=[requires(Scope.read)]
)


@router.get("", response_model=ConversationPage, summary="Search conversations")
def search(
    events: EventsDep,
    scope: SliceDep,
    q: Annotated[str | None, Query(description="Text anywhere in the conversation.")] = None,
    metric: Annotated[
        str | None, Query(description="Only the conversations behind this metric's value.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    exact_total: Annotated[
        bool,
        Query(
            description="With q: count every match (slower); by default a search stops "
            "counting once the page is full and says so with total_exact=false."
        ),
    ] = False,
) -> ConversationPage:
    """Conversations of a deployment, newest first, with filters, text search and drill-down."""
    return service.search(
        events,
        scope,
        metric=metric,
        text=q,
        limit=limit,
        offset=offset,
        exact_total=exact_total,
    )


@router.get("/{interaction_id:path}", response_model=Transcript, summary="One transcript")
def transcript(
    interaction_id: str,
    events: EventsDep,
    deployment: Annotated[str, Query(description="Deployment of the conversation.")],
) -> Transcript:
    """The full conversation: its fields, every turn, every assist event."""
    return service.transcript(events, deployment, interaction_id)
