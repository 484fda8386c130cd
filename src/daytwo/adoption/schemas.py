"""Input and output shapes of the adoption domain (never the tables themselves).

Agents appear by their pseudonymous ``agent_ref`` only. Shapes that name agents
(:class:`AgentRow`, :class:`CandidateRow`, the agents of a signal) are served only to the
analyst and owner roles; viewers get groups of at least :data:`PRIVACY_FLOOR` agents.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# No group of fewer agents than this is shown to a viewer.
PRIVACY_FLOOR = 5
CohortRole = Literal["pilot", "rollout"]
GroupKey = Literal["site", "team", "tenure", "journey", "feature", "cohort"]
GROUP_KEYS: tuple[GroupKey, ...] = ("site", "team", "tenure", "journey", "feature", "cohort")
AgentStatus = Literal["fell", "stopped", "steady", "untested"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- champions and cohorts -------------------------------------------------------------------


class ChampionCreate(_In):
    deployment: str = Field(min_length=1, max_length=100)
    agent_ref: str = Field(min_length=1, max_length=200)
    started_at: datetime
    team: str | None = Field(
        default=None, max_length=200, description="Default: the team their conversations show."
    )
    site: str | None = Field(default=None, max_length=200)
    note: str = Field(default="", max_length=2000)


class ChampionPublic(BaseModel):
    id: int
    deployment: str
    agent_ref: str
    team: str | None
    site: str | None
    started_at: datetime
    ended_at: datetime | None
    note: str
    recorded_by: str


class CohortCreate(_In):
    """A cohort defined one way: a segment value, a list of agents, or a first-offer range."""

    deployment: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    role: CohortRole
    segment: str | None = Field(
        default=None, description="key=value: agents whose conversations carry it (cohort=pilot)."
    )
    agents: list[str] = Field(default_factory=list, description="Agent refs.")
    enabled_from: date | None = Field(
        default=None, description="Agents first offered the AI on or after this day."
    )
    enabled_until: date | None = Field(default=None, description="...and on or before this day.")
    journeys: list[str] = Field(default_factory=list, description="Only these journeys.")
    description: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _one_definition(self) -> CohortCreate:
        ways = [
            self.segment is not None,
            bool(self.agents),
            self.enabled_from is not None or self.enabled_until is not None,
        ]
        if sum(ways) != 1:
            raise ValueError(
                "define the cohort one way: a segment (key=value), a list of agents, or a "
                "range of first-offer days (enabled_from / enabled_until)"
            )
        if self.segment is not None and (
            "=" not in self.segment or not all(p.strip() for p in self.segment.split("=", 1))
        ):
            raise ValueError(f"segment must be key=value, not {self.segment!r}")
        if self.enabled_from and self.enabled_until and self.enabled_until < self.enabled_from:
            raise ValueError("enabled_until is before enabled_from")
        return self


class CohortPublic(BaseModel):
    id: int
    deployment: str
    name: str
    role: CohortRole
    definition: str  # in words
    segment_key: str | None
    segment_value: str | None
    agents: list[str]
    enabled_from: date | None
    enabled_until: date | None
    journeys: list[str]
    description: str
    recorded_by: str
    n_agents: int | None = None  # resolved against the data, where known


# -- analytics -------------------------------------------------------------------------------


class Period(BaseModel):
    start: datetime
    end: datetime  # exclusive

    @property
    def days(self) -> int:
        return max(1, round((self.end - self.start).total_seconds() / 86_400))


class Headline(BaseModel):
    """The answer at the top of the adoption page."""

    acceptance: float | None
    acceptance_n: int
    previous_acceptance: float | None
    target: float | None
    status: str | None  # on_target | at_risk | breached
    usage: float | None  # share of agent conversations in which the AI was used
    completion: float | None  # assisted conversations whose workflow was completed
    agents_offered: int
    active_daily: float  # mean agents a day who used at least one suggestion
    active_weekly: int  # agents who used one in the last 7 days of the period
    frequency: float | None  # suggestions used per active agent per working day


class FunnelRow(BaseModel):
    feature: str
    label: str
    shown: int
    accepted: int
    edited: int
    dismissed: int
    ignored: int
    acceptance: float | None
    tta_median_s: float | None
    tta_mean_s: float | None
    latency_mean_ms: float | None


class GroupRow(BaseModel):
    key: str
    value: str
    agents: int
    conversations: int | None
    shown: int | None
    acceptance: float | None
    previous_acceptance: float | None
    usage: float | None
    completion: float | None
    suppressed: str | None = None  # why the numbers are hidden


class TrendPoint(BaseModel):
    week: date
    series: str
    acceptance: float | None
    shown: int


class AgentRow(BaseModel):
    agent_ref: str
    site: str | None
    team: str | None
    tenure: str | None
    cohort: str | None
    conversations: int
    acceptance: float | None
    baseline_acceptance: float | None
    usage: float | None
    status: AgentStatus
    stopped_since: date | None
    features: list[str]  # features they fell or stopped on
    champion: bool = False


class StoppedGroup(BaseModel):
    key: str
    value: str
    sentence: str
    feature: str
    flagged: int
    stopped: int
    agents: int
    share: float
    previous_share: float
    newest: int
    p: float
    agents_flagged: list[str] = Field(default_factory=list)  # analyst / owner only


class KpiGap(BaseModel):
    """One KPI compared between two groups: naive and like for like, with intervals."""

    kpi: str
    name: str
    unit: str
    focus_value: float | None
    other_value: float | None
    naive: float | None
    naive_lo: float | None
    naive_hi: float | None
    adjusted: float | None
    lo: float | None
    hi: float | None
    selection_share: float | None
    relative: float | None
    coverage: float | None
    strata: int
    focus_agents: int
    other_agents: int
    sentence: str
    # The same gap by inverse-probability weighting (pilot vs rollout only), as a cross-check.
    weighted: float | None = None
    weighted_lo: float | None = None
    weighted_hi: float | None = None
    weighted_sentence: str = ""  # what the weighted gap says, and whether the two agree
    weighted_agrees: bool | None = None  # closer than half the narrower half-width


class Comparison(BaseModel):
    """Two groups compared KPI by KPI (pilot vs rollout; AI used vs the legacy path)."""

    focus: str
    other: str
    basis: str
    strata: list[str]
    window: str
    kpis: list[KpiGap]
    by_band: dict[str, list[KpiGap]] = Field(default_factory=dict)
    note: str = ""


class CandidateRow(BaseModel):
    agent_ref: str
    team: str
    site: str | None
    tenure: str | None
    weeks_high: int  # weeks in the top quarter of the floor's use
    acceptance: float | None
    csat_delta: float | None  # vs their team
    handle_delta: float | None  # seconds vs their team (negative: faster)
    score: float


class ChampionEffect(BaseModel):
    estimate: float | None
    lo: float | None
    hi: float | None
    teams_with: list[str]
    teams_without: int
    days: int
    treated_before: float | None = None
    treated_after: float | None = None
    control_before: float | None = None
    control_after: float | None = None
    # Teams without a champion left out of the comparison: a recorded change reached them (or
    # their site) in its windows.
    left_out: list[str] = Field(default_factory=list)
    reason: str = ""
    note: str = (
        "Observational: teams chose or were given champions, so a difference may also be who "
        "those teams are. Read it as a signal, not a measured effect."
    )


class ChampionsView(BaseModel):
    champions: list[ChampionPublic]
    teams: list[str]
    uncovered: list[str]
    candidates: dict[str, list[CandidateRow]]  # by uncovered team; analyst / owner only
    effect: ChampionEffect


class SignalSummary(BaseModel):
    """The latest analysis's finding for one workaround signal."""

    signal: str
    name: str
    definition: str
    finding_id: int | None
    sentence: str | None
    agents: int
    seen: datetime | None
    agents_flagged: list[str] = Field(default_factory=list)  # analyst / owner only


