"""Pure calculations of the backlog: the status workflow, priority, SLAs, routing and themes.

Nothing here touches a database or a web framework: functions take numbers and small frozen
parameter objects and return typed results, so each can be checked by hand. The impact of
changes (difference-in-differences) is in :mod:`daytwo.backlog.impact_calc`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from daytwo.errors import ConflictError, InputError

# -- the status workflow ---------------------------------------------------------------------

Status = Literal["new", "triaged", "in_progress", "fix_shipped", "verified", "reopened", "wont_fix"]
STATUSES: tuple[Status, ...] = (
    "new",
    "triaged",
    "in_progress",
    "fix_shipped",
    "verified",
    "reopened",
    "wont_fix",
)
OPEN_STATUSES: frozenset[str] = frozenset({"new", "triaged", "in_progress", "reopened"})
CLOSED_STATUSES: frozenset[str] = frozenset({"verified", "wont_fix"})
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "new": frozenset({"triaged", "wont_fix"}),
    "triaged": frozenset({"in_progress", "wont_fix"}),
    "in_progress": frozenset({"triaged", "fix_shipped", "wont_fix"}),
    "fix_shipped": frozenset({"in_progress", "verified", "reopened"}),
    "verified": frozenset({"reopened"}),
    "reopened": frozenset({"triaged", "in_progress", "wont_fix"}),
    "wont_fix": frozenset({"reopened"}),
}


# What a deployment-wide finding is about, when two metrics (or a finding kind that names
# none) are views of one problem: the daily analysis judges the mean latency while the fast
# checks of live traffic watch its p95; the daily ``freshness_gap`` (no data for hours) is the
# live check's silent feed, a fall of the conversations' volume.
PROBLEM_OF_METRIC = {
    "latency_mean": "latency",
    "latency_p50": "latency",
    "latency_p95": "latency",
    "latency_p99": "latency",
}
PROBLEM_OF_KIND = {"freshness_gap": "contact_volume"}


def problem_of(kind: str, metric: str | None) -> str | None:
    """The problem a deployment-wide finding of ``kind`` about ``metric`` is about (None: it
    names none): two findings about the same one are one problem."""
    named = metric or PROBLEM_OF_KIND.get(kind)
    return PROBLEM_OF_METRIC.get(named, named) if named else None


def check_transition(current: str, target: str, *, reason: str = "") -> None:
    """Refuse a move the workflow does not allow, and ``wont_fix`` without a reason."""
    if target not in STATUSES:
        raise InputError(f"Unknown status {target!r}: use one of {', '.join(STATUSES)}.")
    if target == current:
        raise ConflictError(f"The item is already {current}.")
    allowed = TRANSITIONS[current]
    if target not in allowed:
        raise ConflictError(
            f"An item cannot move from {current} to {target}; from {current} it can move to "
            f"{', '.join(sorted(allowed))}."
        )
    if target == "wont_fix" and not reason.strip():
        raise InputError("Moving an item to wont_fix needs a reason.")


# -- priority --------------------------------------------------------------------------------

Priority = Literal["P1", "P2", "P3", "P4"]
PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")
SEVERITY_LABELS = ("info", "low", "medium", "high", "critical")
TREND_LABELS = ("falling", "stable", "rising")

# What one affected occurrence costs, by what the finding is about: the cost model key and how
# many units of it one occurrence takes. Matched on the finding's metric (a metric catalog id)
# first, then its kind (a finding kind of a registered detector); a test keeps every key one
# of the two.
COST_BASIS: Mapping[str, tuple[str, float]] = {
    "escalation_rate": ("escalation", 1.0),
    "containment_rate": ("escalation", 1.0),
    "fallback_rate_conversation": ("escalation", 1.0),
    "knowledge_gap": ("escalation", 1.0),
    "failure_point": ("escalation", 1.0),
    "silent_failure": ("escalation", 1.0),
    "abandonment_rate": ("lost_contact", 1.0),
    "repeat_contact_7d": ("lost_contact", 1.0),
    "average_handle_time": ("agent_minute", 1.0),
    "suggestion_acceptance_rate": ("agent_minute", 1.0),
    # An answer that errored or timed out is asked again or given up on; slowed answers cost
    # every conversation that waits for them.
    "error_rate": ("failed_answer", 1.0),
    "latency_mean": ("slow_conversation", 1.0),
    "latency_p95": ("slow_conversation", 1.0),
}


@dataclass(frozen=True, slots=True)
class PriorityParams:
    """How scores are made and cut into P1-P4 (defaults: see the settings)."""

    cutoffs: tuple[float, float, float] = (1000.0, 300.0, 50.0)  # P1, P2, P3 at or above
    # Per distinct customer or agent affected per week: small by design, so that people break
    # ties between problems of similar cost without a cheap, broad one outranking a costly one.
    population_weight: float = 0.05
    severity_factors: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0)  # info .. critical
    trend_factors: tuple[float, float, float] = (0.8, 1.0, 1.25)  # falling, stable, rising
    default_cost: float = 1.0  # per occurrence, when the cost model has no price for it

    def __post_init__(self) -> None:
        a, b, c = self.cutoffs
        if not a > b > c >= 0:
            raise InputError("Priority cut-offs must be decreasing: P1 > P2 > P3 >= 0.")
        if len(self.severity_factors) != len(SEVERITY_LABELS):
            raise InputError("Give one severity factor per severity (info..critical).")


# Weekly volumes and populations beyond this are no real deployment's (and their products
# would overflow to infinity); a score is capped at MAX_SCORE for the same reason.
MAX_VOLUME = 1e12
MAX_SCORE = 1e15


def bounded(value: float) -> float:
    """``value`` as a weekly quantity a priority can use: finite, 0 to MAX_VOLUME."""
    if math.isnan(value) or value < 0:
        return 0.0
    return min(value, MAX_VOLUME)


@dataclass(frozen=True, slots=True)
class Signal:
    """What a priority is computed from: a finding's numbers, or a manual item's estimate."""

    volume_per_week: float
    severity: int = 2  # 0 info .. 4 critical
    confidence: float = 1.0
    trend: str = "stable"  # falling | stable | rising
    customers_per_week: float = 0.0
    agents_per_week: float = 0.0
    cost_key: str | None = None  # cost model key; None: chosen from metric/kind
    units_per_occurrence: float = 1.0
    metric: str | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        quantities = (
            self.volume_per_week,
            self.customers_per_week,
            self.agents_per_week,
            self.confidence,
            self.units_per_occurrence,
        )
        if not all(math.isfinite(q) for q in quantities):
            raise InputError("Volumes, populations and confidence must be finite numbers.")
        if max(self.volume_per_week, self.customers_per_week, self.agents_per_week) > MAX_VOLUME:
            raise InputError(f"Volumes and populations must be at most {MAX_VOLUME:g} a week.")
        if self.volume_per_week < 0 or self.customers_per_week < 0 or self.agents_per_week < 0:
            raise InputError("Volumes and populations cannot be negative.")
        if not 0 <= self.confidence <= 1:
            raise InputError("confidence must be between 0 and 1.")
        if not 0 <= self.severity < len(SEVERITY_LABELS):
            raise InputError("severity must be 0 (info) to 4 (critical).")
        if self.trend not in TREND_LABELS:
            raise InputError(f"trend must be one of {', '.join(TREND_LABELS)}.")
        if self.units_per_occurrence < 0:
            raise InputError("units_per_occurrence cannot be negative.")


@dataclass(frozen=True, slots=True)
class Term:
    """One factor of the formula, as it is shown on the item page."""

    name: str
    value: float
    note: str


@dataclass(frozen=True, slots=True)
class PriorityResult:
    score: float
    priority: Priority
    weekly_cost: float
    terms: tuple[Term, ...]
    formula: str

    def as_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "priority": self.priority,
            "weekly_cost": self.weekly_cost,
            "formula": self.formula,
            "terms": [{"name": t.name, "value": t.value, "note": t.note} for t in self.terms],
        }


def cost_per_occurrence(
    signal: Signal, cost_model: Mapping[str, float], params: PriorityParams
) -> tuple[float, str]:
    """The price of one occurrence from the deployment's cost model, and where it came from."""
    key, units = signal.cost_key, signal.units_per_occurrence
    if key is None:
        for basis in (signal.metric, signal.kind):
            if basis and basis in COST_BASIS:
                key, units = COST_BASIS[basis]
                break
    if key is None:
        return params.default_cost, "no cost basis for this kind: default cost"
    if key == "lost_contact" and key not in cost_model and "escalation" in cost_model:
        # A lost contact comes back through another channel: priced as an escalation.
        return units * float(cost_model["escalation"]), f"{units:g} × escalation (lost contact)"
    if key not in cost_model:
        return params.default_cost, f"cost model has no {key!r}: default cost"
    return units * float(cost_model[key]), f"{units:g} × {key}"


