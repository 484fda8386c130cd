"""`/api/v1/findings`: what the detectors found, filtered; and the registered detectors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from daytwo.deployments.service import currency_of
from daytwo.detect.findings import Severity
from daytwo.detect.registry import detectors
from daytwo.detect.schemas import FindingFilter, FindingPublic, RunPublic, Status
from daytwo.detect.service import finding_deployments, get_finding, list_findings, list_runs
from daytwo.errors import InputError
from daytwo.http.access import Scope, check_deployments, current_principal, requires
from daytwo.http.deps import LedgerDep
from daytwo.http.params import RowId

router = APIRouter(prefix="/api/v1", tags=["findings"], dependencies=[requires(Scope.read)])


class DetectorInfo(BaseModel):
    id: str
    name: str
    summary: str
    doc: str
    params: dict[str, Any]


@router.get("/findings", response_model=list[FindingPublic], summary="Findings")
def findings(
    request: Request,
    ledger: LedgerDep,
    deployment: str | None = None,
    kind: str | None = None,
    detector: str | None = None,
    journey: str | None = None,
    metric: str | None = None,
    status: Annotated[list[Status] | None, Query()] = None,
    severity: Annotated[
        Literal["info", "low", "medium", "high", "critical"] | None,
        Query(description="Least severity: info, low, medium, high, critical."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[FindingPublic]:
    """Findings, most severe and most recently seen first; each value's ``display`` is in the
    finding's ``unit`` (money in its deployment's currency)."""
    found = list_findings(
        ledger,
        FindingFilter(
            deployment=deployment,
            kind=kind,
            detector=detector,
            journey=journey,
            metric=metric,
            status=status,
            min_severity=parse_severity(severity),
            limit=limit,
            offset=offset,
            deployments=visible_deployments(request, ledger),
        ),
    )
    currencies = {d: currency_of(ledger, d) for d in {f.scope.deployment for f in found}}
    return [f.displayed(currencies[f.scope.deployment]) for f in found]


def visible_deployments(request: Request, ledger: LedgerDep) -> list[str]:
    """The deployments with findings that the requester may see."""
    principal = current_principal(request)
    if principal is None:
        return []
    return [d for d in finding_deployments(ledger) if principal.sees(d)]


def parse_severity(value: str | None) -> Severity | None:
    if not value:
        return None
    try:
        return Severity[value]
    except KeyError:
        names = ", ".join(s.name for s in Severity)
        raise InputError(f"severity must be one of {names}, not {value!r}.") from None


@router.get("/findings/runs", response_model=list[RunPublic], summary="Analysis runs")
def runs(
    request: Request, ledger: LedgerDep, limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> list[RunPublic]:
    """The latest analysis runs, newest first (of the deployments the requester may see)."""
    principal = current_principal(request)
    return [r for r in list_runs(ledger, limit) if principal and principal.sees(r.deployment)]


@router.get("/findings/{finding_id:int}", response_model=FindingPublic, summary="One finding")
def finding(request: Request, ledger: LedgerDep, finding_id: RowId) -> FindingPublic:
    found = get_finding(ledger, finding_id)
    check_deployments(request, Scope.read, [found.scope.deployment])
    return found.displayed(currency_of(ledger, found.scope.deployment))


@router.get("/detectors", response_model=list[DetectorInfo], summary="Registered detectors")
def detector_list() -> list[DetectorInfo]:
    """Every registered detector with its documentation and parameters."""
    return [
        DetectorInfo(id=d.id, name=d.name, summary=d.summary, doc=d.doc, params=d.param_values())
        for d in detectors()
    ]
