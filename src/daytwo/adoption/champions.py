"""Champions: agents who are the floor's first point of contact for the AI.

- **Marking** a champion needs an agent of the deployment (one its conversations name) and a
  start date; their team and site default to where their conversations sit.
- **Coverage**: the teams of the period's agents with no champion active at its end.
- **Candidates** for an uncovered team: its agents past their first tenure band whose use was
  in the floor's top quarter in most recent weeks (sustained, not one good week), ranked by
  those weeks, their acceptance and how their customers fared against their team's.
- **Effect**: each champion's team against the teams that never had one, in equal windows
  before and after the start, as a difference in differences of daily acceptance with a
  day-block bootstrap (:mod:`daytwo.backlog.impact_calc`), pooled over champions in time since
  their start. Teams a recorded change reached in those windows (a training for the team, a
  change to its site) are left out of the comparison, as a change's own control leaves them
  out. Observational: teams are not given champions at random.
"""

# SQL here is built from module constants; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from daytwo.adoption.cohorts import agents_of
from daytwo.adoption.models import Champion, insert
from daytwo.adoption.rollup import AGENT_DAILY, source
from daytwo.adoption.schemas import (
    CandidateRow,
    ChampionCreate,
    ChampionEffect,
    ChampionPublic,
    ChampionsView,
    Period,
)
from daytwo.adoption.stopped import newest_band
from daytwo.backlog.impact_calc import Window, did
from daytwo.backlog.models import Change
from daytwo.clock import aware
from daytwo.deployments.service import get_deployment
from daytwo.errors import InputError, NotFoundError
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

EFFECT_DAYS = 21
CANDIDATE_WEEKS = 4
CANDIDATES_PER_TEAM = 3


def _public(row: Champion) -> ChampionPublic:
    return ChampionPublic(
        id=row.id,
        deployment=row.deployment,
        agent_ref=row.agent_ref,
        team=row.team,
        site=row.site,
        started_at=aware(row.started_at),
        ended_at=aware(row.ended_at) if row.ended_at else None,
        note=row.note,
        recorded_by=row.recorded_by,
    )


def _where(events: EventStore, deployment: str, agent: str) -> tuple[str | None, str | None]:
    """The team and site an agent's latest conversations carry."""
    rows = events.query(
        "SELECT segments['team'] AS team, segments['site'] AS site FROM interactions "
        "WHERE deployment = ? AND agent_ref = ? ORDER BY started_at DESC LIMIT 1",
        [deployment, agent],
    ).to_pylist()
    return (rows[0]["team"], rows[0]["site"]) if rows else (None, None)


def add_champion(
    ledger: Ledger, events: EventStore, spec: ChampionCreate, *, actor: str
) -> ChampionPublic:
    """Mark an agent as a champion from ``started_at``; refused (nothing stored) for someone
    who is not an agent of the deployment."""
    get_deployment(ledger, spec.deployment)
    if spec.started_at.tzinfo is None:
        raise InputError("started_at needs a time zone (e.g. 2026-03-01T09:00:00Z).")
    if spec.agent_ref not in agents_of(events, spec.deployment):
        raise InputError(
            f"agent_ref: {spec.agent_ref!r} is not an agent of {spec.deployment!r} (no "
            "conversation names them): nothing stored."
        )
    team, site = _where(events, spec.deployment, spec.agent_ref)
    with ledger.session() as session:
        row = Champion(
            deployment=spec.deployment,
            agent_ref=spec.agent_ref,
            team=spec.team or team,
            site=spec.site or site,
            started_at=spec.started_at.astimezone(UTC),
            note=spec.note,
            recorded_by=actor,
            created_at=datetime.now(UTC),
        )
        insert(
            session,
            row,
            f"{spec.agent_ref!r} is already a champion of {spec.deployment!r} from "
            f"{spec.started_at:%Y-%m-%d}.",
        )
        return _public(row)


def get_champion(ledger: Ledger, champion_id: int) -> ChampionPublic:
    with ledger.session() as session:
        row = session.get(Champion, champion_id)
        if row is None:
            raise NotFoundError(f"No champion {champion_id}.")
        return _public(row)


def end_champion(ledger: Ledger, champion_id: int, ended_at: datetime) -> ChampionPublic:
    with ledger.session() as session:
        row = session.get(Champion, champion_id)
        if row is None:
            raise NotFoundError(f"No champion {champion_id}.")
        if ended_at.tzinfo is None:
            raise InputError("ended_at needs a time zone.")
        if ended_at < aware(row.started_at):
            raise InputError("A champion cannot end before they started.")
        row.ended_at = ended_at.astimezone(UTC)
        session.flush()
        return _public(row)


def list_champions(ledger: Ledger, deployment: str) -> list[ChampionPublic]:
    with ledger.session() as session:
        rows = session.scalars(
            select(Champion)
            .where(Champion.deployment == deployment)
            .order_by(Champion.started_at, Champion.id)
        ).all()
        return [_public(r) for r in rows]


def _active(c: ChampionPublic, at: datetime) -> bool:
    return c.started_at <= at and (c.ended_at is None or c.ended_at > at)


