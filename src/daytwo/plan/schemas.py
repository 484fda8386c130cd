"""Input and output shapes of the 90-day plan and the rollout (never the tables themselves).

A plan is written as data (YAML, JSON or these models): phases with nominal day ranges from
go-live, each with objectives and an exit gate, a list of criteria. A criterion is either a
:class:`MetricCriterion` (a catalog metric against a threshold or against the baseline) or a
:class:`CheckCriterion` (a check on the operation itself). Which one is decided by the key the
criterion names (``metric`` or ``check``), so a YAML author never writes a type tag.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Comparator = Literal["at_most", "at_least", "below", "above"]
Verdict = Literal["met", "not_met", "no_data"]
Priority = Literal["P1", "P2", "P3", "P4"]


class CheckKind(enum.StrEnum):
    """The checks on the operation itself a gate can hold."""

    no_open_items = "no_open_items"  # no open item of a priority (P1 by default)
    journeys_owned = "journeys_owned"  # every journey has an owner (a routing rule)
    items_owned = "items_owned"  # every open item has an owner
    sla_compliance = "sla_compliance"  # items that met their SLA >= at_least
    feedback_action_window = "feedback_action_window"  # feedback actioned in its window
    alert_routes = "alert_routes"  # every owner has an alert route (notifications)
    data_feed_healthy = "data_feed_healthy"  # no data-quality problem seen in the window
    data_policies = "data_policies"  # retention and redaction policies set
    audit_chain = "audit_chain"  # the audit log's hash chain verifies
    journey_records = "journey_records"  # a runbook / handover record for every journey
    no_emerging_gap = "no_emerging_gap"  # no new subject among the questions left unanswered


class RecordKind(enum.StrEnum):
    runbook = "runbook"
    handover = "handover"


class RolloutState(enum.StrEnum):
    not_started = "not_started"
    pilot = "pilot"
    live = "live"
    expanding = "expanding"
    paused = "paused"
    rolled_back = "rolled_back"


def _takes_bool(annotation: Any) -> bool:
    """Whether a field's type admits ``true``/``false`` itself (not as a number)."""
    if annotation is bool:
        return True
    return any(_takes_bool(arg) for arg in get_args(annotation))


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """``window_days: false`` is a mistake, not 0: a number field refuses true/false
        (Pydantic's lax mode would read them as 1 and 0)."""
        if isinstance(value, bool) and info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            if field is not None and not _takes_bool(field.annotation):
                raise ValueError("expected a number, not true/false")
        return value


class Scope(_In):
    """Where a metric criterion is measured: the deployment (default), a journey, a segment."""

    journey: str | None = None
    segment: dict[str, str] | None = Field(
        default=None, description="One segment key and value, e.g. {site: porto}."
    )

    @field_validator("segment")
    @classmethod
    def _one_pair(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) != 1:
            raise ValueError("name exactly one segment key and value, e.g. {site: porto}")
        return value

    def label(self) -> str:
        parts = []
        if self.journey:
            parts.append(self.journey)
        if self.segment:
            parts.extend(f"{k}={v}" for k, v in self.segment.items())
        return " · ".join(parts) or "deployment"


class VsBaseline(_In):
    """Compared with the baseline: better by ``by`` (an improvement to prove), or not worse
    by more than ``by`` (no regression), each with significance ``significance``: the
    one-sided ``1 - significance`` confidence bound of the change must clear the margin."""

    change: Literal["better", "not_worse"]
    by: float = Field(ge=0)
    significance: float = Field(default=0.05, gt=0, lt=0.5)


class MetricCriterion(_In):
    """A catalog metric over a window, against a threshold or against the baseline."""

    id: Slug | None = Field(default=None, description="Stable id within the gate.")
    name: str | None = Field(default=None, max_length=200)
    metric: str
    comparator: Comparator | None = None
    threshold: float | None = None
    vs_baseline: VsBaseline | None = None
    window_days: int = Field(default=7, ge=1, le=365)
    scope: Scope = Field(default_factory=Scope)
    min_sample: int = Field(default=100, ge=0)
    sustained_days: int = Field(default=1, ge=1, le=90)

    @model_validator(mode="after")
    def _one_condition(self) -> MetricCriterion:
        absolute = self.comparator is not None or self.threshold is not None
        if absolute and self.vs_baseline is not None:
            raise ValueError("give either comparator and threshold, or vs_baseline, not both")
        if self.vs_baseline is None and (self.comparator is None or self.threshold is None):
            raise ValueError("give comparator and threshold (or vs_baseline)")
        return self


