"""Pages of the plan: where the 90 days stand by evidence (``/plan``), and which journeys are
ready to roll out (``/rollout``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.deployments.service import list_deployments
from daytwo.errors import DaytwoError, InputError
from daytwo.http.access import Scope, check_deployments, current_principal, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.templating import templates
from daytwo.http.timeline import Mark, PlanBanner, Timeline
from daytwo.http.timeline import register as register_timeline
from daytwo.plan import ledger as plan_ledger
from daytwo.plan import rollout, service, standing
from daytwo.plan.api import actor_of, client_ip, role_of
from daytwo.plan.consumer import evaluate_gates
from daytwo.plan.rollout_calc import FORWARD
from daytwo.plan.schemas import (
    RolloutEventPublic,
    RolloutRecommendations,
    RolloutSet,
    RolloutState,
    RolloutUnitPublic,
)
from daytwo.store.ledger import Ledger

router = APIRouter(include_in_schema=False)


def plan_timeline(ledger: Ledger, deployment: str) -> Timeline | None:
    """The plan's phases and passed gates as chart marks, and the overview's banner."""
    found = standing.timeline(ledger, deployment)
    if found is None:
        return None
    status, phases = found
    marks: list[Mark] = []
    for p in phases:
        if p.start is not None:
            marks.append(Mark(p.start, p.name.lower()))
        if p.signoff is not None:
            if p.signoff.kind == "override":
                marks.append(
                    Mark(p.signoff.at.date(), f"{p.name.lower()} overridden", "overridden")
                )
            else:
                marks.append(Mark(p.signoff.at.date(), f"{p.name.lower()} passed", "passed"))
    current = next((p for p in phases if p.key == status.current_phase), None)
    banner = PlanBanner(
        day=status.day,
        days_total=status.days_total,
        phase=current.name if current else None,
        calendar_ahead=status.calendar_ahead,
        lead=status.lead,
        gate_met=status.next_gate_met,
        gate_total=status.next_gate_total,
        gate_ready=status.next_gate_ready,
        overridden=tuple(p.name for p in phases if p.status == "overridden"),
        href=f"/plan?{urlencode({'deployment': deployment})}",
    )
    return Timeline(marks=marks, banner=banner)


register_timeline(plan_timeline)
READ = [requires(Scope.read)]
MANAGE = [requires(Scope.manage)]
STATE_CHOICES = [s.value for s in RolloutState]


def _back(path: str, **params: str | None) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=303)


def _pick(
    request: Request, ledger: LedgerDep, deployment: str | None
) -> tuple[list[DeploymentPublic], DeploymentPublic | None]:
    deployments = granted(request, list_deployments(ledger))
    if not deployments:
        return [], None
    if deployment is None:
        with_plan = [d for d in deployments if standing.plan_exists(ledger, d.name)]
        return deployments, (with_plan or deployments)[0]
    found = next((d for d in deployments if d.name == deployment), None)
    if found is None:
        raise InputError(f"Unknown deployment {deployment!r}.")
    return deployments, found


def _can(request: Request, scope: Scope) -> bool:
    principal = current_principal(request)
    return principal is not None and scope in principal.scopes


@router.get("/plan", response_class=HTMLResponse, dependencies=READ)
def plan_page(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: str | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    deployments, dep = _pick(request, ledger, deployment)
    plan = None
    histories: dict[str, list[tuple[object, bool, int, int]]] = {}
    if dep is not None and standing.plan_exists(ledger, dep.name):
        plan = standing.get_plan(ledger, events, dep.name)
        for p in plan.phases:
            histories[p.key] = list(plan_ledger.gate_history(ledger, dep.name, p.key))
    return templates.TemplateResponse(
        request,
        "plan.html",
        {
            "scope": None,
            "deployments": deployments,
            "deployment": dep,
            "plan": plan,
            "histories": histories,
            "can_manage": _can(request, Scope.manage),
            "can_override": _can(request, Scope.admin),
            "error": error,
            "notice": notice,
        },
    )


@router.post("/plan/{deployment}/evaluate", dependencies=MANAGE)
def evaluate_form(
    request: Request, deployment: str, ledger: LedgerDep, events: EventsDep
) -> RedirectResponse:
    try:
        outcome = evaluate_gates(ledger, events, deployment, trigger="on_demand")
    except DaytwoError as exc:
        return _back("/plan", deployment=deployment, error=exc.message)
    day = outcome.through.isoformat() if outcome and outcome.through else "today"
    return _back("/plan", deployment=deployment, notice=f"Every gate evaluated through {day}.")


@router.post("/plan/{deployment}/template", dependencies=MANAGE)
def template_form(
    request: Request, deployment: str, ledger: LedgerDep, events: EventsDep
) -> RedirectResponse:
    try:
        service.apply_template(ledger, events, deployment, actor=actor_of(request))
        evaluate_gates(ledger, events, deployment, trigger="on_demand")
    except DaytwoError as exc:
        return _back("/plan", deployment=deployment, error=exc.message)
    return _back("/plan", deployment=deployment, notice="The default plan is applied.")


@router.post("/plan/{deployment}/phases/{phase}/signoff", dependencies=MANAGE)
def signoff_form(
    request: Request,
    deployment: str,
    phase: str,
    ledger: LedgerDep,
    events: EventsDep,
    reason: Annotated[str, Form()] = "",
    override: Annotated[str, Form()] = "",
) -> RedirectResponse:
    try:
        check_deployments(request, Scope.manage, [deployment])
        done = service.signoff(
            ledger,
            events,
            deployment,
            phase,
            actor=actor_of(request),
            role=role_of(current_principal(request)),
            reason=reason,
            override=bool(override),
            ip=client_ip(request),
        )
    except DaytwoError as exc:
        return _back("/plan", deployment=deployment, error=exc.message)
    word = "overridden" if done.kind == "override" else "signed off"
    return _back("/plan", deployment=deployment, notice=f"The {phase} gate is {word}.")


@router.get("/rollout", response_class=HTMLResponse, dependencies=READ)
def rollout_page(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: str | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    deployments, dep = _pick(request, ledger, deployment)
    units: list[RolloutUnitPublic] = []
    recs: RolloutRecommendations | None = None
    history: list[RolloutEventPublic] = []
    if dep is not None:
        units = rollout.show(ledger, events, dep.name)
        recs = rollout.recommend(ledger, events, dep.name, cards=units)
        history = rollout.history(ledger, dep.name, limit=50)
    components: list[tuple[str, str]] = []
    for u in units:
        for c in u.scorecard.components if u.scorecard else []:
            if c.key not in [k for k, _ in components]:
                components.append((c.key, c.label))
    return templates.TemplateResponse(
        request,
        "rollout.html",
        {
            "scope": None,
            "deployments": deployments,
            "deployment": dep,
            "units": units,
            "components": components,
            "recs": recs,
            "history": history,
            "forward": {s.value: n.value for s, n in FORWARD.items()},
            "states": STATE_CHOICES,
            "can_manage": _can(request, Scope.manage),
            "error": error,
            "notice": notice,
        },
    )


@router.post("/rollout/{deployment}/set", dependencies=MANAGE)
def set_form(
    request: Request,
    deployment: str,
    ledger: LedgerDep,
    events: EventsDep,
    state: Annotated[str, Form()],
    journey: Annotated[str, Form()] = "",
    group: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> RedirectResponse:
    try:
        check_deployments(request, Scope.manage, [deployment])
        key, _, value = group.partition("=")
        spec = RolloutSet(
            journey=journey or None,
            group={key: value} if group else None,
            state=RolloutState(state) if state in STATE_CHOICES else RolloutState.pilot,
            reason=reason,
        )
        if state not in STATE_CHOICES:
            raise InputError(f"state: unknown state {state!r}.")
        changed = rollout.set_state(ledger, events, deployment, spec, actor=actor_of(request))
    except DaytwoError as exc:
        return _back("/rollout", deployment=deployment, error=exc.message)
    except ValueError as exc:
        return _back("/rollout", deployment=deployment, error=str(exc))
    name = journey or group or "every journey"
    text = f"{name} is now {changed.unit.state.value.replace('_', ' ')}."
    if changed.warnings:
        return _back(
            "/rollout", deployment=deployment, error=text + " " + " ".join(changed.warnings)
        )
    return _back("/rollout", deployment=deployment, notice=text)
