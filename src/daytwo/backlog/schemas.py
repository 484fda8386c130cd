"""Input and output shapes of the backlog (never the tables themselves)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from daytwo.clock import aware

Handle = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")]
OwnerKind = Literal["person", "team"]
ChangeKind = Literal["prompt", "model", "knowledge", "flow", "config", "training"]
FeedbackSource = Literal["customer", "agent"]
FeedbackKind = Literal["thumbs_down", "thumbs_up", "csat_comment", "comment", "friction"]
FeedbackStatus = Literal["new", "acknowledged", "closed"]
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2101, 1, 1, tzinfo=UTC)


def _sensible(at: datetime) -> datetime:
    at = aware(at)  # no zone given: UTC
    if not _EARLIEST <= at < _LATEST:
        raise ValueError("must be between 2000-01-01 and 2100-12-31")
    return at


#: A time something happened (a change shipped, feedback received): 2000 to 2100; UTC when
#: sent without a zone.
Instant = Annotated[datetime, Strict(False), AfterValidator(_sensible)]


#: A row named in a request body (an item a change fixes, an item feedback is linked to): a row
#: id as the ledger stores it, 1 to 2**63 - 1; a larger one is a 422 naming the field, not an
#: overflow in the database driver.
RowRef = Annotated[int, Field(ge=1, le=2**63 - 1)]


class _In(BaseModel):
    # Strict: a number is a JSON number, not "1.5" or true (what the schema says). Times
    # (``Instant``) are exempt: JSON carries them as strings.
    model_config = ConfigDict(extra="forbid", strict=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- owners and routing ----------------------------------------------------------------------


class OwnerCreate(_In):
    handle: Handle
    name: str = Field(min_length=1, max_length=200)
    kind: OwnerKind = "person"
    team: str | None = Field(default=None, max_length=100)
    contact: str = Field(default="", max_length=300, description="e-mail, Slack channel…")


class OwnerUpdate(_In):
    """What to change; a field left out stays as it is (only ``team`` can be set to null)."""

    name: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=200)
    team: str | None = None
    contact: str | SkipJsonSchema[None] = Field(default=None, max_length=300)
    active: bool | SkipJsonSchema[None] = None

    @field_validator("name", "contact", "active", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value


class OwnerPublic(_Out):
    id: int
    handle: str
    name: str
    kind: str
    team: str | None
    contact: str
    active: bool


class RuleCreate(_In):
    deployment: str = Field(min_length=1, max_length=100)
    owner: Handle
    journey: str | None = None
    finding_kind: str | None = None
    segment: str | None = Field(
        default=None, description="key:value, e.g. site:porto", pattern=r"^[^:]+:.+$"
    )
    position: int | None = Field(
        default=None, ge=0, description="Where in the order (0 = first); default: last."
    )


class RulePublic(BaseModel):
    id: int
    deployment: str
    position: int
    owner: str
    journey: str | None
    finding_kind: str | None
    segment_key: str | None
    segment_value: str | None


class DefaultOwnerSet(_In):
    owner: Handle


class Routed(BaseModel):
    """Who would own an item, and why."""

    owner: str | None
    rule_id: int | None
    reason: str


# -- items -----------------------------------------------------------------------------------


class SignalIn(_In):
    """A manual item's impact estimate (findings bring their own)."""

    volume_per_week: float = Field(ge=0, le=1e12, description="Affected occurrences per week.")
    severity: int = Field(default=2, ge=0, le=4, description="0 info .. 4 critical.")
    confidence: float = Field(default=1.0, ge=0, le=1)
    trend: Literal["falling", "stable", "rising"] = "stable"
    customers_per_week: float = Field(default=0, ge=0, le=1e12)
    agents_per_week: float = Field(default=0, ge=0, le=1e12)
    cost_key: str | None = Field(
        default=None, description="Cost model key: escalation, agent_minute, lost_contact…"
    )
    units_per_occurrence: float = Field(default=1, ge=0, le=1e6)


class ItemCreate(_In):
    deployment: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=300)
    description: str = ""
    journey: str | None = None
    segments: dict[str, str] = Field(default_factory=dict)
    owner: Handle | None = Field(default=None, description="Default: routed by the rules.")
    signal: SignalIn


class ItemUpdate(_In):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = None


class MoveIn(_In):
    status: Literal[
        "new", "triaged", "in_progress", "fix_shipped", "verified", "reopened", "wont_fix"
    ]
    reason: str = Field(default="", description="Why (needed for wont_fix); shown in history.")


class AssignIn(_In):
    owner: Handle
    note: str = ""


class CommentIn(_In):
    text: str = Field(min_length=1, max_length=10_000)


class FindingLink(BaseModel):
    finding_id: str
    fingerprint: str
    kind: str
    snapshot: dict[str, Any]
    linked_at: datetime
    updated_at: datetime


class SlaPublic(BaseModel):
    triage: str
    fix: str
    breached: bool


class ItemPublic(BaseModel):
    id: int
    deployment: str
    title: str
    description: str
    source: str
    status: str
    owner: str | None
    journey: str | None
    finding_kind: str | None
    segments: dict[str, str]
    priority: str
    score: float
    breakdown: dict[str, Any]
    triage_due: datetime
    fix_due: datetime
    triaged_at: datetime | None
    fix_shipped_at: datetime | None
    closed_at: datetime | None
    resolution: str
    merged_into: int | None = Field(
        default=None,
        description="The item whose problem this one turned out to be part of: closed as "
        "wont_fix when the backlog moved its findings there.",
    )
    sla: SlaPublic
    created_by: str
    created_at: datetime
    updated_at: datetime


class EventPublic(_Out):
    id: int
    subject: str
    subject_id: int
    at: datetime
    actor: str
    action: str
    before: str | None
    after: str | None
    note: str


