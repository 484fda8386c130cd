"""The demo's agents and how they take to the assist tool: the people side's ground truth.

Who the agents are is drawn once per seed (:func:`roster`); how likely an agent takes a
suggestion on a day is their own propensity times what the day brings them (:func:`uptake`):

- **Propensity**: a base, more with each tenure band, more again for the pilot's volunteers
  (keener than their tenure says, the *volunteer bonus*), and each agent's own spread. The
  volunteers come forward mostly from the experienced bands (``VOLUNTEER_ODDS``), so the
  pilot's naive lead over the rollout is partly who volunteered: the *like-for-like* gap at the
  same age is the bonus alone (:func:`truth` computes it).
- **Learning**: in their first weeks with the tool agents take a fifth fewer suggestions,
  catching up with a time constant of a week.
- **Champions** (with the problems): one agent in each of two teams becomes a champion; their
  team's uptake rises by 15% over the three weeks after.
- **A refresher training** (with the problems) for one team raises its uptake by 12% from the
  day it is given; it is recorded as a change of kind ``training``.
- **The decay** (the ``adoption-decay-porto`` problem): the site's suggestion service moves to a
  slower region (a recorded ``config`` change); suggestions take almost four times as long to
  appear and uptake falls to a quarter over three weeks.
- **Retyping** (with the problems): a dozen agents, when they dismiss a suggested reply, type
  it in substance themselves most of the time; everyone does so now and then.

The tool saves handle time by tenure band (``AI_HANDLE_BY_TENURE``): the newest agents gain
the most. Suggestions carry their text (suggested replies) and how long they took to appear
(``latency_ms``) as attributes of the ``shown`` event.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from daytwo.adoption.champions import EFFECT_DAYS
from daytwo.demo.ground_truth import iso
from daytwo.demo.manifest import (
    AI_HANDLE_BY_TENURE,
    ASSIST,
    DECAY_CHANGE_TITLE,
    EXTRA_REPLIES_MEAN,
    JOURNEYS,
    PILOT_AGENTS,
    PILOT_DAYS,
    PROPENSITY_BASE,
    PROPENSITY_PER_BAND,
    PROPENSITY_SD,
    SITES,
    SUGGESTION_SHARE,
    SUMMARY_SHARE,
    TEAMS_PER_SITE,
    TENURE_BANDS,
    VOLUNTEER_BONUS,
    VOLUNTEER_ODDS,
    ProblemSchedule,
    ramp,
)

if TYPE_CHECKING:
    from daytwo.demo.setting import Agents

# How often each feature is taken relative to the agent's propensity (reply, card, summary).
FEATURE_FACTORS = (1.0, 0.85, 1.25)
CARD_SHARE = 0.35  # of the suggestions on replies; the rest are suggested replies
LEARNING_GAP = 0.2
LEARNING_DAYS = 7.0
RETYPERS = 12
RETYPE_SHARE = 0.7  # of a retyper's dismissed suggested replies
RETYPE_NOISE = 0.03  # anyone's
CHAMPION_TEAMS = ("leeds-2", "cork-3")
CHAMPION_AT = (0.35, 0.40)  # fractions of the history
CHAMPION_LIFT = 0.20
CHAMPION_RAMP_DAYS = 14
TRAINING_TEAM = "leeds-3"
TRAINING_AT = 0.72
TRAINING_LIFT = 0.12
TRAINING_TITLE = "Refresher: suggested replies for card and payment calls"
LATENCY_SIGMA = 0.35
TEAMS = tuple(f"{s}-{t + 1}" for s in SITES for t in range(TEAMS_PER_SITE))


def agent_ref(index: int) -> str:
    """The pseudonymous reference of agent ``index`` as the events carry it."""
    return f"a-{index:04d}"


@dataclass(frozen=True, slots=True)
class PeopleSchedule:
    """When the people side's events happen (days from the start)."""

    champion_days: tuple[int, ...]
    training_day: int
    decay_onset: int
    decay_site: int
    decay_ramp_days: int
    decay_floor: float
    latency_ms: tuple[float, float]


def people_schedule(s: ProblemSchedule | None, days: int) -> PeopleSchedule | None:
    """The schedule of a history of ``days`` days with problems; None without them."""
    if s is None:
        return None
    return PeopleSchedule(
        champion_days=tuple(round(days * f) for f in CHAMPION_AT),
        training_day=round(days * TRAINING_AT),
        decay_onset=s.decay_onset,
        decay_site=SITES.index(s.decay_site),
        decay_ramp_days=s.decay_ramp_days,
        decay_floor=s.decay_floor,
        latency_ms=s.decay_latency_ms,
    )


