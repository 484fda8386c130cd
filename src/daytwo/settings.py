"""One settings object for the whole product, read from ``DAYTWO_*`` environment variables.

Settings are built once at the entry point (CLI or ASGI factory) and passed down; nothing in the
package reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    analyze_interval_minutes: float = Field(
        default=0,
        ge=0,
        description="How often `daytwo serve` runs the detectors, in minutes; 0 turns it off.",
    )
    demo: bool = Field(default=False, description="Set by `daytwo demo`; relaxes nothing yet.")

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

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
