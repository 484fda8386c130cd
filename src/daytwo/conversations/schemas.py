"""Conversation list rows and full transcripts as the API returns them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ConversationRow(BaseModel):
    interaction_id: str
    deployment: str
    started_at: datetime
    channel: str | None
    journey: str | None
    outcome: str | None
    csat: float | None
    handle_time_s: float | None
    agent_ref: str | None
    n_turns: int | None
    n_fallback_turns: int | None
    n_error_turns: int | None
    segments: dict[str, str]


class ConversationPage(BaseModel):
    items: list[ConversationRow]
    total: int
    # False when a text search stopped counting once the page was full: total is then the
    # number of matches in the most recent days read, a lower bound.
    total_exact: bool = True
    limit: int
    offset: int
    drill: str | None = None


class Turn(BaseModel):
    seq: int
    ts: datetime | None
    role: str | None
    text: str | None
    intent: str | None
    confidence: float | None
    fallback: bool | None
    latency_ms: float | None
    error: str | None
    model: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    attributes: dict[str, Any] | None


class AssistEvent(BaseModel):
    seq: int
    ts: datetime | None
    agent_ref: str | None
    feature: str | None
    action: str | None


class Transcript(BaseModel):
    interaction: dict[str, Any]
    turns: list[Turn]
    assist_events: list[AssistEvent]
