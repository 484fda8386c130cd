"""The wire format: one interaction per JSON object, its turns and assist events inside it.

The models below are the format's definition (the HTTP API publishes them in its OpenAPI
schema, at ``/api/docs``); ``docs/ingest.md`` explains it with examples.

These models check *shape and types* of JSON input. The semantic rules shared by every door
(allowed values, ranges, duplicates) live in :mod:`daytwo.interactions.validate`, which runs on
the columnar form, so JSON, CSV and Parquet input are judged by the same code.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool


def _scalar_to_str(value: Any) -> Any:
    # Segment values and refs arrive as numbers from many exports ("tenure": 3); keep them as text.
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _error_to_str(value: Any) -> Any:
    # `error` is free text in most SDKs, a flag in some: true -> "error", false -> no error.
    if value is True:
        return "error"
    if value is False:
        return None
    return value


Text = Annotated[str, BeforeValidator(_scalar_to_str)]
Number = Annotated[float, Field(allow_inf_nan=False)]
# Whole numbers as the store keeps them: a larger one is an error naming its field, not a
# failure to store (the rules below the wire format refuse negative ones).
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class _Wire(BaseModel):
    # Unknown keys are kept (and stored in `attributes`), never rejected.
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False, frozen=False)


class TurnIn(_Wire):
    seq: Int32
    ts: AwareDatetime | None = None
    role: str
    text: str | None = None
    intent: Text | None = None
    confidence: Number | None = None
    fallback: StrictBool | None = None
    latency_ms: Number | None = None
    error: Annotated[str | None, BeforeValidator(_error_to_str)] = None
    model: str | None = None
    tokens_in: Int64 | None = None
    tokens_out: Int64 | None = None
    cost: Number | None = None


class AssistEventIn(_Wire):
    ts: AwareDatetime | None = None
    agent_ref: Text | None = None
    feature: str | None = None
    action: str


class InteractionIn(_Wire):
    id: Text
    deployment: str
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    channel: str | None = None
    journey: Text | None = None
    customer_ref: Text | None = None
    agent_ref: Text | None = None
    segments: dict[str, Text | None] = Field(default_factory=dict)
    outcome: str | None = None
    csat: Number | None = None
    handle_time_s: Number | None = None
    cost: Number | None = None
    ai_used: StrictBool | None = None
    turns: list[TurnIn] = Field(default_factory=list)
    assist_events: list[AssistEventIn] = Field(default_factory=list)
