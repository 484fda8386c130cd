"""API keys: ``dt_<prefix>_<secret>``, shown once; the ledger keeps the prefix (to find the key)
and the SHA-256 of the secret (to check it). Keys are random 32-byte secrets, so a fast hash is
as strong as a slow one here and costs nothing per request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from daytwo.clock import aware
from daytwo.errors import ConflictError, InputError, NotFoundError
from daytwo.governance import audit
from daytwo.governance.listing import KeyPublic as KeyPublic
from daytwo.governance.models import ApiKey, KeyScope
from daytwo.store.ledger import Ledger

KEY_PREFIX = "dt_"


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    prefix: str
    scope: KeyScope
    deployment: str | None


def _public(key: ApiKey) -> KeyPublic:
    return KeyPublic(
        key.prefix,
        key.name,
        key.scope,
        key.deployment,
        key.created_by,
        key.created_at,
        key.expires_at,
        key.revoked_at,
        key.last_used_at,
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    ledger: Ledger,
    *,
    scope: KeyScope,
    deployment: str | None,
    name: str = "",
    expires_in: timedelta | None = None,
    actor: str = "cli",
    ip: str | None = None,
) -> tuple[str, KeyPublic]:
    """A new key: the full key (to show once) and its public description."""
    if deployment is None and scope not in (KeyScope.admin, KeyScope.metrics):
        raise InputError("An ingest or read key belongs to one deployment: give --deployment.")
    if deployment is not None and scope is KeyScope.metrics:
        raise InputError("A metrics key scrapes /metrics for the whole server: no --deployment.")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with ledger.session() as session:
        key = ApiKey(
            prefix=prefix,
            secret_hash=_hash(secret),
            name=name,
            scope=scope,
            deployment=deployment,
            created_by=actor,
            created_at=now,
            expires_at=now + expires_in if expires_in else None,
        )
        session.add(key)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="key.create",
            target=prefix,
            deployment=deployment,
            ip=ip,
            after={"scope": scope.value, "name": name, "expires_at": str(key.expires_at)},
        )
        return f"{KEY_PREFIX}{prefix}_{secret}", _public(key)


def list_keys(ledger: Ledger, deployment: str | None = None) -> list[KeyPublic]:
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if deployment:
        query = query.where(ApiKey.deployment == deployment)
    with ledger.session() as session:
        return [_public(k) for k in session.scalars(query)]


def revoke_key(ledger: Ledger, prefix: str, *, actor: str = "cli", ip: str | None = None) -> None:
    with ledger.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if key is None:
            raise NotFoundError(f"No API key {prefix!r}.")
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            audit.record(
                session,
                actor=actor,
                action="key.revoke",
                target=prefix,
                deployment=key.deployment,
                ip=ip,
                before={"status": "active"},
                after={"status": "revoked"},
            )


def set_expiry(
    ledger: Ledger,
    prefix: str,
    expires_at: datetime | None,
    *,
    actor: str = "cli",
    ip: str | None = None,
) -> KeyPublic:
    """Give a key a new end of life: a time (now or in the past expires it at once), or None
    for no expiry. A revoked key stays revoked."""
    if expires_at is not None and expires_at.tzinfo is None:
        raise InputError("expires_at needs a time zone, e.g. 2026-03-01T00:00:00Z.")
    with ledger.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if key is None:
            raise NotFoundError(f"No API key {prefix!r}.")
        if key.revoked_at is not None:
            raise ConflictError(f"API key {prefix!r} is revoked; create a new one.")
        before = _public(key)
        key.expires_at = expires_at
        session.flush()
        after = _public(key)
        audit.record(
            session,
            actor=actor,
            action="key.expire",
            target=prefix,
            deployment=key.deployment,
            ip=ip,
            before={"expires_at": _iso(before.expires_at), "status": before.status()},
            after={"expires_at": _iso(after.expires_at), "status": after.status()},
        )
        return after


def get_key(ledger: Ledger, prefix: str) -> KeyPublic:
    with ledger.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if key is None:
            raise NotFoundError(f"No API key {prefix!r}.")
        return _public(key)


def _iso(value: datetime | None) -> str | None:
    return aware(value).isoformat() if value is not None else None


def authenticate(
    ledger: Ledger, presented: str, now: datetime | None = None
) -> KeyPrincipal | None:
    """The key behind a presented ``dt_...`` string, or None (unknown, wrong, revoked, expired)."""
    if not presented.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = presented[len(KEY_PREFIX) :].partition("_")
    if not sep or not secret:
        return None
    now = now or datetime.now(UTC)
    with ledger.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
            return None
        if key.revoked_at is not None:
            return None
        if key.expires_at is not None and aware(key.expires_at) <= now:
            return None
        last = key.last_used_at
        if last is None or now - aware(last) > timedelta(minutes=1):
            key.last_used_at = now
        return KeyPrincipal(key.prefix, key.scope, key.deployment)
