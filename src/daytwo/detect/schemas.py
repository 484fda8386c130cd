"""What the findings API and CLI return (never the table itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from daytwo.clock import aware
from daytwo.detect.findings import Severity
from daytwo.detect.models import FindingRecord
from daytwo.metrics.catalog import REGISTRY
from daytwo.units import Unit, fmt_value

Status = Literal["open", "resolved", "regressed"]


class FindingFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployment: str | None = None
    kind: str | None = None
    detector: str | None = None
    journey: str | None = None
    metric: str | None = None
    status: list[Status] | None = None
    min_severity: Severity | None = None
    # Only these deployments (None: all); access control passes the granted ones here.
    deployments: list[str] | None = None
    limit: int = Field(default=200, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class Scope(BaseModel):
    deployment: str
    journey: str | None
    segment: dict[str, str] | None
    metric: str | None
    level: str


# The unit of a finding's values where its scope names no catalog metric: what each detector
# compares (a share of traffic, interactions counted, a mean of words).
KIND_UNITS: dict[str, Unit] = {
    "freshness_gap": "count",  # interactions expected an hour
    "volume_anomaly": "count",
    "input_length": "count",  # words in a first message
    "knowledge_gap": "count",  # questions a week
    "null_rate": "rate",
    "duplicate_deliveries": "rate",
    "clock_skew": "rate",
    "new_vocabulary": "rate",
    "language_mix": "rate",  # the share of traffic that moved
    "intent_mix": "rate",
    "failure_point": "rate",
    "silent_failure": "rate",
    "adoption_workaround": "rate",
}


def unit_of_finding(kind: str, metric: str | None) -> Unit:
    """The unit a finding's baseline and current values are in: its metric's, else its kind's."""
    if metric in REGISTRY:
        return REGISTRY[metric].unit
    return KIND_UNITS.get(kind, "score")


class ValueAt(BaseModel):
    value: float | None
    n: int | None
    display: str | None = Field(
        default=None, description="The value as the pages show it, in the finding's unit."
    )


class ImpactPublic(BaseModel):
    interactions_per_week: float
    customers_per_week: float
    agents_per_week: float


class FindingPublic(BaseModel):
    id: int
    fingerprint: str
    detector: str
    kind: str
    title: str
    scope: Scope
    key: list[str]
    severity: str
    severity_level: int
    status: Status
    unit: Unit = Field(description="The unit of the baseline and current values.")
    baseline: ValueAt
    current: ValueAt
    evidence: list[str]
    impact: ImpactPublic
    details: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    times_seen: int
    regressions: int
    resolved_at: datetime | None

    @model_validator(mode="before")
    @classmethod
    def _unit_from_scope(cls, data: Any) -> Any:
        """A finding read without its unit (an older answer) takes its metric's or kind's."""
        if isinstance(data, dict) and "unit" not in data:
            scope = data.get("scope")
            metric = scope.get("metric") if isinstance(scope, dict) else None
            return {**data, "unit": unit_of_finding(str(data.get("kind", "")), metric)}
        return data

    @classmethod
    def from_row(cls, r: FindingRecord) -> FindingPublic:
        segment = {r.segment_key: r.segment_value or ""} if r.segment_key else None
        level = (
            "segment" if segment else "journey" if r.journey else "metric" if r.metric
            else "deployment"
        )  # fmt: skip
        return cls(
            id=r.id,
            fingerprint=r.fingerprint,
            detector=r.detector,
            kind=r.kind,
            title=r.title,
            scope=Scope(
                deployment=r.deployment,
                journey=r.journey,
                segment=segment,
                metric=r.metric,
                level=level,
            ),
            key=list(r.key or []),
            severity=Severity(r.severity).name,
            severity_level=r.severity,
            status=r.status,
            unit=unit_of_finding(r.kind, r.metric),
            baseline=ValueAt(value=r.baseline_value, n=r.baseline_n),
            current=ValueAt(value=r.current_value, n=r.current_n),
            evidence=list(r.evidence or []),
            impact=ImpactPublic(
                interactions_per_week=r.impact_interactions,
                customers_per_week=r.impact_customers,
                agents_per_week=r.impact_agents,
            ),
            details=dict(r.details or {}),
            first_seen=aware(r.first_seen),
            last_seen=aware(r.last_seen),
            times_seen=r.times_seen,
            regressions=r.regressions,
            resolved_at=aware(r.resolved_at) if r.resolved_at is not None else None,
        )

    def show(self, value: float | None, currency: str | None = None) -> str:
        """One of this finding's values as every page shows it (money in ``currency``)."""
        return fmt_value(value, self.unit, currency)

    def displayed(self, currency: str | None) -> FindingPublic:
        """This finding with its values' ``display`` filled in, as the API answers it."""
        return self.model_copy(
            update={
                "baseline": self.baseline.model_copy(
                    update={"display": self.show(self.baseline.value, currency)}
                ),
                "current": self.current.model_copy(
                    update={"display": self.show(self.current.value, currency)}
                ),
            }
        )


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    deployment: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    since: datetime | None
    data_through: datetime | None
    interactions: int
    detectors: list[str]
    findings_new: int
    findings_updated: int
    findings_resolved: int
    findings_regressed: int
    error: str | None
