"""`/api/v1/plans` and `/api/v1/rollout`: the 90-day plan, its gates, and the rollout."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, status

from daytwo.errors import InputError
from daytwo.governance.models import Role
from daytwo.http.access import Principal, Scope, current_principal, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.plan import ledger as plan_ledger
from daytwo.plan import rollout, service, standing
from daytwo.plan.consumer import evaluate_gates
from daytwo.plan.schemas import (
    EvaluateIn,
    GateResult,
    PlanBody,
    PlanPublic,
    PlanSpec,
    RecordSpec,
    RolloutChanged,
    RolloutEventPublic,
    RolloutRecommendations,
    RolloutSet,
    RolloutUnitPublic,
    SignoffIn,
    SignoffPublic,
)
from daytwo.plan.validate import TEMPLATE_KINDS, parse_plan, parse_yaml, template_text

router = APIRouter(prefix="/api/v1/plans", tags=["plan"])
rollout_router = APIRouter(prefix="/api/v1/rollout", tags=["rollout"])
READ = [requires(Scope.read)]
MANAGE = [requires(Scope.manage)]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def _plan_body_schema() -> dict[str, Any]:
    """The JSON body's schema: a plan whose ``deployment`` may be left to the path. Its parts
    are the components the template route's ``PlanSpec`` already puts in the document."""
    schema = PlanBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


PLAN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _plan_body_schema()},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


def role_of(principal: Principal | None) -> Role:
    """The role a request acts with: admin, owner (may manage) or viewer."""
    if principal is None:
        return Role.viewer
    if Scope.admin in principal.scopes:
        return Role.admin
    if Scope.manage in principal.scopes:
        return Role.owner
    return Role.analyst if Scope.feedback in principal.scopes else Role.viewer


def actor_of(request: Request) -> str:
    principal = current_principal(request)
    return principal.name if principal is not None else "api"


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get(
    "/templates/{kind}",
    response_model=PlanSpec,
    summary="A default plan template",
    dependencies=READ,
)
def get_template(kind: str) -> PlanSpec:
    """The default plan of a deployment kind (``virtual_agent``, ``agent_assist``,
    ``llm_app``), as shipped (targets not yet filled in)."""
    if kind not in TEMPLATE_KINDS:
        raise InputError(f"No template {kind!r}: use one of {', '.join(TEMPLATE_KINDS)}.")
    return parse_yaml(template_text(kind), deployment="template")


@router.get("/{deployment}", response_model=PlanPublic, summary="A plan", dependencies=READ)
def get_plan(deployment: str, ledger: LedgerDep, events: EventsDep) -> PlanPublic:
    """Phases, gates with their latest evaluation, sign-offs, and where it stands."""
    return standing.get_plan(ledger, events, deployment)


@router.put(
    "/{deployment}",
    response_model=PlanPublic,
    summary="Apply a plan",
    dependencies=MANAGE,
    openapi_extra=PLAN_BODY,
)
async def apply_plan(
    request: Request, deployment: str, ledger: LedgerDep, events: EventsDep
) -> PlanPublic:
    """Replace the deployment's plan with the one sent (JSON, or YAML with a YAML content
    type). Every problem is named by its field; nothing is stored when one is found."""
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in YAML_TYPES:
        spec = parse_yaml(raw.decode("utf-8", errors="replace"), deployment=deployment)
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"The body is not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise InputError("The plan must be a JSON object with `phases`.")
        if data.get("deployment") is None:
            data["deployment"] = deployment
        if data["deployment"] != deployment:
            raise InputError(
                f"deployment: the body names {data['deployment']!r}, the path {deployment!r}."
            )
        spec = parse_plan(data)
    return service.apply_plan(ledger, events, spec, actor=actor_of(request), ip=client_ip(request))


@router.post(
    "/{deployment}/template",
    response_model=PlanPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Apply the default plan of the deployment's kind",
    dependencies=MANAGE,
)
def apply_template(
    request: Request, deployment: str, ledger: LedgerDep, events: EventsDep
) -> PlanPublic:
    return service.apply_template(ledger, events, deployment, actor=actor_of(request))