def level(score: float, params: PriorityParams) -> Priority:
    p1, p2, p3 = params.cutoffs
    if score >= p1:
        return "P1"
    if score >= p2:
        return "P2"
    if score >= p3:
        return "P3"
    return "P4"


def compute_priority(
    signal: Signal, cost_model: Mapping[str, float], params: PriorityParams
) -> PriorityResult:
    """score = volume/week × cost/occurrence × severity × trend × confidence
    + population weight × (customers + agents)/week; then P1-P4 by the cut-offs."""
    cost, cost_note = cost_per_occurrence(signal, cost_model, params)
    sev = params.severity_factors[signal.severity]
    trend = params.trend_factors[TREND_LABELS.index(signal.trend)]
    population = signal.customers_per_week + signal.agents_per_week
    weekly_cost = min(signal.volume_per_week * cost, MAX_SCORE)
    score = weekly_cost * sev * trend * signal.confidence + params.population_weight * population
    if not math.isfinite(score) or score > MAX_SCORE:
        score = MAX_SCORE  # a cost model of absurd size: the top score, never infinity
    terms = (
        Term("volume per week", signal.volume_per_week, "affected occurrences per week"),
        Term("cost per occurrence", cost, cost_note),
        Term("severity", sev, SEVERITY_LABELS[signal.severity]),
        Term("trend", trend, signal.trend),
        Term("confidence", signal.confidence, "how sure the evidence is"),
        Term(
            "population",
            population,
            f"{signal.customers_per_week:g} customers + {signal.agents_per_week:g} agents per week",
        ),
        Term("population weight", params.population_weight, "score per person affected"),
    )
    formula = (
        f"{signal.volume_per_week:,.1f} × {cost:,.2f} × {sev:g} × {trend:g} × "
        f"{signal.confidence:.2f} + {params.population_weight:g} × {population:,.0f} "
        f"= {score:,.1f}"
    )
    return PriorityResult(round(score, 4), level(score, params), weekly_cost, terms, formula)


