"""One agent and one team: what their pages and API answers show.

An agent's page (analyst and owner roles only) shows their use day by day against their own
baseline, feature by feature, and the workaround signals that count them. A team's page shows
its use against its site and the floor, its champion, and who stopped: named for analysts and
owners, counted for viewers, and nothing at all for a viewer when the team has fewer than five
agents.
"""

# SQL here is built from module constants; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel

from daytwo.adoption import champions
from daytwo.adoption.rollup import AGENT_DAILY, source
from daytwo.adoption.schemas import (
    PRIVACY_FLOOR,
    AgentRow,
    CandidateRow,
    ChampionPublic,
    Period,
    TrendPoint,
)
from daytwo.adoption.service import workaround_agents
from daytwo.adoption.signals import SIGNAL_NAMES
from daytwo.adoption.stopped import who_stopped
from daytwo.adoption.usage import ratio, trend
from daytwo.adoption.wording import feature_label
from daytwo.deployments.service import get_deployment
from daytwo.errors import NotFoundError
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

HISTORY_DAYS = 56


class DayPoint(BaseModel):
    day: date
    shown: int
    used: int
    acceptance: float | None
    conversations: int


class FeatureUse(BaseModel):
    feature: str
    label: str
    baseline: float | None
    current: float | None
    status: str


class AgentDetail(BaseModel):
    deployment: str
    agent: AgentRow
    days: list[DayPoint]
    features: list[FeatureUse]
    signals: list[str]  # names of the workaround signals that count them (last 14 days)
    champion: ChampionPublic | None
    team_acceptance: float | None
    floor_acceptance: float | None


class TeamDetail(BaseModel):
    deployment: str
    team: str
    site: str | None
    agents: int
    suppressed: str | None
    acceptance: float | None
    previous_acceptance: float | None
    site_acceptance: float | None
    floor_acceptance: float | None
    trend: list[TrendPoint]
    champions: list[ChampionPublic]
    flagged: int | None  # agents who fell or stopped (None: hidden)
    stopped_agents: list[AgentRow]  # analyst / owner only
    candidates: list[CandidateRow]  # analyst / owner only, where the team has no champion


def _acceptance(
    events: EventStore,
    deployment: str,
    period: Period,
    where: str = "",
    params: list[object] | None = None,
) -> float | None:
    rel, p = source(events, AGENT_DAILY, deployment, period.start, period.end)
    row = events.query(
        f"SELECT sum(used) AS u, sum(shown) AS s FROM {rel} {where}", [*p, *(params or [])]
    ).to_pylist()[0]
    return ratio(row["u"], row["s"])


def agent_detail(
    ledger: Ledger, events: EventStore, deployment: str, agent_ref: str, period: Period
) -> AgentDetail:
    get_deployment(ledger, deployment)
    who = who_stopped(events, deployment, period.end)
    marked = {c.agent_ref: c for c in champions.list_champions(ledger, deployment)}
    rows = {r.agent_ref: r for r in who.agents(set(marked))}
    if agent_ref not in rows:
        raise NotFoundError(
            f"{agent_ref!r} is not an agent of {deployment!r} with conversations in the weeks "
            f"before {period.end:%Y-%m-%d}."
        )
    row = rows[agent_ref]
    i = who.roster.refs.index(agent_ref)
    features = []
    for f, t in who.now.items():
        status = "stopped" if t.stopped[i] else "fell" if t.fell[i] else (
            "steady" if t.eligible[i] else "untested"
        )  # fmt: skip
        base, cur = float(t.baseline_rate[i]), float(t.current_rate[i])
        features.append(
            FeatureUse(
                feature=f,
                label=feature_label(f),
                baseline=None if base != base else base,
                current=None if cur != cur else cur,
                status=status,
            )
        )
    start = period.end - timedelta(days=HISTORY_DAYS)
    rel, p = source(events, AGENT_DAILY, deployment, start, period.end)
    days = [
        DayPoint(
            day=r["day"] if isinstance(r["day"], date) else r["day"].date(),
            shown=int(r["s"] or 0),
            used=int(r["u"] or 0),
            acceptance=ratio(r["u"], r["s"]),
            conversations=int(r["c"] or 0),
        )
        for r in events.query(
            f"SELECT day, sum(shown) AS s, sum(used) AS u, sum(conversations) AS c FROM {rel} "
            "WHERE agent_ref = ? GROUP BY day ORDER BY day",
            [*p, agent_ref],
        ).to_pylist()
    ]
    flagged = workaround_agents(events, deployment, period.end)
    recent = Period(start=period.end - timedelta(days=who.params.current_days), end=period.end)
    return AgentDetail(
        deployment=deployment,
        agent=row,
        days=days,
        features=features,
        signals=[SIGNAL_NAMES[s] for s, agents in flagged.items() if agent_ref in agents],
        champion=marked.get(agent_ref),
        team_acceptance=_acceptance(events, deployment, recent, "WHERE team = ?", [row.team])
        if row.team
        else None,
        floor_acceptance=_acceptance(events, deployment, recent),
    )