# A check's window when the plan names none: the feed and a gap as it opens are about the last
# days; the rest (SLAs, feedback) about the last month.
DEFAULT_WINDOW_DAYS: dict[CheckKind, int] = {
    CheckKind.data_feed_healthy: 5,
    CheckKind.no_emerging_gap: 7,
}


class CheckCriterion(_In):
    """A check on the operation itself (see :class:`CheckKind`)."""

    id: Slug | None = Field(default=None, description="Stable id within the gate.")
    name: str | None = Field(default=None, max_length=200)
    check: CheckKind
    priority: Priority = Field(default="P1", description="no_open_items: which priority.")
    journey: str | None = Field(
        default=None, description="no_open_items, no_emerging_gap: only this journey."
    )
    at_least: float | None = Field(
        default=None, ge=0, le=1, description="sla_compliance, feedback_action_window: share."
    )
    window_days: int = Field(
        default=0,
        ge=0,
        le=365,
        description="Days looked back (default 5 for the feed, 7 for a gap, else 30).",
    )
    record: RecordKind = Field(default=RecordKind.runbook, description="journey_records: kind.")

    @model_validator(mode="after")
    def _needs_share(self) -> CheckCriterion:
        shares = (CheckKind.sla_compliance, CheckKind.feedback_action_window)
        if self.check in shares and self.at_least is None:
            raise ValueError(f"{self.check.value} needs at_least (a share, e.g. 0.9)")
        if not self.window_days:
            self.window_days = DEFAULT_WINDOW_DAYS.get(self.check, 30)
        return self


def _criterion_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "metric" in value:
            return "metric"
        if "check" in value:
            return "check"
        return None
    return "metric" if isinstance(value, MetricCriterion) else "check"


Criterion = Annotated[
    Annotated[MetricCriterion, Tag("metric")] | Annotated[CheckCriterion, Tag("check")],
    Discriminator(
        _criterion_kind,
        custom_error_type="criterion_kind",
        custom_error_message="a criterion names either a `metric` or a `check`",
    ),
]


class PhaseSpec(_In):
    key: Slug
    name: str = Field(min_length=1, max_length=100)
    start_day: int = Field(ge=1, description="First day of the phase, day 1 = go-live.")
    end_day: int = Field(ge=1, description="Last day of the phase (inclusive).")
    objectives: list[str] = Field(default_factory=list)
    gate: list[Criterion] = Field(default_factory=list)


class RecordSpec(_In):
    """A runbook or handover record of a journey: where the document lives, who owns it."""

    journey: str
    kind: RecordKind = RecordKind.runbook
    title: str = Field(min_length=1, max_length=300)
    location: str = Field(default="", max_length=500, description="A URL or a path.")
    owner: str | None = None


class PlanSpec(_In):
    """A whole plan as written in YAML or sent to the API."""

    deployment: str
    template: str | None = Field(default=None, description="The template it started from.")
    phases: list[PhaseSpec] = Field(min_length=1)
    records: list[RecordSpec] = Field(default_factory=list)


class PlanBody(PlanSpec):
    """A plan as sent to ``PUT /api/v1/plans/{deployment}``: the path names the deployment."""

    deployment: str | None = Field(  # type: ignore[assignment]
        default=None, description="The path's deployment when left out; must match it if given."
    )


# -- outputs ------------------------------------------------------------------------------


class Evidence(BaseModel):
    """A link to what a value stands on: conversations, an item, the audit log, a record."""

    label: str
    href: str


class BlockingItem(BaseModel):
    id: int
    title: str
    priority: str
    owner: str | None
    href: str


