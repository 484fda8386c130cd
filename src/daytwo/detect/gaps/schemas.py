"""What the gaps API and CLI return: public shapes, never the tables themselves."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class GapUtterance(BaseModel):
    """One user turn: where it is, and what the customer wrote (as stored, redacted)."""

    interaction_id: str
    seq: int
    text: str | None


class GapWording(BaseModel):
    """One distinct wording in a gap: how often customers used it, and one conversation."""

    text: str | None
    count: int
    interaction_id: str
    seq: int


class WeekCount(BaseModel):
    week: date = Field(description="Monday of the week.")
    n: int


class GapPublic(BaseModel):
    """A knowledge gap: a cluster of what users asked that the assistant could not handle."""

    id: str = Field(description="Stable across runs: the same gap found again keeps its id.")
    deployment: str
    status: str = Field(description="open, or gone when the latest run no longer finds it.")
    label: str
    keywords: list[str]
    kind: str = Field(
        description="new_intent, missing_knowledge, misrouting (a known intent to retrain) "
        "or off_topic (outside what the assistant is for)."
    )
    intent: str | None = Field(
        description="The known intent a misrouting or missing answer concerns."
    )
    kind_reason: str
    volume: int = Field(description="Utterances in the gap over the analysed window.")
    recent: int = Field(description="Utterances in the last 7 days of the window.")
    previous: int = Field(description="Utterances in the 7 days before those.")
    growth: float | None = Field(description="recent / previous - 1; null when previous is 0.")
    weekly: list[WeekCount]
    journeys: dict[str, int]
    signals: dict[str, int] = Field(
        description="How many utterances fell back, had low confidence, were rephrased, "
        "or were followed by escalation."
    )
    customers: int
    examples: list[GapUtterance]
    encoder: str
    first_seen: datetime
    last_seen: datetime
    runs_seen: int
    members: list[GapUtterance] | None = Field(
        default=None, description="Every utterance in the gap, when asked for."
    )
    wordings: list[GapWording] | None = Field(
        default=None,
        description="The gap's distinct wordings (case and spacing aside), most used first, "
        "when asked for one gap.",
    )
    priority: float = Field(
        default=0.0,
        description="Volume × growth: utterances in the window × (last 7 days + 1) / "
        "(the 7 before + 1). The gaps list sorts by it.",
    )


class OffTopic(BaseModel):
    """What customers asked that is outside what the assistant is for, counted apart."""

    gaps: int = Field(description="Open gaps typed off_topic (chit-chat, general knowledge).")
    utterances: int
    recent: int = Field(description="Their utterances in the last 7 days.")
    previous: int = Field(description="Their utterances in the 7 days before.")
    scattered: int = Field(
        description="Candidate utterances of the latest run that no gap holds (one-offs)."
    )


class GapListing(BaseModel):
    """One page of a deployment's business gaps, and the off-topic ones counted apart."""

    gaps: list[GapPublic]
    total: int = Field(description="Gaps matching the filters, over all pages.")
    page: int
    per_page: int
    utterances: int = Field(description="Utterances in the gaps matching the filters.")
    off_topic: OffTopic
    journeys: list[str] = Field(description="Journeys the open gaps touch, for filtering.")


class GapRunPublic(BaseModel):
    id: int
    deployment: str
    encoder: str
    started_at: datetime
    finished_at: datetime | None
    data_start: datetime | None
    data_through: datetime | None
    candidates: int
    clustered: int
    gaps: int
    params: dict[str, object]