def _team_days(
    events: EventStore, deployment: str, start: datetime, end: datetime
) -> dict[str, dict[date, tuple[float, float]]]:
    """Per team and day: suggestions used and shown."""
    rel, params = source(events, AGENT_DAILY, deployment, start, end)
    rows = events.query(
        f"SELECT team, day, sum(used) AS used, sum(shown) AS shown FROM {rel} "
        "WHERE team IS NOT NULL GROUP BY 1, 2",
        params,
    ).to_pylist()
    out: dict[str, dict[date, tuple[float, float]]] = defaultdict(dict)
    for r in rows:
        day = r["day"].date() if isinstance(r["day"], datetime) else r["day"]
        out[str(r["team"])][day] = (float(r["used"] or 0), float(r["shown"] or 0))
    return out


def _span(champions: list[ChampionPublic], days: int) -> tuple[datetime, datetime] | None:
    """From the first window's start to the last window's end, or None without champions."""
    starts = [c.started_at for c in champions if c.team]
    if not starts:
        return None
    return min(starts) - timedelta(days=days + 1), max(starts) + timedelta(days=days + 1)


def changed_teams(
    ledger: Ledger, events: EventStore, deployment: str, start: datetime, end: datetime
) -> list[str]:
    """The teams a recorded change shipped in ``[start, end)`` reached: named, or inside a
    site (or any other segment value) it named, by where the teams' agents sat."""
    with ledger.session() as session:
        scopes = [
            (key, set(values))
            for c in session.scalars(
                select(Change).where(
                    Change.deployment == deployment,
                    Change.shipped_at >= start,
                    Change.shipped_at < end,
                )
            )
            for key, values in (c.segments or {}).items()
        ]
    if not scopes:
        return []
    rel, params = source(events, AGENT_DAILY, deployment, start, end)
    rows = events.query(
        f"SELECT DISTINCT team, site FROM {rel} WHERE team IS NOT NULL", params
    ).to_pylist()
    return sorted(
        {
            str(r["team"])
            for r in rows
            for key, values in scopes
            if (r["team"] if key == "team" else r["site"] if key == "site" else None) in values
        }
    )


def effect(
    ledger: Ledger, events: EventStore, deployment: str, champions: list[ChampionPublic]
) -> ChampionEffect:
    """:func:`champion_effect`, leaving out the teams a recorded change reached."""
    span = _span(champions, EFFECT_DAYS)
    left_out = changed_teams(ledger, events, deployment, *span) if span else []
    return champion_effect(events, deployment, champions, left_out=left_out)


def champion_effect(
    events: EventStore,
    deployment: str,
    champions: list[ChampionPublic],
    *,
    days: int = EFFECT_DAYS,
    resamples: int = 1000,
    left_out: list[str] | None = None,
) -> ChampionEffect:
    """Teams' acceptance after their champion started against teams without one (module
    docstring), pooled over champions by day since their start; ``left_out``: teams not to
    compare with."""
    starts = {c.team: c.started_at for c in champions if c.team}
    span = _span(champions, days)
    if span is None:
        return ChampionEffect(
            estimate=None, lo=None, hi=None, teams_with=[], teams_without=0, days=days,
            reason="No champion with a team yet.",
        )  # fmt: skip
    teams = _team_days(events, deployment, *span)
    dropped = sorted((set(left_out or ()) & set(teams)) - set(starts))
    controls = sorted(set(teams) - set(starts) - set(dropped))
    # By day since the start (-days..-1 before, 0..days-1 after): used and shown, summed over
    # the champions' teams (treated) and, on the same calendar days, the teams without one.
    treated = np.zeros((2 * days, 2))
    control = np.zeros((2 * days, 2))
    measured = []
    for team, started in sorted(starts.items()):
        if team not in teams:
            continue
        measured.append(team)
        day0 = aware(started).date()
        for k in range(2 * days):
            day = day0 + timedelta(days=k - days)
            treated[k] += teams[team].get(day, (0.0, 0.0))
            for c in controls:
                control[k] += teams[c].get(day, (0.0, 0.0))
    base: dict[str, Any] = {
        "teams_with": measured, "teams_without": len(controls), "days": days, "left_out": dropped,
    }  # fmt: skip
    if not measured or not controls:
        return ChampionEffect(
            estimate=None, lo=None, hi=None, **base,
            reason="Every team has a champion, or no champion's team has data: nothing to "
            "compare with.",
        )  # fmt: skip

    def window(rows: slice) -> Window:
        t, c = treated[rows], control[rows]
        keep = (t[:, 1] > 0) & (c[:, 1] > 0)
        return Window.of([tuple(r) for r in t[keep]], [tuple(r) for r in c[keep]])

    try:
        result = did(
            window(slice(0, days)), window(slice(days, 2 * days)), resamples=resamples,
            seed=len(measured),
        )  # fmt: skip
    except InputError as exc:
        return ChampionEffect(estimate=None, lo=None, hi=None, **base, reason=exc.message)
    return ChampionEffect(
        estimate=result.estimate,
        lo=result.lo,
        hi=result.hi,
        treated_before=result.treated_before,
        treated_after=result.treated_after,
        control_before=result.control_before,
        control_after=result.control_after,
        reason="",
        **base,
    )