def roster(
    rng: np.random.Generator, tenure: np.ndarray, volunteering: np.ndarray, keenness: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The volunteers of the pilot, every agent's propensity, and the retypers.

    ``volunteering`` (uniform) and ``keenness`` (standard normal) are one draw per agent:
    volunteers are a weighted sample without replacement by ``VOLUNTEER_ODDS`` (the largest
    ``u ** (1 / odds)``, Efraimidis and Spirakis).
    """
    odds = np.array(VOLUNTEER_ODDS)[tenure]
    pilot = np.zeros(len(tenure), dtype=bool)
    pilot[np.argsort(-(volunteering ** (1 / odds)))[:PILOT_AGENTS]] = True
    propensity = (
        PROPENSITY_BASE
        + PROPENSITY_PER_BAND * tenure
        + VOLUNTEER_BONUS * pilot
        + PROPENSITY_SD * keenness
    )
    retyper = np.zeros(len(tenure), dtype=bool)
    retyper[rng.choice(np.flatnonzero(~pilot), RETYPERS, replace=False)] = True
    return pilot, np.clip(propensity, 0.05, 0.9), retyper


def champions(agents: Agents) -> list[int]:
    """The champion of each of ``CHAMPION_TEAMS``: its keenest agent with a year or more."""
    out = []
    for team in CHAMPION_TEAMS:
        members = np.flatnonzero((agents.team == TEAMS.index(team)) & (agents.tenure >= 2))
        out.append(int(members[np.argmax(agents.propensity[members])]))
    return out


def learning(age: np.ndarray | float) -> np.ndarray:
    """Uptake in an agent's first weeks with the tool, as a share of their settled uptake."""
    out: np.ndarray = 1 - LEARNING_GAP * np.exp(-np.maximum(age, 0) / LEARNING_DAYS)
    return out


def first_day(agents: Agents) -> np.ndarray:
    """The day each agent got the tool: the pilot's volunteers first."""
    out: np.ndarray = np.where(agents.pilot, 0, PILOT_DAYS)
    return out


def uptake(agents: Agents, agent: np.ndarray, day: int, ps: PeopleSchedule | None) -> np.ndarray:
    """What the day brings to each agent's propensity (``agent``: agent indices)."""
    factor = learning(day - first_day(agents)[agent])
    if ps is None:
        return factor
    team = agents.team[agent]
    for champion, start in zip(champions(agents), ps.champion_days, strict=True):
        lift = 1 + CHAMPION_LIFT * ramp(day, start, CHAMPION_RAMP_DAYS)
        factor = np.where(team == agents.team[champion], factor * lift, factor)
    if day >= ps.training_day:
        factor = np.where(team == TEAMS.index(TRAINING_TEAM), factor * (1 + TRAINING_LIFT), factor)
    decay = 1 - (1 - ps.decay_floor) * ramp(day, ps.decay_onset, ps.decay_ramp_days)
    out: np.ndarray = np.where(agents.site[agent] == ps.decay_site, factor * decay, factor)
    return out


def suggestion_latency(
    rng: np.random.Generator,
    agents: Agents,
    agent: np.ndarray,
    day: int,
    ps: PeopleSchedule | None,
) -> np.ndarray:
    """How long each suggestion took to appear, in ms (slower at the decay site after onset)."""
    before, after = ps.latency_ms if ps else (700.0, 700.0)
    slow = ps is not None and day >= ps.decay_onset
    median = np.where(slow & (agents.site[agent] == (ps.decay_site if ps else -1)), after, before)
    out: np.ndarray = np.round(np.exp(rng.normal(np.log(median), LATENCY_SIGMA)))
    return out


def ai_handle_factor(tenure: np.ndarray) -> np.ndarray:
    """The share of its handle time a conversation takes when a suggestion was used."""
    out: np.ndarray = np.array(AI_HANDLE_BY_TENURE)[tenure]
    return out


def retyped(answer: str) -> str:
    """An agent's own typing of a suggested reply they dismissed: the same in substance."""
    text = answer.lower().replace("i have ", "i've ").replace(";", ",").rstrip(".")
    return f"ok so {text}"


def edited(answer: str) -> str:
    """A suggested reply accepted with a light edit before sending."""
    return f"{answer} Anything else I can help with today?"


def text_suffixes() -> list[str]:
    """The end of a ``shown`` event's attributes: each journey's suggested reply, then none."""
    return [f', "text": {json.dumps(j.answer)}}}' for j in JOURNEYS] + ["}"]


# -- the truth ----------------------------------------------------------------------------


def _mean_feature_factor() -> float:
    """The mean feature factor over shown events (suggestions on replies, then summaries)."""
    lam = EXTRA_REPLIES_MEAN
    capped = sum(min(k, 6) * math.exp(-lam) * lam**k / math.factorial(k) for k in range(40))
    suggestions = SUGGESTION_SHARE * (2 + capped)
    reply_card = (1 - CARD_SHARE) * FEATURE_FACTORS[0] + CARD_SHARE * FEATURE_FACTORS[1]
    return (suggestions * reply_card + SUMMARY_SHARE * FEATURE_FACTORS[2]) / (
        suggestions + SUMMARY_SHARE
    )


def true_gap(days: int = PILOT_DAYS) -> float:
    """The pilot's true like-for-like lead in acceptance over the rollout at the same age
    (their first ``days`` days with the tool): the volunteer bonus, through the feature mix and
    the learning curve (the same for both), with tenure, site and journey held equal."""
    mean_learning = float(np.mean(learning(np.arange(days))))
    return VOLUNTEER_BONUS * _mean_feature_factor() * mean_learning


def _settled(agents: Agents, team: int) -> tuple[float, float]:
    """A team's settled acceptance (its agents' propensities through the feature mix, weighted
    by how many contacts each takes) and its weight (their contacts, relative)."""
    members = agents.team == team
    settled = agents.propensity[members] * _mean_feature_factor()
    weights = agents.activity[members]
    return float(np.average(settled, weights=weights)), float(weights.sum())


def champion_truth(agents: Agents, days: int = EFFECT_DAYS) -> dict[str, Any]:
    """What a champion adds to their team's acceptance over their first ``days`` days, against
    the days before: the team's settled acceptance times the lift as it ramps up, averaged over
    those days; pooled over the champions' teams by their contacts, as daytwo pools them."""
    ramped = float(np.mean([min(1.0, (k + 1) / CHAMPION_RAMP_DAYS) for k in range(days)]))
    per_team = {}
    weights = []
    for c in champions(agents):
        acceptance, weight = _settled(agents, int(agents.team[c]))
        per_team[TEAMS[int(agents.team[c])]] = round(acceptance * CHAMPION_LIFT * ramped, 4)
        weights.append(weight)
    pooled = float(np.average(list(per_team.values()), weights=weights))
    return {
        "days": days,
        "expected_effect": round(pooled, 4),
        "by_team": per_team,
        "note": "Each champion's team against teams without one, the days since the start "
        "against as many days before; the generator's lift, ramped, on the team's acceptance.",
    }


def truth(start: date, days: int, s: ProblemSchedule | None, agents: Agents) -> dict[str, Any]:
    """The people side of the manifest: what the adoption estimates are checked against."""
    out: dict[str, Any] = {
        "deployment": ASSIST,
        "pilot": {
            "agents": [agent_ref(int(i)) for i in np.flatnonzero(agents.pilot)],
            "until": iso(start, PILOT_DAYS),
            "volunteer_odds_by_tenure": dict(zip(TENURE_BANDS, VOLUNTEER_ODDS, strict=True)),
            "volunteer_bonus": VOLUNTEER_BONUS,
        },
        "pilot_vs_rollout": {
            "kpi": "suggestion_acceptance_rate",
            "basis": "same_age",
            "days": PILOT_DAYS,
            "true_gap": round(true_gap(), 4),
            "note": "At the same age (each cohort's first days with the tool), with tenure, site "
            "and journey held equal, the pilot leads by its volunteers' bonus only; the naive "
            "gap adds who volunteered (mostly experienced agents).",
        },
        "tool_effect_by_tenure": {
            band: {"handle_time_factor": f, "handle_time_change": round(f - 1, 4)}
            for band, f in zip(TENURE_BANDS, AI_HANDLE_BY_TENURE, strict=True)
        },
        "learning": {"gap": LEARNING_GAP, "days": LEARNING_DAYS},
    }
    ps = people_schedule(s, days)
    if ps is None:
        return out
    out["retypers"] = {
        "agents": [agent_ref(int(i)) for i in np.flatnonzero(agents.retyper)],
        "share_of_dismissed_replies": RETYPE_SHARE,
        "everyone_else": RETYPE_NOISE,
    }
    out["champions"] = [
        {
            "agent": agent_ref(c),
            "team": TEAMS[int(agents.team[c])],
            "site": SITES[int(agents.site[c])],
            "started_at": iso(start, d),
            "lift": CHAMPION_LIFT,
            "ramp_days": CHAMPION_RAMP_DAYS,
        }
        for c, d in zip(champions(agents), ps.champion_days, strict=True)
    ]
    out["champion_effect"] = champion_truth(agents)
    before = _settled(agents, TEAMS.index(TRAINING_TEAM))[0]
    out["training"] = {
        "title": TRAINING_TITLE,
        "kind": "training",
        "segments": {"team": [TRAINING_TEAM]},
        "shipped_at": iso(start, ps.training_day),
        "metric": "suggestion_acceptance_rate",
        "relative_effect": TRAINING_LIFT,
        "expected_effect": round(before * TRAINING_LIFT, 4),
    }
    out["decay_cause"] = {
        "change": DECAY_CHANGE_TITLE,
        "site": SITES[ps.decay_site],
        "shipped_at": iso(start, ps.decay_onset),
    }
    return out
