"""Input and output shapes of the administration API (users, grants, keys, audit log)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from daytwo.governance.roles import KeyScope, Role
from daytwo.isotext import IsoTime

Username = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_In):
    username: Username
    role: Role = Role.viewer
    grants: list[str] = Field(
        default_factory=list, description="Deployments the user sees (admins see all)."
    )


class UserUpdate(_In):
    role: Role | None = None
    active: bool | None = Field(
        default=None, strict=True, description="false disables the user at once."
    )


class GrantsIn(_In):
    deployments: list[str] = Field(description="Exactly the deployments the user may see.")


class UserOut(BaseModel):
    username: str
    role: Role
    active: bool
    grants: list[str]
    locked_until: datetime | None


class UserWithPassword(BaseModel):
    """A user and the password made for them, shown this once and never stored in clear."""

    user: UserOut
    password: str


class KeyCreate(_In):
    scope: KeyScope
    deployment: str | None = Field(
        default=None, description="The deployment the key is for; admin keys: omit for all."
    )
    name: str = Field(default="", max_length=100, description="What the key is for.")
    expires_in_days: float | None = Field(
        default=None, gt=0, le=3650, description="Lifetime in days; none: until revoked."
    )


class KeyUpdate(_In):
    expires_at: IsoTime | None = Field(
        description="New end of life (now or earlier expires the key at once); null: none."
    )


class KeyOut(BaseModel):
    prefix: str
    name: str
    scope: KeyScope
    deployment: str | None
    status: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyWithSecret(BaseModel):
    """A new key: ``key`` is the full secret, shown this once; only its hash is kept."""

    key: str
    info: KeyOut


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    deployment: str | None
    ip: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str


class RetentionRunOut(BaseModel):
    deployment: str
    texts_cleared: int
    interactions_deleted: int