class ItemDetail(ItemPublic):
    findings: list[FindingLink]
    history: list[EventPublic]
    merged: list[int] = Field(
        default_factory=list, description="The items merged into this one (their findings)."
    )
    changes: list[int]
    feedback: list[int]


class OverdueRow(BaseModel):
    owner: str | None
    items: list[ItemPublic]


# -- changes ---------------------------------------------------------------------------------


class ChangeCreate(_In):
    deployment: str = Field(min_length=1, max_length=100)
    kind: ChangeKind
    title: str = Field(min_length=1, max_length=300)
    rationale: str = ""
    author: str = Field(min_length=1, max_length=200)
    shipped_at: Instant
    journeys: list[str] = Field(
        default_factory=list, description="Journeys it touches; empty: the whole deployment."
    )
    control_journeys: list[str] = Field(
        default_factory=list,
        description="Journeys to compare against; default: every journey outside the scope.",
    )
    segments: dict[str, list[str]] = Field(
        default_factory=dict,
        description="The one segment it touched, as {key: [values]}: a training for a team "
        "({'team': ['leeds-3']}), a config for a site. Empty: every segment of its journeys.",
    )
    control_segments: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Values of the same key to compare against; default: every other value "
        "no other change touched in the same windows.",
    )
    metric: str = Field(default="containment_rate", description="Metric-catalog id to judge by.")
    window_days: int | None = Field(default=None, ge=3, le=90)
    items: list[RowRef] = Field(default_factory=list, description="Items this change should fix.")

    @model_validator(mode="after")
    def _one_segment_key(self) -> ChangeCreate:
        if len(self.segments) > 1:
            raise ValueError("segments: scope a change to one segment key (e.g. team or site)")
        if any(not v for v in self.segments.values()):
            raise ValueError("segments: give at least one value for the key")
        if self.control_segments and set(self.control_segments) != set(self.segments):
            raise ValueError("control_segments must use the same key as segments")
        for key, values in self.segments.items():
            both = set(values) & set(self.control_segments.get(key, []))
            if both:
                raise ValueError(f"{key} {sorted(both)} cannot be both changed and control")
        return self


class ImpactPublic(BaseModel):
    metric: str
    verdict: str
    reason: str
    estimate: float | None = None
    lo: float | None = None
    hi: float | None = None
    level: float | None = None
    treated_before: float | None = None
    treated_after: float | None = None
    control_before: float | None = None
    control_after: float | None = None
    days_before: int | None = None
    days_after: int | None = None
    resamples: int | None = None
    treated: list[str] = Field(default_factory=list)
    control: list[str] = Field(default_factory=list)
    # What a default control left out: another change or disturbance reached it in the windows.
    excluded: list[str] = Field(default_factory=list)
    daily: list[dict[str, Any]] = Field(default_factory=list)


class ChangePublic(BaseModel):
    id: int
    deployment: str
    kind: str
    title: str
    rationale: str
    author: str
    shipped_at: datetime
    journeys: list[str]
    control_journeys: list[str]
    segments: dict[str, list[str]] = Field(default_factory=dict)
    control_segments: dict[str, list[str]] = Field(default_factory=dict)
    metric: str
    window_days: int
    verdict: str
    impact: ImpactPublic | None
    measured_at: datetime | None
    recorded_by: str
    items: list[int]


# -- feedback --------------------------------------------------------------------------------


class FeedbackCreate(_In):
    deployment: str = Field(min_length=1, max_length=100)
    source: FeedbackSource = "agent"
    kind: FeedbackKind = "friction"
    text: str = Field(default="", max_length=10_000)
    interaction_id: str | None = None
    author: str | None = Field(default=None, max_length=200, description="Agent ref or name.")
    rating: float | None = None
    theme: str | None = Field(default=None, max_length=100)
    received_at: Instant | None = None


class FeedbackAck(_In):
    note: str = Field(default="", max_length=10_000, description="What was said back.")


class FeedbackClose(_In):
    resolution: str = Field(min_length=1, max_length=10_000, description="What was done.")


class FeedbackLinkIn(_In):
    item_id: RowRef = Field(description="The backlog item to link.")


class FeedbackPublic(_Out):
    id: int
    deployment: str
    source: str
    kind: str
    interaction_id: str | None
    author: str | None
    rating: float | None
    text: str
    journey: str | None
    theme: str
    status: str
    item_id: int | None
    received_at: datetime
    ack_due: datetime
    action_due: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None
    resolution: str
    recorded_by: str
    overdue: bool = False


class ThemeRow(BaseModel):
    theme: str
    open: int
    closed: int
    overdue: int


class SyncResult(BaseModel):
    scanned: int
    added: int


class FindingIn(_In):
    """A finding handed to the backlog (the detectors' runner does this for every finding)."""

    id: str = Field(min_length=1, max_length=100)
    fingerprint: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=100)
    deployment: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=300)
    severity: int = Field(ge=0, le=4)
    volume_per_week: float = Field(ge=0, le=1e12)
    journey: str | None = None
    segment: tuple[str, str] | None = None
    metric: str | None = None
    confidence: float = Field(default=1.0, ge=0, le=1)
    trend: Literal["falling", "stable", "rising"] = "stable"
    customers_per_week: float = Field(default=0, ge=0, le=1e12)
    agents_per_week: float = Field(default=0, ge=0, le=1e12)
    status: Literal["open", "resolved", "regressed"] = "open"
    last_seen: Instant | None = None


class Absorbed(BaseModel):
    item: ItemPublic
    created: bool


class RaisedFinding(BaseModel):
    id: str
    fingerprint: str
    kind: str
    deployment: str
    title: str
    severity: int
    journey: str | None
    details: dict[str, Any]
