"""`/api/v1/adoption`: who uses the AI, who stopped, workarounds, champions, cohorts.

Per-agent answers need the ``agents`` scope (the analyst and owner roles); a viewer or a read
key gets groups only, none of fewer than five agents, and a clear 403 on a per-agent request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict

from daytwo.adoption import champions, cohorts, compare, pilot_runs, served, service
from daytwo.adoption.detail import AgentDetail, TeamDetail, agent_detail, team_detail
from daytwo.adoption.schemas import (
    AdoptionOverview,
    AgentRow,
    ChampionCreate,
    ChampionPublic,
    CohortCreate,
    CohortPublic,
    Comparison,
    Period,
    PilotPoint,
)
from daytwo.backlog.api import ActorDep, PolicyDep
from daytwo.deployments.service import get_deployment
from daytwo.errors import InputError, NotFoundError
from daytwo.http.access import Scope, check_deployments, current_principal, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.params import RowId

router = APIRouter(prefix="/api/v1/adoption", tags=["adoption"])
READ = [requires(Scope.read)]
AGENTS = [requires(Scope.agents)]
MANAGE = [requires(Scope.manage)]
Start = Annotated[
    datetime | None, Query(description="Start of the period (default: 28 days back).")
]
End = Annotated[datetime | None, Query(description="End of the period, exclusive (default: the "
                                       "end of the last day of data).")]  # fmt: skip


def agents_visible(request: Request) -> bool:
    """Whether the asker may see individual agents."""
    principal = current_principal(request)
    return principal is not None and Scope.agents in principal.scopes


def _period(
    events: EventsDep, deployment: str, start: datetime | None, end: datetime | None
) -> Period:
    return service.period_of(events, deployment, start, end)


@router.get("/{deployment}", response_model=AdoptionOverview, summary="Adoption", dependencies=READ)
def adoption(
    request: Request,
    deployment: str,
    ledger: LedgerDep,
    events: EventsDep,
    policy: PolicyDep,
    start: Start = None,
    end: End = None,
) -> AdoptionOverview:
    """Headline acceptance vs target, funnel, breakdowns (groups under five agents hidden for
    viewers), trend, who stopped, where adoption decays with its suspect changes, workaround
    signals, pilot vs rollout (as the latest analysis run stored it, with the headline gap over
    the last runs), AI vs the legacy path, champions.

    The latest answers: once data arrives, the previous answer is served at once while a newer
    one is computed in the background; ``freshness`` says when it was computed and whether it
    is being refreshed."""
    get_deployment(ledger, deployment)
    return served.overview(
        ledger, events, deployment, start, end, policy, agents_visible=agents_visible(request)
    )


@router.get(
    "/{deployment}/agents",
    response_model=list[AgentRow],
    summary="Agents and who stopped",
    dependencies=AGENTS,
)
def agents(
    deployment: str,
    ledger: LedgerDep,
    events: EventsDep,
    end: End = None,
    status_: Annotated[
        Literal["fell", "stopped", "steady", "untested"] | None, Query(alias="status")
    ] = None,
) -> list[AgentRow]:
    """Every agent's use in the last 14 days against their own 28 days before (analyst and
    owner roles only)."""
    rows = service.agents(ledger, events, deployment, _period(events, deployment, None, end))
    return [r for r in rows if status_ is None or r.status == status_]


@router.get(
    "/{deployment}/agents/{agent_ref}",
    response_model=AgentDetail,
    summary="One agent",
    dependencies=AGENTS,
)
def agent(
    deployment: str, agent_ref: str, ledger: LedgerDep, events: EventsDep, end: End = None
) -> AgentDetail:
    """One agent's use by day and feature against their own baseline, and the workaround
    signals that count them (analyst and owner roles only)."""
    return agent_detail(
        ledger, events, deployment, agent_ref, _period(events, deployment, None, end)
    )


@router.get(
    "/{deployment}/teams/{team}", response_model=TeamDetail, summary="One team", dependencies=READ
)
def team(
    request: Request,
    deployment: str,
    team: str,
    ledger: LedgerDep,
    events: EventsDep,
    start: Start = None,
    end: End = None,
) -> TeamDetail:
    """A team's use against its site and the floor, its champion, who stopped (by name for
    analysts and owners, counted for viewers) and its champion candidates."""
    return team_detail(
        ledger, events, deployment, team, _period(events, deployment, start, end),
        agents_visible=agents_visible(request),
    )  # fmt: skip


@router.get(
    "/{deployment}/pilot-vs-rollout",
    response_model=Comparison,
    summary="Pilot vs rollout, like for like",
    dependencies=READ,
)
def pilot_vs_rollout(
    deployment: str,
    ledger: LedgerDep,
    events: EventsDep,
    basis: Literal["same_age", "calendar"] = "same_age",
    start: Start = None,
    end: End = None,
) -> Comparison:
    """Each KPI for the pilot and the rollout: the naive gap and the gap after standardising
    for tenure, site and journey, with 95% agent-bootstrap intervals. ``same_age`` compares
    each agent's first days with the tool (over the default period: as the latest analysis run
    stored it); ``calendar`` the pilot's first days with the rollout in the period."""
    if basis == "same_age":
        get_deployment(ledger, deployment)
        p = served.pilot(ledger, events, deployment, start, end)
        found, note = p.comparison, p.note
    else:
        found, note = service.pilot_comparison(
            ledger, events, deployment, _period(events, deployment, start, end), basis
        )
    if found is None:
        raise NotFoundError(note)
    return found


