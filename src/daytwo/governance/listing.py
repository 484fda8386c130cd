"""Users and API keys as the lists show them, and the lean reads behind ``daytwo users list``
and ``daytwo keys list`` (see :mod:`daytwo.store.ledger.reader`): no SQLAlchemy, no argon2.

The ORM reads (:func:`daytwo.governance.accounts.list_users`,
:func:`daytwo.governance.keys.list_keys`) answer with the same records; a test gives both the
same ledger, so a column renamed in the models breaks it rather than the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from daytwo.clock import aware
from daytwo.governance.roles import KeyScope, Role
from daytwo.store.ledger.reader import LedgerReader, utc, utc_or_none


@dataclass(frozen=True, slots=True)
class UserPublic:
    username: str
    role: Role
    active: bool
    grants: tuple[str, ...]
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class KeyPublic:
    prefix: str
    name: str
    scope: KeyScope
    deployment: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def status(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and aware(self.expires_at) <= now:
            return "expired"
        return "active"


def read_users(reader: LedgerReader) -> list[UserPublic]:
    """Every user by name, with their grants (as :func:`accounts.list_users`)."""
    grants: dict[int, list[str]] = {}
    for row in reader.rows("SELECT user_id, deployment FROM grants ORDER BY deployment"):
        grants.setdefault(row["user_id"], []).append(row["deployment"])
    return [
        UserPublic(
            row["username"],
            Role[row["role"]],  # the ORM stores an enum by its name
            bool(row["active"]),
            tuple(grants.get(row["id"], ())),
            utc_or_none(row["locked_until"]),
        )
        for row in reader.rows(
            "SELECT id, username, role, active, locked_until FROM users ORDER BY username"
        )
    ]


def read_keys(reader: LedgerReader, deployment: str | None = None) -> list[KeyPublic]:
    """The keys, oldest first, of one deployment or all (as :func:`keys.list_keys`)."""
    rows = [
        row
        for row in reader.rows(
            "SELECT prefix, name, scope, deployment, created_by, created_at, expires_at, "
            "revoked_at, last_used_at FROM api_keys ORDER BY created_at, id"
        )
        if not deployment or row["deployment"] == deployment
    ]
    return [
        KeyPublic(
            row["prefix"],
            row["name"],
            KeyScope[row["scope"]],
            row["deployment"],
            row["created_by"],
            utc(row["created_at"]),
            utc_or_none(row["expires_at"]),
            utc_or_none(row["revoked_at"]),
            utc_or_none(row["last_used_at"]),
        )
        for row in rows
    ]