@router.post(
    "/{deployment}/evaluate",
    response_model=list[GateResult],
    summary="Evaluate every gate now",
    dependencies=MANAGE,
)
def evaluate(
    deployment: str, ledger: LedgerDep, events: EventsDep, spec: EvaluateIn | None = None
) -> list[GateResult]:
    """Each criterion's value, interval, sample, window, verdict and evidence, through the
    last day with data (or ``through``); kept as the gates' latest evaluation."""
    outcome = evaluate_gates(
        ledger, events, deployment, through=spec.through if spec else None, trigger="on_demand"
    )
    if outcome is None:
        standing.get_plan(ledger, events, deployment)  # the "no plan yet" error
        return []
    return outcome.gates


@router.post(
    "/{deployment}/phases/{phase}/signoff",
    response_model=SignoffPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Sign off (or override) a gate",
    dependencies=MANAGE,
)
def signoff(
    request: Request,
    deployment: str,
    phase: str,
    spec: SignoffIn,
    ledger: LedgerDep,
    events: EventsDep,
) -> SignoffPublic:
    """Pass a ready gate (owner or admin), or override an unready one (admin, with a written
    reason). Recorded in the audit log."""
    return service.signoff(
        ledger,
        events,
        deployment,
        phase,
        actor=actor_of(request),
        role=role_of(current_principal(request)),
        reason=spec.reason,
        override=spec.override,
        ip=client_ip(request),
    )


@router.get(
    "/{deployment}/phases/{phase}/history",
    response_model=list[dict[str, Any]],
    summary="A gate's evaluations, day by day",
    dependencies=READ,
)
def gate_history(deployment: str, phase: str, ledger: LedgerDep) -> list[dict[str, Any]]:
    return [
        {"through": d.isoformat(), "ready": ready, "met": met, "total": total}
        for d, ready, met, total in plan_ledger.gate_history(ledger, deployment, phase)
    ]


@router.post(
    "/{deployment}/records",
    response_model=RecordSpec,
    status_code=status.HTTP_201_CREATED,
    summary="Add a runbook or handover record",
    dependencies=MANAGE,
)
def add_record(
    request: Request, deployment: str, spec: RecordSpec, ledger: LedgerDep, events: EventsDep
) -> RecordSpec:
    return service.add_record(ledger, events, deployment, spec, actor=actor_of(request))


@rollout_router.get(
    "/{deployment}", response_model=list[RolloutUnitPublic], summary="Rollout", dependencies=READ
)
def show_rollout(deployment: str, ledger: LedgerDep, events: EventsDep) -> list[RolloutUnitPublic]:
    """Every journey (and agent group) with its state and readiness scorecard."""
    return rollout.show(ledger, events, deployment)


@rollout_router.post(
    "/{deployment}",
    response_model=RolloutChanged,
    summary="Change a journey's rollout state",
    dependencies=MANAGE,
)
def set_rollout(
    request: Request, deployment: str, spec: RolloutSet, ledger: LedgerDep, events: EventsDep
) -> RolloutChanged:
    """A state change that skips a state is refused; an expansion of a journey that is not
    ready is made, with a warning in the answer and in its history."""
    return rollout.set_state(ledger, events, deployment, spec, actor=actor_of(request))


@rollout_router.get(
    "/{deployment}/recommendations",
    response_model=RolloutRecommendations,
    summary="The next journeys to roll out",
    dependencies=READ,
)
def recommend(
    deployment: str,
    ledger: LedgerDep,
    events: EventsDep,
    count: Annotated[int, Query(ge=1, le=10)] = rollout.RECOMMEND,
) -> RolloutRecommendations:
    return rollout.recommend(ledger, events, deployment, count=count)


@rollout_router.get(
    "/{deployment}/history",
    response_model=list[RolloutEventPublic],
    summary="Rollout state changes",
    dependencies=READ,
)
def rollout_history(deployment: str, ledger: LedgerDep) -> list[RolloutEventPublic]:
    return rollout.history(ledger, deployment)