@router.get(
    "/{deployment}/pilot-vs-rollout/history",
    response_model=list[PilotPoint],
    summary="Pilot vs rollout over analysis runs",
    dependencies=READ,
)
def pilot_history(deployment: str, ledger: LedgerDep) -> list[PilotPoint]:
    """The like-for-like and naive gap in suggestion acceptance at the same age, as each of
    the last analysis runs stored it, oldest first."""
    get_deployment(ledger, deployment)
    return pilot_runs.history(ledger, deployment)


@router.get(
    "/{deployment}/ai-vs-legacy",
    response_model=Comparison,
    summary="AI vs the legacy path, like for like",
    dependencies=READ,
)
def ai_vs_legacy(
    deployment: str, events: EventsDep, start: Start = None, end: End = None
) -> Comparison:
    """Handle time, CSAT, resolution and escalation with and without the AI, within the same
    journey, tenure band and week, agents drawn together; handle time also per tenure band."""
    return compare.ai_vs_legacy(events, deployment, _period(events, deployment, start, end))


@router.get(
    "/{deployment}/cohorts",
    response_model=list[CohortPublic],
    summary="Cohorts",
    dependencies=READ,
)
def list_cohorts(deployment: str, ledger: LedgerDep, events: EventsDep) -> list[CohortPublic]:
    """The recorded cohorts, with how many agents each holds."""
    return cohorts.list_cohorts(ledger, deployment, events)


@router.post(
    "/{deployment}/cohorts",
    response_model=CohortPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Record a cohort",
    dependencies=MANAGE,
)
def create_cohort(
    request: Request,
    deployment: str,
    spec: CohortCreate,
    ledger: LedgerDep,
    events: EventsDep,
    actor: ActorDep,
) -> CohortPublic:
    """A cohort that matches no agent, or shares agents with another cohort, is a 422 and
    nothing is stored."""
    check_deployments(request, Scope.manage, [spec.deployment])
    _same(deployment, spec.deployment)
    return cohorts.create_cohort(ledger, events, spec, actor=actor)


@router.delete(
    "/{deployment}/cohorts/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a cohort",
    dependencies=MANAGE,
)
def delete_cohort(deployment: str, name: str, ledger: LedgerDep) -> None:
    cohorts.delete_cohort(ledger, deployment, name)


@router.get(
    "/{deployment}/champions",
    response_model=list[ChampionPublic],
    summary="Champions",
    dependencies=AGENTS,
)
def list_champions(deployment: str, ledger: LedgerDep) -> list[ChampionPublic]:
    """The champions (agents by their pseudonymous refs: analyst and owner roles only)."""
    return champions.list_champions(ledger, deployment)


@router.post(
    "/{deployment}/champions",
    response_model=ChampionPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Mark a champion",
    dependencies=MANAGE,
)
def add_champion(
    request: Request,
    deployment: str,
    spec: ChampionCreate,
    ledger: LedgerDep,
    events: EventsDep,
    actor: ActorDep,
) -> ChampionPublic:
    """Someone who is not an agent of the deployment is a 422 and nothing is stored."""
    check_deployments(request, Scope.manage, [spec.deployment])
    _same(deployment, spec.deployment)
    return champions.add_champion(ledger, events, spec, actor=actor)


class EndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ended_at: datetime


@router.post(
    "/{deployment}/champions/{champion_id}/end",
    response_model=ChampionPublic,
    summary="End a champion's role",
    dependencies=MANAGE,
)
def end_champion(
    deployment: str, champion_id: RowId, spec: EndIn, ledger: LedgerDep
) -> ChampionPublic:
    _same(deployment, champions.get_champion(ledger, champion_id).deployment)
    return champions.end_champion(ledger, champion_id, spec.ended_at)


@router.get(
    "/{deployment}/workarounds",
    response_model=dict[str, list[str]],
    summary="Agents per workaround signal",
    dependencies=AGENTS,
)
def workarounds(deployment: str, events: EventsDep, end: End = None) -> dict[str, list[str]]:
    """Per signal (retyped, rewrite, legacy_path), the agents it counts over the last 14 days
    (analyst and owner roles only)."""
    period = _period(events, deployment, None, end)
    return service.workaround_agents(events, deployment, period.end)


def _same(path: str, body: str) -> None:
    if path != body:
        raise InputError(f"deployment: the body names {body!r} but the path {path!r}.")
