"""Analyses over HTTP, all through the server's one :class:`~daytwo.pipeline.jobs.AnalysisRunner`
(so two never record findings for a deployment at once):

- ``POST /api/v1/analysis/runs``: start an analysis (the detectors, the knowledge gaps, or
  both; of one deployment or every one the requester manages); ``202`` with the job, which
  ``GET /api/v1/analysis/runs/{id}`` follows until it is ``done`` or ``failed``;
- ``POST /api/v1/findings/analyze`` and ``POST /api/v1/gaps/runs``: the same, answered when it
  has finished.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from daytwo.deployments.service import list_deployments
from daytwo.detect.gaps.listing import last_run
from daytwo.detect.gaps.schemas import GapRunPublic
from daytwo.errors import NotFoundError, error_from_body
from daytwo.http.access import Scope, check_deployments, current_principal, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.pipeline.jobs import AnalysisJob, AnalysisRequest, AnalysisRunner, DeploymentOutcome
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

MANAGE = [requires(Scope.manage)]
runs_router = APIRouter(prefix="/api/v1/analysis/runs", tags=["analysis"])
findings_router = APIRouter(prefix="/api/v1/findings", tags=["findings"])
gaps_router = APIRouter(prefix="/api/v1/gaps", tags=["gaps"])

# Kept for the clients of the synchronous route: a deployment's run, as a job reports it.
AnalysisOutcome = DeploymentOutcome


def runner(request: Request) -> AnalysisRunner:
    found: AnalysisRunner = request.app.state.analysis
    return found


def _deployments(
    request: Request, ledger: Ledger, events: EventStore, deployment: str | None
) -> list[str]:
    """The deployment asked for (checked: known, and the requester's to manage), or every one
    the requester may manage; an unknown one is a 404 before anything is queued."""
    everything = {d.name for d in list_deployments(ledger)} | {
        v.deployment for v in events.volumes()
    }
    if deployment:
        check_deployments(request, Scope.manage, [deployment])
        if deployment not in everything:
            raise NotFoundError(f"No deployment named {deployment!r} and no data for it.")
        return [deployment]
    principal = current_principal(request)
    return [d for d in sorted(everything) if principal and principal.can(Scope.manage, d)]


def _submit(
    request: Request, ledger: Ledger, events: EventStore, spec: AnalysisRequest
) -> AnalysisJob:
    principal = current_principal(request)
    return runner(request).submit(
        spec,
        trigger="cli" if principal is not None and principal.local else "api",
        requested_by=principal.name if principal else "anonymous",
        deployments=_deployments(request, ledger, events, spec.deployment),
    )


def _finished(request: Request, job: AnalysisJob) -> AnalysisJob:
    done = runner(request).wait(job.id)
    if done.status == "failed" and done.error is not None:
        raise error_from_body(500, {"error": done.error})
    return done


@runs_router.post(
    "",
    response_model=AnalysisJob,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start an analysis",
    dependencies=MANAGE,
)
def start_analysis(
    request: Request,
    response: Response,
    spec: AnalysisRequest,
    ledger: LedgerDep,
    events: EventsDep,
) -> AnalysisJob:
    """Queue an analysis (the detectors and their consumers, and with ``gaps`` the knowledge
    gaps) and answer at once; follow it at the ``Location`` it answers."""
    job = _submit(request, ledger, events, spec)
    response.headers["Location"] = f"/api/v1/analysis/runs/{job.id}"
    return job


@runs_router.get(
    "", response_model=list[AnalysisJob], summary="Recent analyses", dependencies=MANAGE
)
def recent_analyses(
    request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[AnalysisJob]:
    principal = current_principal(request)
    return [
        j
        for j in runner(request).recent(limit)
        if principal is not None and all(principal.sees(d) for d in (j.deployments or []))
    ]


@runs_router.get(
    "/{job_id}", response_model=AnalysisJob, summary="One analysis", dependencies=MANAGE
)
def get_analysis(request: Request, job_id: str) -> AnalysisJob:
    job = runner(request).get(job_id)
    check_deployments(request, Scope.manage, job.deployments or [])
    return job


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
    deployment: str | None = None,
    force: bool = False,
) -> list[AnalysisOutcome]:
    """Run every detector over one deployment (or each one the requester may manage) and
    record the findings, as `daytwo analyze` does; incremental unless ``force``. Answers when
    done (``POST /api/v1/analysis/runs`` answers at once)."""
    spec = AnalysisRequest(deployment=deployment, force=force)
    return list(_finished(request, _submit(request, ledger, events, spec)).outcomes)


@gaps_router.post(
    "/runs",
    response_model=GapRunPublic | None,
    summary="Cluster a deployment's recent traffic into gaps now",
    dependencies=MANAGE,
)
def run_gaps(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: Annotated[str, Query(description="Deployment name.")],
    force: Annotated[bool, Query(description="Run even when no data arrived since.")] = False,
) -> GapRunPublic | None:
    """Incremental: without ``force``, nothing happens when no data arrived since the last run."""
    spec = AnalysisRequest(deployment=deployment, force=force, detectors=False, gaps=True)
    _finished(request, _submit(request, ledger, events, spec))
    return last_run(ledger, deployment)


__all__ = ["findings_router", "gaps_router", "runs_router"]