# -- SLAs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Time to triage and time to ship a fix, per priority."""

    triage_hours: Mapping[str, float] = field(
        default_factory=lambda: {"P1": 4.0, "P2": 24.0, "P3": 72.0, "P4": 168.0}
    )
    fix_days: Mapping[str, float] = field(
        default_factory=lambda: {"P1": 3.0, "P2": 10.0, "P3": 30.0, "P4": 90.0}
    )

    def __post_init__(self) -> None:
        for name, table in (("triage_hours", self.triage_hours), ("fix_days", self.fix_days)):
            missing = [p for p in PRIORITIES if p not in table]
            if missing:
                raise InputError(f"SLA {name} has no value for {', '.join(missing)}.")
            if any(v <= 0 for v in table.values()):
                raise InputError(f"SLA {name} must be positive.")


def sla_dues(priority: str, since: datetime, policy: SlaPolicy) -> tuple[datetime, datetime]:
    """When the item must be triaged, and when its fix must have shipped."""
    return (
        since + timedelta(hours=policy.triage_hours[priority]),
        since + timedelta(days=policy.fix_days[priority]),
    )


SlaState = Literal["on_track", "breached", "met", "closed"]


@dataclass(frozen=True, slots=True)
class SlaStatus:
    triage: SlaState
    fix: SlaState

    @property
    def breached(self) -> bool:
        return "breached" in (self.triage, self.fix)


def sla_status(
    *,
    status: str,
    triage_due: datetime,
    fix_due: datetime,
    triaged_at: datetime | None,
    fix_shipped_at: datetime | None,
    now: datetime,
) -> SlaStatus:
    """Each clock is met (done in time), breached (late, done or not) or still on track."""

    def clock(done: datetime | None, due: datetime) -> SlaState:
        if done is not None:
            return "met" if done <= due else "breached"
        if status == "wont_fix":
            return "closed"
        return "breached" if now > due else "on_track"

    return SlaStatus(clock(triaged_at, triage_due), clock(fix_shipped_at, fix_due))


# -- routing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """The conditions of a routing rule; an unset condition matches anything."""

    journey: str | None = None
    finding_kind: str | None = None
    segment_key: str | None = None
    segment_value: str | None = None

    def matches(self, journey: str | None, kind: str | None, segments: Mapping[str, str]) -> bool:
        if self.journey is not None and self.journey != journey:
            return False
        if self.finding_kind is not None and self.finding_kind != kind:
            return False
        return self.segment_key is None or segments.get(self.segment_key) == self.segment_value


def first_match(
    rules: Sequence[RuleMatch], journey: str | None, kind: str | None, segments: Mapping[str, str]
) -> int | None:
    """The index of the first rule that matches (rules in their order), else None."""
    for i, rule in enumerate(rules):
        if rule.matches(journey, kind, segments):
            return i
    return None


# -- feedback themes -------------------------------------------------------------------------

THEMES: Mapping[str, tuple[str, ...]] = {
    "speed": ("slow", "latency", "lag", "wait", "waiting", "delay", "timeout", "freez"),
    "wrong answer": ("wrong", "incorrect", "inaccurate", "not true", "mistake", "hallucinat"),
    "not understood": ("understand", "didn't get", "did not get", "repeat", "rephras", "again"),
    "handover": ("agent", "human", "transfer", "escalat", "handover", "hand over"),
    "suggestions": ("suggest", "reply", "knowledge card", "summary", "irrelevant", "useless"),
    "tooling": ("crash", "bug", "error", "broken", "login", "button", "screen"),
}
_WORD = re.compile(r"[a-z']+")


def theme_for(text: str, explicit: str | None = None) -> str:
    """The theme a piece of feedback is grouped under: the one given, else the first theme
    (in declaration order) whose cue appears in the text, else ``other``."""
    if explicit and explicit.strip():
        return explicit.strip().lower()
    lowered = " ".join(_WORD.findall(text.lower()))
    for theme, cues in THEMES.items():
        if any(cue in lowered for cue in cues):
            return theme
    return "other"
