"""`POST /api/v1/findings/analyze` and `POST /api/v1/gaps/runs`: an analysis started over
HTTP goes through the pipeline like any other."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from daytwo.deployments.service import list_deployments
from daytwo.detect.gaps.schemas import GapRunPublic
from daytwo.detect.gaps.service import last_run
from daytwo.http.access import Scope, check_deployments, current_principal, requires
from daytwo.http.deps import EventsDep, LedgerDep, SettingsDep
from daytwo.pipeline.run import analyze, cluster_gaps

findings_router = APIRouter(prefix="/api/v1/findings", tags=["findings"])
gaps_router = APIRouter(prefix="/api/v1/gaps", tags=["gaps"])


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


@findings_router.post(
    "/analyze",
    response_model=list[AnalysisOutcome],
    summary="Run the detectors now",
    dependencies=[requires(Scope.read), requires(Scope.manage)],
)
def analyze_now(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    settings: SettingsDep,
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
        for o in analyze(settings, ledger, events, trigger="api", deployment=name, force=force):
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


@gaps_router.post(
    "/runs",
    response_model=GapRunPublic | None,
    summary="Cluster a deployment's recent traffic into gaps now",
    dependencies=[requires(Scope.manage)],
)
def run_gaps(
    ledger: LedgerDep,
    events: EventsDep,
    settings: SettingsDep,
    deployment: Annotated[str, Query(description="Deployment name.")],
    force: Annotated[bool, Query(description="Run even when no data arrived since.")] = False,
) -> GapRunPublic | None:
    """Incremental: without ``force``, nothing happens when no data arrived since the last run."""
    cluster_gaps(settings, ledger, events, deployment, trigger="api", force=force)
    return last_run(ledger, deployment)
