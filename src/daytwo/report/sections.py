"""The building blocks the weekly update and the monthly review share: the deployment and its
first data, the value of a period priced from the cost model, and the measured changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from daytwo.backlog.changes import list_changes
from daytwo.deployments.schemas import DeploymentPublic
from daytwo.deployments.service import get_deployment, overview
from daytwo.errors import InputError
from daytwo.report.calc import CostModel, CostModelError, ValueResult, business_value
from daytwo.report.service import (
    BaselineEscalation,
    ChangeScope,
    escalation_baseline,
    period_counts,
)
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

# Cost-model keys that are investments, not unit prices.
INVESTMENT_KEYS = ("one_off_investment", "running_per_month")


class FixMeasured(BaseModel):
    """A change and what its measurement says: the verdict and the effect with its interval."""

    id: int
    title: str
    metric: str
    verdict: str
    shipped_at: datetime
    measured_at: datetime | None = None
    estimate: float | None = None
    lo: float | None = None
    hi: float | None = None
    reason: str = ""  # what the measurement says, in words
    href: str = ""


@dataclass(frozen=True, slots=True)
class Subject:
    """The deployment a report is about, with when its data starts and the baseline escalation
    rate its periods' escalations avoided are counted against."""

    name: str
    deployment: DeploymentPublic
    first_data: datetime | None
    baseline: BaselineEscalation


def subject(ledger: Ledger, events: EventStore, name: str) -> Subject:
    deployment = get_deployment(ledger, name)
    row = next((d for d in overview(ledger, events) if d.name == name), None)
    first = row.first_started_at if row else None
    # A change scoped to segments alone may touch every journey: it ends them all.
    changes = [ChangeScope(c.shipped_at, tuple(c.journeys)) for c in list_changes(ledger, name)]
    baseline = escalation_baseline(events, name, deployment, first, changes)
    return Subject(name, deployment, first, baseline)


def cost_model(deployment: DeploymentPublic, currency: str | None) -> CostModel | None:
    """The deployment's cost model in ``currency`` (default its own); None without one. The
    investments (``one_off_investment``, ``running_per_month``) are read from the same map."""
    if not deployment.cost_model:
        return None
    prices = {k: v for k, v in deployment.cost_model.items() if k not in INVESTMENT_KEYS}
    try:
        return CostModel(
            currency or deployment.currency,
            prices,
            one_off_investment=deployment.cost_model.get("one_off_investment", 0.0),
            running_per_month=deployment.cost_model.get("running_per_month", 0.0),
        )
    except CostModelError as exc:
        raise InputError(str(exc)) from exc


def period_value(
    events: EventStore,
    who: Subject,
    model: CostModel,
    start: datetime,
    end: datetime,
) -> ValueResult:
    """The value of [``start``, ``end``) priced from ``model``."""
    counts = period_counts(
        events, who.name, start, end, who.deployment, who.first_data, who.baseline
    )
    return business_value(model, counts)


def measured_fixes(ledger: Ledger, name: str) -> list[FixMeasured]:
    """Every change of ``name`` whose impact has been measured, with its verdict and effect."""
    out: list[FixMeasured] = []
    for c in list_changes(ledger, name):
        if c.measured_at is None:
            continue
        impact = c.impact
        out.append(
            FixMeasured(
                id=c.id,
                title=c.title,
                metric=c.metric,
                verdict=c.verdict,
                shipped_at=c.shipped_at,
                measured_at=c.measured_at,
                estimate=impact.estimate if impact else None,
                lo=impact.lo if impact else None,
                hi=impact.hi if impact else None,
                reason=impact.reason if impact else "",
                href=f"/changes/{c.id}",
            )
        )
    return out
