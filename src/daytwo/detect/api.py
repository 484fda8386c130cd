"""`/api/v1/findings`: what the detectors found, filtered; and the registered detectors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from daytwo.deployments.service import list_deployments
from daytwo.detect.findings import Severity
from daytwo.detect.registry import detectors
from daytwo.detect.runner import analyze
from daytwo.detect.schemas import FindingFilter, FindingPublic, RunPublic, Status
from daytwo.detect.service import finding_deployments, get_finding, list_findings, list_runs
from daytwo.errors import InputError
from daytwo.server.access import Scope, check_deployments, current_principal, requires
from daytwo.server.deps import EventsDep, LedgerDep

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
        str | None, Query(description="Least severity: info, low, medium, high, critical.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[FindingPublic]:
    """Findings, most severe and most recently seen first."""
    return list_findings(
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


class AnalysisOutcome(BaseModel):
    deployment: str
    as_of: datetime
    run_id: int | None
    findings: int
    new: int
    updated: int
    resolved: int
    regressed: int
    skipped: str | None


@router.post(
    "/findings/analyze",
    response_model=list[AnalysisOutcome],
    summary="Run the detectors now",
    dependencies=[requires(Scope.manage)],
)
def analyze_now(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: str | None = None,
    force: bool = False,
) -> list[AnalysisOutcome]:
    """Run every detector over one deployment (or each one the requester may manage) and
    record the findings, as `daytwo analyze` does; incremental unless ``force``."""
    if deployment:
        check_deployments(request, Scope.manage, [deployment])
        names: list[str | None] = [deployment]
    else:
        principal = current_principal(request)
        everything = {d.name for d in list_deployments(ledger)} | {
            v.deployment for v in events.volumes()
        }
        names = [d for d in sorted(everything) if principal and principal.can(Scope.manage, d)]
    out = []
    for name in names:
        for o in analyze(ledger, events, deployment=name, force=force):
            r = o.recorded
            out.append(
                AnalysisOutcome(
                    deployment=o.deployment,
                    as_of=o.as_of,
                    run_id=o.run_id,
                    findings=len(o.findings),
                    new=r.new if r else 0,
                    updated=r.updated if r else 0,
                    resolved=r.resolved if r else 0,
                    regressed=r.regressed if r else 0,
                    skipped=o.skipped,
                )
            )
    return out


@router.get("/findings/{finding_id}", response_model=FindingPublic, summary="One finding")
def finding(request: Request, ledger: LedgerDep, finding_id: int) -> FindingPublic:
    found = get_finding(ledger, finding_id)
    check_deployments(request, Scope.read, [found.scope.deployment])
    return found


@router.get("/detectors", response_model=list[DetectorInfo], summary="Registered detectors")
def detector_list() -> list[DetectorInfo]:
    """Every registered detector with its documentation and parameters."""
    return [
        DetectorInfo(id=d.id, name=d.name, summary=d.summary, doc=d.doc, params=d.param_values())
        for d in detectors()
    ]