class CriterionResult(BaseModel):
    """One criterion as evaluated: its value, interval, sample, window and verdict."""

    id: str
    kind: Literal["metric", "check"]
    label: str
    verdict: Verdict
    summary: str = Field(description="One line: the value against the condition.")
    value: float | None = None
    lo: float | None = None
    hi: float | None = None
    n: int | None = None
    unit: str | None = None
    window_start: date | None = None
    window_end: date | None = None
    baseline: float | None = None
    held_days: int | None = None
    sustained_days: int | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    blocking: list[BlockingItem] = Field(default_factory=list)


class GateResult(BaseModel):
    phase: str
    through: date
    evaluated_at: datetime
    ready: bool
    met: int
    total: int
    criteria: list[CriterionResult]


class SignoffPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    phase: str
    kind: Literal["signoff", "override"]
    actor: str
    role: str
    at: datetime
    reason: str
    ready: bool
    unmet: list[str]


class PhasePublic(BaseModel):
    key: str
    name: str
    start_day: int
    end_day: int
    start: date | None
    end: date | None
    objectives: list[str]
    gate: list[dict[str, Any]]
    status: Literal["passed", "overridden", "current", "upcoming"]
    signoff: SignoffPublic | None
    evaluation: GateResult | None


class PlanStatus(BaseModel):
    """Where the plan stands by evidence, and where the calendar says it should be."""

    day: int | None
    days_total: int
    through: date | None
    current_phase: str | None
    calendar_phase: str | None
    calendar_ahead: bool
    headline: str = Field(description="Where it stands, with every unmet criterion.")
    lead: str = Field(description="Where it stands, in one sentence.")
    next_gate_ready: bool | None
    next_gate_met: int | None
    next_gate_total: int | None


class PlanPublic(BaseModel):
    deployment: str
    kind: str
    go_live: date | None
    template: str | None
    version: int
    updated_at: datetime
    updated_by: str
    phases: list[PhasePublic]
    records: list[RecordSpec]
    status: PlanStatus


class SignoffIn(_In):
    reason: str = Field(default="", max_length=2000)
    override: bool = False


class EvaluateIn(_In):
    through: date | None = None


# -- rollout --------------------------------------------------------------------------------


class RolloutSet(_In):
    journey: str | None = Field(default=None, description="The call type; none: every journey.")
    group: dict[str, str] | None = Field(
        default=None, description="Agent group (agent assist), e.g. {site: porto}."
    )
    state: RolloutState
    reason: str = Field(default="", max_length=2000)

    @field_validator("group")
    @classmethod
    def _one_group(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) != 1:
            raise ValueError("name exactly one group key and value, e.g. {site: porto}")
        return value

    @model_validator(mode="after")
    def _unit(self) -> RolloutSet:
        if self.journey is None and self.group is None:
            raise ValueError("name a journey, an agent group, or both")
        return self


class ScoreComponent(BaseModel):
    key: str
    label: str
    verdict: Verdict
    summary: str
    short: str = Field(default="—", description="The value in a few characters, for tables.")
    value: float | None = None
    target: float | None = None
    href: str | None = None


class Scorecard(BaseModel):
    journey: str | None
    group: dict[str, str] | None
    state: RolloutState
    ready: bool
    readiness: float = Field(description="Share of the applicable components met.")
    components: list[ScoreComponent]
    volume_per_week: float | None
    value_per_interaction: float | None
    expected_value_per_week: float | None


class RolloutEventPublic(BaseModel):
    at: datetime
    actor: str
    journey: str | None
    group: dict[str, str] | None
    from_state: str
    to_state: str
    reason: str
    warning: str


class RolloutUnitPublic(BaseModel):
    journey: str | None
    group: dict[str, str] | None
    state: RolloutState
    reason: str
    since: datetime
    scorecard: Scorecard | None = None


class RolloutChanged(BaseModel):
    unit: RolloutUnitPublic
    warnings: list[str]


class Recommendation(BaseModel):
    journey: str | None
    group: dict[str, str] | None
    state: RolloutState
    next_state: RolloutState
    score: float
    expected_value_per_week: float | None
    readiness: float
    ready: bool
    reasons: list[str]


class RolloutRecommendations(BaseModel):
    deployment: str
    recommended: list[Recommendation]
    advised_against: list[Recommendation]
    basis: str
