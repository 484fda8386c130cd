"""`/api/v1/gaps`: knowledge gaps, with their examples (and every member, when asked)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from daytwo.detect.gaps.listing import get_gap, last_run, list_gaps
from daytwo.detect.gaps.schemas import GapPublic, GapRunPublic
from daytwo.http.access import Scope, requires
from daytwo.http.deps import EventsDep, LedgerDep

router = APIRouter(prefix="/api/v1/gaps", tags=["gaps"])

GapStatus = Literal["open", "gone", "all"]


@router.get(
    "",
    response_model=list[GapPublic],
    summary="Knowledge gaps, largest first",
    dependencies=[requires(Scope.read)],
)
def gaps(
    ledger: LedgerDep,
    events: EventsDep,
    deployment: Annotated[str | None, Query(description="Only this deployment's gaps.")] = None,
    status: Annotated[
        Literal["open", "gone", "all"], Query(description="open, gone or all.")
    ] = "open",
    members: Annotated[bool, Query(description="Include every member utterance.")] = False,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> list[GapPublic]:
    """Each gap with its label, type, volume and growth, journeys and examples."""
    return list_gaps(
        ledger,
        events,
        deployment,
        status=None if status == "all" else status,
        with_members=members,
        limit=limit,
    )


@router.get(
    "/runs/latest",
    response_model=GapRunPublic | None,
    summary="The latest gap run of a deployment",
    dependencies=[requires(Scope.read)],
)
def latest_run(
    ledger: LedgerDep, deployment: Annotated[str, Query(description="Deployment name.")]
) -> GapRunPublic | None:
    return last_run(ledger, deployment)


@router.get(
    "/{gap_id}",
    response_model=GapPublic,
    summary="One gap with every member utterance",
    dependencies=[requires(Scope.read)],
)
def gap(gap_id: str, ledger: LedgerDep, events: EventsDep) -> GapPublic:
    return get_gap(ledger, events, gap_id)