class DecayRow(BaseModel):
    """Where adoption is decaying: an open adoption finding and its suspect changes."""

    finding_id: int
    title: str
    scope: str
    first_seen: datetime
    baseline: float | None
    current: float | None
    suspects: list[dict[str, object]]


class Freshness(BaseModel):
    """How current a served answer is: computed at ``computed_at``; ``stale`` when data (or a
    recorded cohort, champion or change it reads) arrived since, ``refreshing`` while a newer
    one is being computed in the background."""

    computed_at: datetime
    stale: bool = False
    refreshing: bool = False


class PilotRun(BaseModel):
    """The pilot-vs-rollout comparison one analysis run stored."""

    run_id: int
    as_of: datetime
    period: Period
    basis: str
    comparison: Comparison | None
    note: str
    computed_at: datetime


class PilotPoint(BaseModel):
    """One run's headline pilot-vs-rollout gap (suggestion acceptance at the same age): the
    history over runs."""

    run_id: int
    as_of: datetime
    kpi: str
    naive: float | None
    adjusted: float | None
    lo: float | None
    hi: float | None


class AdoptionOverview(BaseModel):
    deployment: str
    period: Period
    headline: Headline
    funnel: list[FunnelRow]
    groups: dict[str, list[GroupRow]]
    trend: list[TrendPoint]
    stopped: list[StoppedGroup]
    decay: list[DecayRow]
    signals: list[SignalSummary]
    pilot: Comparison | None
    pilot_note: str
    ai_vs_legacy: Comparison | None
    champions: ChampionsView | None  # None where the page loads it as a section
    agents_visible: bool
    # How current the answer is (None: computed for this request).
    freshness: Freshness | None = None
    # The analysis run whose stored comparison ``pilot`` is (None: compared for this request),
    # and the headline gap over the last runs.
    pilot_run: int | None = None
    pilot_history: list[PilotPoint] = Field(default_factory=list)
