"""Adoption pages: `/adoption` (everyone: groups only, none under five agents for viewers), the
agents list and one agent's page (analyst and owner roles), and one team's page.

The page answers at the top (acceptance against its target and against the pilot at the same
age); the comparisons that take a bootstrap (pilot vs rollout, AI vs the legacy path,
champions, usage after changes) load as sections right after it, so the answer is never kept
waiting for them. The page and its sections serve the latest answers
(:mod:`daytwo.adoption.served`): once data arrives, the last one with its age while a newer one
is computed in the background; the sections are asked for the period as the reader asked it,
so the default one follows the data.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from daytwo.adoption import pilot_runs, served, service
from daytwo.adoption.api import agents_visible
from daytwo.adoption.charts import trend_spec
from daytwo.adoption.detail import agent_detail
from daytwo.adoption.schemas import GROUP_KEYS, PRIVACY_FLOOR, Period
from daytwo.backlog.api import PolicyDep
from daytwo.deployments.schemas import DeploymentOverview
from daytwo.deployments.service import overview as deployments_overview
from daytwo.errors import InputError
from daytwo.http.access import Scope, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.scope import parse_date
from daytwo.http.templating import templates

router = APIRouter(include_in_schema=False)
READ = [requires(Scope.read)]
AGENTS = [requires(Scope.agents)]
SECTIONS = ("pilot", "legacy", "champions", "changes")


def _assist(request: Request, ledger: LedgerDep, events: EventsDep) -> list[DeploymentOverview]:
    """The deployments the asker may see, agent-assist ones first."""
    found = granted(request, deployments_overview(ledger, events))
    return sorted(found, key=lambda d: (str(d.kind) != "agent_assist", d.name))


def _asked(
    request: Request, ledger: LedgerDep, events: EventsDep
) -> tuple[str | None, datetime | None, datetime | None, list[DeploymentOverview]]:
    """The deployment and the period as asked (None: the default, which follows the data)."""
    deployments = _assist(request, ledger, events)
    with_data = [d for d in deployments if d.interactions]
    if not with_data:
        return None, None, None, deployments
    q = request.query_params
    name = q.get("deployment") or with_data[0].name
    if name not in {d.name for d in deployments}:
        raise InputError(f"Unknown deployment {name!r}.")
    start, end = parse_date(q.get("start"), "The start"), parse_date(q.get("end"), "The end")
    if start and end and start > end:
        raise InputError("The start date is after the end date.")
    at = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC) if end else None
    since = datetime.combine(start, time(), tzinfo=UTC) if start else None
    if since and at is None:
        at = since + timedelta(days=service.DEFAULT_DAYS)
    return name, since, at, deployments


def _scope(
    request: Request, ledger: LedgerDep, events: EventsDep
) -> tuple[str | None, Period | None, list[DeploymentOverview]]:
    name, since, at, deployments = _asked(request, ledger, events)
    if name is None:
        return None, None, deployments
    return name, service.period_of(events, name, since, at), deployments


def _context(request: Request, **kw: Any) -> dict[str, Any]:
    return {"scope": None, "floor": PRIVACY_FLOOR, "agents_visible": agents_visible(request), **kw}


def _query(deployment: str, period: Period) -> str:
    last = (period.end - timedelta(days=1)).date()
    return f"deployment={deployment}&start={period.start.date()}&end={last}"


def _asked_query(deployment: str, since: datetime | None, at: datetime | None) -> str:
    """The sections' query: the period as asked, so that the default one follows the data."""
    if since is None or at is None:
        return f"deployment={deployment}"
    return _query(deployment, Period(start=since, end=at))


@router.get("/adoption", response_class=HTMLResponse, dependencies=READ)
def adoption_page(
    request: Request, ledger: LedgerDep, events: EventsDep, policy: PolicyDep
) -> HTMLResponse:
    """Who uses the AI and who stopped, for one deployment and period."""
    name, since, at, deployments = _asked(request, ledger, events)
    by = request.query_params.get("by") or "site"
    if by not in GROUP_KEYS:
        raise InputError(f"by: break adoption down by {', '.join(GROUP_KEYS)}, not {by!r}.")
    if name is None:
        return templates.TemplateResponse(request, "adoption.html", _context(request))
    visible = agents_visible(request)
    o = served.overview(
        ledger, events, name, since, at, policy, agents_visible=visible, comparisons=False,
        keys=(by,),
    )  # fmt: skip
    period = o.period
    spec = trend_spec(o.trend, o.headline.target)
    context = _context(
        request,
        o=o,
        by=by,
        rows=o.groups[by],
        deployments=deployments,
        query=_query(name, period),
        sections_query=_asked_query(name, since, at),
        sections=SECTIONS,
        trend=orjson.dumps(spec).decode() if spec else None,
        last_day=(period.end - timedelta(days=1)).date(),
        after_change=service.SIGNAL_DEFINITIONS["after_change"],
    )
    return templates.TemplateResponse(request, "adoption.html", context)