@dataclass(slots=True)
class _Tally:
    """Sums of one agent (or team) over the candidate weeks."""

    team: str | None = None
    site: str | None = None
    tenure: str | None = None
    used: float = 0.0
    shown: float = 0.0
    csat_s: float = 0.0
    csat_n: float = 0.0
    handle_s: float = 0.0
    handle_n: float = 0.0
    weeks_high: int = 0

    def add(self, r: dict[str, Any]) -> None:
        for k in ("used", "shown", "csat_s", "csat_n", "handle_s", "handle_n"):
            setattr(self, k, getattr(self, k) + float(r[k] or 0))

    @property
    def csat(self) -> float | None:
        return self.csat_s / self.csat_n if self.csat_n else None

    @property
    def handle(self) -> float | None:
        return self.handle_s / self.handle_n if self.handle_n else None


def _delta(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def candidates(
    events: EventStore, deployment: str, end: datetime, teams: list[str]
) -> dict[str, list[CandidateRow]]:
    """Up to three candidates per team in ``teams`` (see the module docstring)."""
    if not teams:
        return {}
    rel, params = source(
        events, AGENT_DAILY, deployment, end - timedelta(weeks=CANDIDATE_WEEKS), end
    )
    rows = events.query(
        "SELECT agent_ref, date_trunc('week', day) AS week, arg_max(team, day) AS team, "
        "arg_max(site, day) AS site, arg_max(tenure, day) AS tenure, sum(used) AS used, "
        "sum(shown) AS shown, sum(coalesce(ai_csat_s, 0) + coalesce(legacy_csat_s, 0)) AS csat_s, "
        "sum(ai_csat_n + legacy_csat_n) AS csat_n, "
        "sum(coalesce(ai_handle_s, 0) + coalesce(legacy_handle_s, 0)) AS handle_s, "
        f"sum(ai_handle_n + legacy_handle_n) AS handle_n FROM {rel} GROUP BY 1, 2",
        params,
    ).to_pylist()
    weekly: dict[object, list[float]] = defaultdict(list)
    for r in rows:
        if r["shown"]:
            weekly[r["week"]].append(float(r["used"]) / float(r["shown"]))
    top = {w: float(np.quantile(v, 0.75)) for w, v in weekly.items()}
    agents: dict[str, _Tally] = {}
    by_team: dict[str, _Tally] = defaultdict(_Tally)
    for r in rows:
        a = agents.setdefault(r["agent_ref"], _Tally(r["team"], r["site"], r["tenure"]))
        a.add(r)
        by_team[str(r["team"])].add(r)
        if r["shown"] and float(r["used"]) / float(r["shown"]) >= top.get(r["week"], 1.0):
            a.weeks_high += 1
    band = newest_band([a.tenure for a in agents.values() if a.tenure])
    out: dict[str, list[CandidateRow]] = {}
    for team in teams:
        t = by_team[team]
        found = []
        for ref, a in agents.items():
            if a.team != team or a.tenure == band or a.weeks_high <= CANDIDATE_WEEKS // 2:
                continue
            acceptance = a.used / a.shown if a.shown else None
            csat_delta, handle_delta = _delta(a.csat, t.csat), _delta(a.handle, t.handle)
            score = a.weeks_high + (acceptance or 0) + 0.5 * (csat_delta or 0)
            score -= 0.002 * (handle_delta or 0)  # a minute faster is worth a tenth of a week
            found.append(
                CandidateRow(
                    agent_ref=ref,
                    team=team,
                    site=a.site,
                    tenure=a.tenure,
                    weeks_high=a.weeks_high,
                    acceptance=acceptance,
                    csat_delta=csat_delta,
                    handle_delta=handle_delta,
                    score=round(score, 3),
                )
            )
        out[team] = sorted(found, key=lambda c: -c.score)[:CANDIDATES_PER_TEAM]
    return out


def view(
    ledger: Ledger, events: EventStore, deployment: str, period: Period, *, with_agents: bool
) -> ChampionsView:
    """Champions, coverage, candidates (analyst / owner only) and the observational effect."""
    champions = list_champions(ledger, deployment)
    rel, params = source(events, AGENT_DAILY, deployment, period.start, period.end)
    teams = sorted(
        str(t)
        for t in events.query(f"SELECT DISTINCT team FROM {rel} WHERE team IS NOT NULL", params)[
            "team"
        ].to_pylist()
    )
    at = period.end - timedelta(seconds=1)
    covered = {c.team for c in champions if _active(c, at)}
    uncovered = [t for t in teams if t not in covered]
    return ChampionsView(
        champions=champions
        if with_agents
        else [c.model_copy(update={"agent_ref": "(hidden)"}) for c in champions],
        teams=teams,
        uncovered=uncovered,
        candidates=candidates(events, deployment, period.end, uncovered) if with_agents else {},
        effect=effect(ledger, events, deployment, champions),
    )
