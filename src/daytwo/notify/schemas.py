"""Input and output shapes of notifications (never the tables themselves), and the payload
every channel carries (:class:`AlertPayload`, documented as JSON Schema in docs/notify.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
ChannelKind = Literal["webhook", "slack", "email", "apprise"]
SmtpSecurity = Literal["starttls", "tls", "none"]
Priority = Literal["P1", "P2", "P3", "P4"]
# What is worth a message; docs/notify.md describes each.
EventKind = Literal[
    "problem.new",
    "problem.regressed",
    "problem.priority_raised",
    "problem.resolved",
    "sla.at_risk",
    "sla.breached",
    "gate.ready",
    "gate.stopped_holding",
    "feed.silent",
    "feed.resumed",
    "traffic.error_spike",
    "traffic.fallback_spike",
    "traffic.latency_spike",
    "traffic.volume_drop",
    "traffic.volume_surge",
    "traffic.recovered",
    "alert.escalated",
    "grouped",
    "digest",
    "test",
]
EVENT_KINDS: tuple[str, ...] = EventKind.__args__  # type: ignore[attr-defined]
DeliveryStatus = Literal["pending", "sending", "delivered", "dead", "digest", "grouped"]
DigestPeriod = Literal["off", "daily", "weekly"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ChannelCreate(_In):
    """A channel. ``url`` for webhook and Slack, ``recipients`` and ``smtp_*`` for e-mail; the
    secret (webhook signing key, Slack webhook URL, SMTP password) either given once in
    ``secret`` (stored encrypted, never shown again) or named in ``secret_env``."""

    name: Name
    kind: ChannelKind
    url: str | None = Field(default=None, max_length=500, description="webhook: where to POST")
    recipients: list[str] = Field(default_factory=list, description="e-mail: default To")
    smtp_host: str | None = Field(default=None, max_length=200)
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: SmtpSecurity = "starttls"
    smtp_username: str | None = Field(default=None, max_length=200)
    sender: str | None = Field(default=None, max_length=200, description="e-mail: From")
    secret: str | None = Field(default=None, max_length=2000)
    secret_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,99}$")
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_per_hour: int | None = Field(
        default=None, ge=1, le=10_000,
        description="at most this many messages an hour; beyond it, what is due goes out "
        "grouped in one message when the hour allows (never dropped)",
    )  # fmt: skip


class ChannelPublic(BaseModel):
    id: int
    name: str
    kind: str
    target: str
    config: dict[str, object]
    secret: str  # how the secret is kept, never the secret
    active: bool
    created_by: str
    created_at: datetime


class RouteCreate(_In):
    """Send matching alerts to ``channel``; each condition left out matches anything."""

    channel: Name
    deployment: str | None = None
    owner: str | None = None
    event_kinds: list[EventKind] = Field(default_factory=list)
    max_priority: Priority = "P2"
    journey: str | None = None
    finding_kind: str | None = None
    max_per_hour: int | None = Field(
        default=None, ge=1, le=10_000,
        description="at most this many messages an hour through this route (P1 breaks "
        "through and counts); beyond it, what is due goes out grouped in one message when "
        "the hour allows (never dropped)",
    )  # fmt: skip


class RoutePublic(BaseModel):
    id: int
    channel: str
    deployment: str | None
    owner: str | None
    event_kinds: list[str]
    max_priority: str
    journey: str | None
    finding_kind: str | None
    max_per_hour: int | None = None


class PreferenceSet(_In):
    channel: Name | None = Field(default=None, description="the owner's own channel")
    escalation_channel: Name | None = None
    timezone: str = "UTC"
    quiet_hours: str | None = Field(default=None, description="22:00-07:00; P1 breaks through")
    digest: DigestPeriod = Field(
        default="off",
        description="daily or weekly: their non-P1 messages wait for one digest at 08:00 their "
        "time (Mondays for weekly) with their open, new, due and verified items",
    )


class PreferencePublic(BaseModel):
    owner: str
    channel: str | None
    escalation_channel: str | None
    timezone: str
    quiet_hours: str | None
    digest: str = "off"


class AlertPublic(_Out):
    id: int
    dedupe_key: str
    deployment: str
    item_id: int | None
    kind: str
    # The state it last told about: an SLA clock's triage.at_risk, triage.breached,
    # fix.at_risk or fix.breached; a gate's ready or not_holding; a feed's silent or flowing.
    state: str | None = None
    priority: str
    title: str
    owner: str | None
    status: str
    events: int
    escalation_level: int
    escalate_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    created_at: datetime
    updated_at: datetime


class AttemptPublic(_Out):
    at: datetime
    ok: bool
    status_code: int | None
    error: str
    duration_ms: float


class DeliveryPublic(BaseModel):
    id: int
    alert_id: int | None  # None for a document (an issued report)
    channel: str
    event: str
    idempotency_key: str
    recipient: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    delivered_at: datetime | None


class DeliveryDetail(DeliveryPublic):
    log: list[AttemptPublic]


class DeliveryReport(BaseModel):
    """What one pass of delivery did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    escalated: int = 0


# -- the payload every channel carries -------------------------------------------------------


class PayloadItem(BaseModel):
    id: int | None = Field(
        description="the backlog item; null when the alert is about no item (a gate, a feed, a "
        "test message)"
    )
    title: str
    priority: Priority
    owner: str | None = Field(description="the owner's handle")
    journey: str | None
    finding_kind: str | None = Field(description="the detector's finding kind")
    status: str | None = Field(description="the item's status in the backlog")
    url: str | None = Field(
        description="the page to open: the item's, the plan's gate, the deployment's feed"
    )


class GroupedEvent(BaseModel):
    """One event carried inside a grouped message."""

    idempotency_key: str
    alert_id: int
    event: EventKind
    deployment: str
    priority: Priority
    title: str
    summary: str
    url: str | None


class AlertPayload(BaseModel):
    """The JSON body of a webhook, and what the Slack and e-mail messages are built from."""

    schema_: Literal["daytwo.alert/v1"] = Field(
        default="daytwo.alert/v1", alias="schema", description="payload version"
    )
    event: EventKind
    idempotency_key: str = Field(description="the same on every retry: drop repeats by it")
    occurred_at: datetime
    deployment: str
    alert_id: int = Field(description="one alert per problem; later events share it")
    update: bool = Field(description="false for the first message of the alert")
    escalation_level: int = Field(ge=0, description="0, then 1 (owner's escalation), 2 (admin)")
    summary: str = Field(description="one sentence: what happened")
    evidence: list[str] = Field(description="the numbers behind it, one line each")
    item: PayloadItem
    acknowledge_url: str | None = Field(description="a signed link that acknowledges the alert")
    grouped: list[GroupedEvent] = Field(
        default_factory=list,
        description="events `grouped` and `digest`: the events this one message carries (held "
        "by the channel's rate limit, or for the owner's digest); each keeps its own "
        "idempotency key",
    )

    model_config = ConfigDict(title="daytwo alert event", populate_by_name=True)


class DocumentPayload(BaseModel):
    """A document sent through a channel's outbox (an issued report): the mail's subject,
    its text and HTML bodies, and one attachment. Only e-mail channels carry documents."""

    schema_: Literal["daytwo.document/v1"] = Field(default="daytwo.document/v1", alias="schema")
    idempotency_key: str
    occurred_at: datetime
    deployment: str
    subject: str
    text: str
    html: str
    attachment_name: str
    attachment_b64: str = Field(description="the attachment (a PDF), base64")

    model_config = ConfigDict(populate_by_name=True)