@router.get("/adoption/sections/{section}", response_class=HTMLResponse, dependencies=READ)
def adoption_section(
    section: str, request: Request, ledger: LedgerDep, events: EventsDep, policy: PolicyDep
) -> HTMLResponse:
    """One of the page's slower sections, on its own (the page loads them after itself): the
    latest answer, with its age when newer data is being compared in the background."""
    if section not in SECTIONS:
        raise InputError(f"No adoption section {section!r}: {', '.join(SECTIONS)}.")
    name, since, at, _ = _asked(request, ledger, events)
    context = _context(request, section=section)
    if name is not None:
        visible = agents_visible(request)
        if section == "pilot":
            p = served.pilot(ledger, events, name, since, at)
            context.update(
                comparison=p.comparison, note=p.note, age=p.freshness, run_id=p.run_id,
                history=pilot_runs.history(ledger, name),
            )  # fmt: skip
        elif section == "legacy":
            kept = served.legacy(ledger, events, name, since, at)
            context.update(comparison=kept.answer[1], note="", age=served.freshness(kept))
        elif section == "champions":
            kept_c = served.champions_view(ledger, events, name, since, at, with_agents=visible)
            period, view = kept_c.answer
            context.update(
                champions=view, deployment=name, query=_query(name, period),
                age=served.freshness(kept_c),
            )  # fmt: skip
        else:
            kept_a = served.changes(ledger, events, name, since, at, policy)
            context.update(changes=kept_a.answer[1], age=served.freshness(kept_a))
    return templates.TemplateResponse(request, "_adoption_section.html", context)


@router.get("/adoption/agents", response_class=HTMLResponse, dependencies=AGENTS)
def agents_page(request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    """Every agent against their own baseline (analyst and owner roles)."""
    name, period, deployments = _scope(request, ledger, events)
    status = request.query_params.get("status") or None
    if status not in (None, "fell", "stopped", "steady", "untested"):
        raise InputError(f"status: fell, stopped, steady or untested, not {status!r}.")
    rows = []
    signal = request.query_params.get("signal") or None
    flagged: dict[str, list[str]] = {}
    if name is not None and period is not None:
        rows = service.agents(ledger, events, name, period)
        if signal:
            flagged = service.workaround_agents(events, name, period.end)
            if signal not in flagged:
                raise InputError(f"signal: one of {', '.join(flagged)}, not {signal!r}.")
            rows = [r for r in rows if r.agent_ref in flagged[signal]]
        rows = [r for r in rows if status is None or r.status == status]
    context = _context(
        request,
        rows=rows,
        deployment=name,
        deployments=deployments,
        status=status,
        signal=signal,
        query=_query(name, period) if name and period else "",
    )
    return templates.TemplateResponse(request, "adoption_agents.html", context)


@router.get("/adoption/agents/{agent_ref}", response_class=HTMLResponse, dependencies=AGENTS)
def agent_page(
    agent_ref: str, request: Request, ledger: LedgerDep, events: EventsDep
) -> HTMLResponse:
    """One agent (analyst and owner roles)."""
    name, period, _ = _scope(request, ledger, events)
    if name is None or period is None:
        raise InputError("No deployment with data.")
    detail = agent_detail(ledger, events, name, agent_ref, period)
    context = _context(request, d=detail, deployment=name, query=_query(name, period))
    return templates.TemplateResponse(request, "adoption_agent.html", context)


@router.get("/adoption/teams/{team}", response_class=HTMLResponse, dependencies=READ)
def team_page(team: str, request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    """One team: its use against its site and the floor, its champion, who stopped."""
    name, since, at, _ = _asked(request, ledger, events)
    if name is None:
        raise InputError("No deployment with data.")
    kept = served.team(
        ledger, events, name, team, since, at, agents_visible=agents_visible(request)
    )
    period, detail, row = kept.answer
    spec = trend_spec(detail.trend, None, series=(team, "all"))
    context = _context(
        request,
        t=detail,
        deployment=name,
        query=_query(name, period),
        row=row,
        trend=orjson.dumps(spec).decode() if spec and not detail.suppressed else None,
        age=served.freshness(kept),
    )
    return templates.TemplateResponse(request, "adoption_team.html", context)
