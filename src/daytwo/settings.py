"""One settings object for the whole product, read from ``DAYTWO_*`` environment variables.

Settings are built once at the entry point (CLI or ASGI factory) and passed down; nothing in the
package reads the environment at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The knowledge gaps' sentence encoders, by name: ``daytwo.detect.gaps.encoders.ENCODERS``
#: registers each (a test holds the two to the same names); settings, the analysis API and the
#: CLI accept exactly these.
GapEncoder = Literal["minilm", "wordllama"]
GAP_ENCODERS: tuple[str, ...] = get_args(GapEncoder)


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``DAYTWO_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="DAYTWO_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./daytwo-data"),
        description="Folder that holds the embedded stores (DuckDB events, SQLite ledger).",
    )
    ledger_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the ledger; default: SQLite file in the data dir.",
    )
    events_url: str | None = Field(
        default=None,
        description="Events store URL (duckdb:///path); default: a DuckDB file in the data dir.",
    )
    host: str = Field(default="127.0.0.1", description="Address `daytwo serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `daytwo serve` binds to.")
    ingest_max_interactions: int = Field(
        default=5000, ge=1, description="Most interactions one ingest request may carry."
    )
    ingest_max_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest ingest request body, in bytes."
    )
    ingest_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Ingest batches one server process decodes, checks and stores at a time; "
        "more wait their turn (writes to the events store are one at a time anyway).",
    )
    refresh_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How often `daytwo serve` brings the dashboard's rollups and search index up "
        "to date with what arrived, off the request path (pages say how fresh they are); 0 "
        "refreshes them on the read that needs them instead (exact, but that read waits).",
    )
    refresh_stream_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Under a sustained stream of writes (writes arriving within "
        "`refresh_seconds` of each other), the longest `daytwo serve` defers refreshing the "
        "rollups: each refresh recomputes the days that changed, so refreshing every second "
        "would recompute a filling day over and over. It refreshes as soon as the writes pause "
        "for `refresh_seconds`; once three writes came each within `refresh_seconds` plus twice "
        "`otlp_assemble_seconds` of the one before (the trace door's assembler writes once a "
        "tick), only a pause of twice their longest recent gap (at least that long) ends the "
        "stream. While the trace door holds staged turns, their writes are still to come: it "
        "waits until none are staged (at most this long).",
    )
    adoption_prepare_seconds: float = Field(
        default=3.0,
        ge=0,
        description="How long after it starts `daytwo serve` computes, once, in one background "
        "thread, the adoption page's and API's default answers of each agent-assist deployment "
        "(so the first reader does not wait for them); 0 leaves them to the first reader.",
    )
    otlp_idle_seconds: float = Field(
        default=900,
        ge=0,
        description="A traced conversation has ended (and is written) when its last span ended "
        "this long ago and none arrived in the last `otlp_settle_seconds`.",
    )
    otlp_settle_seconds: float = Field(
        default=10,
        ge=0,
        description="Quiet time after a conversation's last span arrived before it may end "
        "(what ends a backfill of old traces).",
    )
    otlp_assemble_seconds: float = Field(
        default=2, gt=0, description="How often `serve` writes the traced conversations that ended."
    )
    otlp_max_staged_rows: int = Field(
        default=5_000_000,
        ge=1,
        description="Staged turns of open conversations above which `/v1/traces` answers 503 "
        "with Retry-After.",
    )
    otlp_max_concurrent: int = Field(
        default=4,
        ge=1,
        description="Trace requests decoded at once; more wait for a 429 with Retry-After.",
    )
    otlp_workers: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1),
        ge=0,
        description="Processes that decode and map trace requests (default: one per core, up "
        "to 4); 0: in the server process.",
    )
    otlp_requests_per_minute: int = Field(
        default=12_000,
        ge=1,
        description="Trace requests per minute per key (the door's rate limit).",
    )
    otlp_max_attributes: int = Field(
        default=10_000, ge=1, description="Most attributes one span may carry."
    )
    otlp_handoff_tools: str = Field(
        default=r"(?i)(hand_?off|hand_?over|transfer|escalat|human|live_?agent|operator)",
        description="A traced conversation that called a tool whose name matches this regular "
        "expression is `escalated` (unless a span states its outcome).",
    )
    otlp_default_outcome: str | None = Field(
        default="contained",
        description="Outcome of a traced conversation no span states and no hand-off decides; "
        "empty: unknown.",
    )
    analyze_interval_minutes: float = Field(
        default=60,
        ge=0,
        description="How often `daytwo serve` runs the detectors and clusters the knowledge gaps, "
        "in minutes (each run is incremental: a deployment with no new data costs one query); "
        "0 turns it off.",
    )
    judge_url: str | None = Field(
        default=None,
        description="OpenAI-compatible API base URL (…/v1) of an LLM that judges sampled "
        "conversations for silent failures; unset: no judge, no transcript leaves daytwo.",
    )
    judge_model: str = Field(default="gpt-4o-mini", description="Model the LLM judge asks.")
    judge_api_key: SecretStr | None = Field(
        default=None, description="API key sent to the LLM judge as a bearer token."
    )
    demo: bool = Field(
        default=False,
        description="Set by `daytwo demo`: allows plain-HTTP session cookies on any address.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs session cookies (32+ characters); default: a random key "
        "kept in the data dir (`session.key`, mode 600).",
    )
    pseudonym_secret: SecretStr | None = Field(
        default=None,
        description="Key of pseudonymous customer references (32+ characters); default: a "
        "random key kept in the data dir (`pseudonym.key`, mode 600). Changing it changes "
        "every pseudonym.",
    )
    session_idle_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="Sign a UI session out after this idle time."
    )
    cookie_secure: bool = Field(
        default=False,
        description="Mark cookies Secure (HTTPS only). Required when `host` is not loopback, "
        "unless in the demo.",
    )
    login_free_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins in a row before an account locks."
    )
    login_lockout_seconds: int = Field(
        default=30, ge=1, description="First lockout; it doubles with each further failure."
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=1, description="Requests per minute per API key, session or address."
    )
    retention_interval_minutes: int = Field(
        default=60, ge=0, description="How often `serve` applies retention; 0 turns it off."
    )
    backlog_priority_cutoffs: list[float] = Field(
        default=[1000.0, 300.0, 50.0],
        description="Scores at or above which an item is P1, P2, P3 (else P4); JSON list.",
    )
    backlog_population_weight: float = Field(
        default=0.05, ge=0, description="Score added per customer or agent affected per week."
    )
    backlog_sla_triage_hours: dict[str, float] = Field(
        default={"P1": 4.0, "P2": 24.0, "P3": 72.0, "P4": 168.0},
        description="Hours to triage an item, by priority; JSON object.",
    )
    backlog_sla_fix_days: dict[str, float] = Field(
        default={"P1": 3.0, "P2": 10.0, "P3": 30.0, "P4": 90.0},
        description="Days to ship a fix, by priority; JSON object.",
    )
    feedback_ack_days: float = Field(
        default=3.0, gt=0, description="Days to acknowledge a piece of feedback."
    )
    feedback_action_days: float = Field(
        default=14.0, gt=0, description="Days to act on (close) a piece of feedback."
    )
    impact_window_days: int = Field(
        default=28, ge=3, le=90, description="Days before and after a change compared."
    )
    impact_resamples: int = Field(
        default=2000, ge=100, le=100_000, description="Bootstrap resamples of change impact."
    )
    notify_deliver_seconds: float = Field(
        default=5,
        ge=0,
        description="How often `daytwo serve` delivers due alerts from the outbox and escalates "
        "unacknowledged P1 alerts, in seconds; 0 turns delivery in the server off.",
    )
    report_schedule_seconds: float = Field(
        default=300,
        ge=0,
        description="How often `daytwo serve` looks for scheduled reports whose time has come "
        "(issues them into the archive and queues their e-mail), in seconds; 0 turns it off.",
    )
    notify_max_attempts: int = Field(
        default=8,
        ge=1,
        le=50,
        description="Delivery attempts of one alert to one channel before it is dead-lettered "
        "(visible and retryable in the delivery log).",
    )
    notify_escalate_minutes: float = Field(
        default=30,
        gt=0,
        description="Minutes a P1 alert may stay unacknowledged before it escalates (to the "
        "owner's escalation channel, then the deployment's escalation routes).",
    )
    notify_public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address people reach daytwo at: the base of the links and signed "
        "acknowledgement links in alerts.",
    )
    gaps_encoder: GapEncoder = Field(
        default="minilm",
        description="Sentence encoder of knowledge gaps: minilm (all-MiniLM-L6-v2 on ONNX "
        "Runtime, shipped) or wordllama (faster, merges close intents).",
    )
    gaps_window_days: int = Field(
        default=28, ge=1, le=365, description="Days of traffic clustered into knowledge gaps."
    )

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("session_secret", "pseudonym_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("needs at least 32 characters")
        return value

    def check_safe_to_serve(self) -> None:
        """Refuse settings that are unsafe outside the demo (raises ConfigError)."""
        from daytwo.errors import ConfigError

        loopback = self.host in ("127.0.0.1", "localhost", "::1")
        if not (self.demo or loopback or self.cookie_secure):
            raise ConfigError(
                f"Serving on {self.host} sends session cookies over plain HTTP: put daytwo "
                "behind HTTPS and set DAYTWO_COOKIE_SECURE=true."
            )

    def session_key(self) -> bytes:
        """The cookie-signing key: the setting, else a random key kept in the data dir."""
        return self._key(self.session_secret, "session.key")

    def pseudonym_key(self) -> bytes:
        """The key of pseudonymous customer references (see ``pseudonym_secret``)."""
        return self._key(self.pseudonym_secret, "pseudonym.key")

    def _key(self, secret: SecretStr | None, name: str) -> bytes:
        if secret is not None:
            return secret.get_secret_value().encode()
        path = self.data_dir / name
        if not path.exists():
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    @property
    def resolved_ledger_url(self) -> str:
        if self.ledger_url:
            return self.ledger_url
        return f"sqlite:///{(self.data_dir / 'ledger.sqlite').resolve()}"

    @property
    def resolved_events_url(self) -> str:
        if self.events_url:
            return self.events_url
        return f"duckdb:///{(self.data_dir / 'events.duckdb').resolve()}"
