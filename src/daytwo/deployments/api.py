"""`/api/v1/deployments`."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from daytwo.deployments import service
from daytwo.deployments.schemas import DeploymentCreate, DeploymentOverview, DeploymentPublic
from daytwo.http.access import Scope, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep

router = APIRouter(prefix="/api/v1/deployments", tags=["deployments"])


@router.get(
    "",
    response_model=list[DeploymentOverview],
    summary="Deployments and volumes",
    dependencies=[requires(Scope.read)],
)
def list_deployments(
    request: Request, ledger: LedgerDep, events: EventsDep
) -> list[DeploymentOverview]:
    return granted(request, service.overview(ledger, events))


@router.post(
    "",
    response_model=DeploymentPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Register a deployment",
    dependencies=[requires(Scope.admin)],
)
def create_deployment(spec: DeploymentCreate, ledger: LedgerDep) -> DeploymentPublic:
    return service.create_deployment(ledger, spec)


@router.get(
    "/{name}",
    response_model=DeploymentPublic,
    summary="One deployment",
    dependencies=[requires(Scope.read, deployment_param="name")],
)
def get_deployment(name: str, ledger: LedgerDep) -> DeploymentPublic:
    return service.get_deployment(ledger, name)
