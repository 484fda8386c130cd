"""Roles of users and scopes of API keys: enums with no database behind them, so the command
line can offer them without loading the ledger."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """What a user may do; grants say where (admins see every deployment)."""

    admin = "admin"
    owner = "owner"
    analyst = "analyst"
    viewer = "viewer"


class KeyScope(enum.StrEnum):
    """What an API key may do: send interactions only, read, scrape /metrics, or everything."""

    ingest = "ingest"
    read = "read"
    admin = "admin"
    metrics = "metrics"  # scrapes /metrics only
