"""Shapes of metric results as the API and pages see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from daytwo.metrics.calc import Status


class MetricInfo(BaseModel):
    id: str
    name: str
    definition: str
    formula: str
    unit: str
    good: str | None
    group: str
    kind: str
    source: str
    needs: list[str]


class MetricPoint(BaseModel):
    """One value of one metric for one group (and time bucket)."""

    metric: str
    bucket: datetime | None = None
    group: dict[str, Any] = Field(default_factory=dict)
    value: float | None
    n: int | None = Field(description="Sample size: the denominator of a rate, values counted.")
    lo: float | None = Field(default=None, description="95% interval, low end.")
    hi: float | None = Field(default=None, description="95% interval, high end.")
    unit: str | None = Field(
        default=None, description="rate, ms, s, currency, count or score (the catalog's)."
    )
    display: str | None = Field(
        default=None,
        description="The value as every page shows it, e.g. 58.3%, 1,463 ms, €6.42.",
        examples=["58.3%"],
    )


class MetricSummary(BaseModel):
    """A metric over a period, compared with the previous period, the baseline and target."""

    metric: str
    name: str
    unit: str
    good: str | None
    group: str
    value: float | None
    n: int | None
    lo: float | None
    hi: float | None
    previous: float | None
    delta_previous: float | None
    baseline: float | None
    delta_baseline: float | None
    target: float | None
    status: Status