def team_detail(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    team: str,
    period: Period,
    *,
    agents_visible: bool,
) -> TeamDetail:
    get_deployment(ledger, deployment)
    rel, p = source(events, AGENT_DAILY, deployment, period.start, period.end)
    info = events.query(
        f"SELECT count(DISTINCT agent_ref) AS n, arg_max(site, day) AS site FROM {rel} "
        "WHERE team = ?",
        [*p, team],
    ).to_pylist()[0]
    n = int(info["n"] or 0)
    if n == 0:
        raise NotFoundError(f"{deployment!r} has no team {team!r} in this period.")
    site = info["site"]
    before = Period(start=period.start - (period.end - period.start), end=period.start)
    hidden = not agents_visible and n < PRIVACY_FLOOR
    marked = [c for c in champions.list_champions(ledger, deployment) if c.team == team]
    who = who_stopped(events, deployment, period.end)
    members = [r for r in who.agents({c.agent_ref for c in marked}) if r.team == team]
    flagged = [r for r in members if r.status in ("fell", "stopped")]

    def teamratio(p: Period) -> float | None:
        return None if hidden else _acceptance(events, deployment, p, "WHERE team = ?", [team])

    suppressed = None
    if hidden:
        suppressed = (
            f"{team} has fewer than {PRIVACY_FLOOR} agents: its numbers are hidden to protect "
            "the people measured."
        )
    shown_champions = marked
    if not agents_visible:
        shown_champions = [c.model_copy(update={"agent_ref": "(hidden)"}) for c in marked]
    candidates: list[CandidateRow] = []
    if agents_visible and not marked:
        candidates = champions.candidates(events, deployment, period.end, [team]).get(team, [])
    site_rate = _acceptance(events, deployment, period, "WHERE site = ?", [site]) if site else None
    return TeamDetail(
        deployment=deployment,
        team=team,
        site=site,
        agents=n,
        suppressed=suppressed,
        acceptance=teamratio(period),
        previous_acceptance=teamratio(before),
        site_acceptance=site_rate,
        floor_acceptance=_acceptance(events, deployment, period),
        trend=[] if hidden else _team_trend(events, deployment, team, period.end),
        champions=shown_champions,
        flagged=len(flagged) if agents_visible or len(flagged) >= PRIVACY_FLOOR else None,
        stopped_agents=flagged if agents_visible else [],
        candidates=candidates,
    )


def _team_trend(events: EventStore, deployment: str, team: str, end: datetime) -> list[TrendPoint]:
    """Weekly acceptance of the team against its site's and the floor's, 13 weeks."""
    start = end - timedelta(weeks=13)
    return [
        p for p in trend(events, deployment, start, end, by="team") if p.series in (team, "all")
    ]
