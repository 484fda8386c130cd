"""Input and output shapes of deployments (never the table itself)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, field_validator

from daytwo.store.ledger.kinds import DeploymentKind
from daytwo.units import DEFAULT_CURRENCY, is_currency

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)


def _sensible(day: date) -> date:
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValueError(f"must be between {EARLIEST_DAY} and {LATEST_DAY}")
    return day


#: A calendar day a deployment can mean (its go-live, a baseline bound): 2000 to 2100.
Day = Annotated[date, Strict(False), AfterValidator(_sensible)]


class DeploymentCreate(BaseModel):
    # Strict: numbers are JSON numbers (days, as strings, are exempt: see ``Day``).
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    kind: Annotated[DeploymentKind, Strict(False)]  # sent as its name
    description: str = ""
    go_live: Day | None = None
    journeys: list[str] = Field(default_factory=list)
    targets: dict[str, float] = Field(
        default_factory=dict, description="KPI targets by metric id, e.g. containment_rate: 0.6"
    )
    cost_model: dict[str, float] = Field(
        default_factory=dict,
        description="Costs in the deployment's currency: escalation, agent_minute, "
        "ai_per_interaction (or a fee per conversation on top of the model cost the turns "
        "report: ai_fee_per_interaction), one_off_investment, running_per_month.",
    )
    currency: str = Field(
        default=DEFAULT_CURRENCY,
        description="ISO 4217 code of the money in the cost model and the cost metrics.",
        examples=["EUR"],
    )
    baseline_start: Day | None = Field(
        default=None, description="First day of the baseline window (default: go-live + 7)."
    )
    baseline_end: Day | None = Field(
        default=None, description="Day after the baseline window (default: start + 14)."
    )
    baseline_values: dict[str, float] = Field(
        default_factory=dict,
        description="Pre-launch baseline values by metric id; they replace the window's.",
    )

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        if not is_currency(value):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code (EUR, GBP, USD...)")
        return value


class DeploymentPublic(DeploymentCreate):
    model_config = ConfigDict(from_attributes=True, extra="ignore", strict=False)

    created_at: datetime
    updated_at: datetime


class DeploymentOverview(BaseModel):
    """A deployment as listed on the home page: registered or only seen in the data."""

    name: str
    kind: str | None
    registered: bool
    go_live: date | None
    interactions: int
    turns: int
    first_started_at: datetime | None
    last_started_at: datetime | None
