"""`/api/v1/users`, `/api/v1/keys`, `/api/v1/audit`: administration over HTTP (admins only).

Everything the ``daytwo users``, ``keys``, ``audit`` and ``retention`` commands do: create a
user (their password is answered once), change a role, disable, reset a password (which signs
them out everywhere), set grants; create a key (its secret is answered once), revoke it, or
move its expiry (now expires it at once); read and verify the audit log; apply retention.
Every change is written to the audit log by the service that makes it, with who, where and
before → after.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select

from daytwo.clock import aware
from daytwo.errors import InputError
from daytwo.governance import accounts, audit, keys, policies
from daytwo.governance.schemas import (
    AuditEntryOut,
    GrantsIn,
    KeyCreate,
    KeyOut,
    KeyUpdate,
    KeyWithSecret,
    RetentionRunOut,
    UserCreate,
    UserOut,
    UserUpdate,
    UserWithPassword,
)
from daytwo.http.access import Scope, client_ip, current_principal, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.isotext import IsoTime
from daytwo.store.events import EventStore
from daytwo.store.ledger import Deployment, Ledger

ADMIN = [requires(Scope.admin)]
users_router = APIRouter(prefix="/api/v1/users", tags=["administration"], dependencies=ADMIN)
keys_router = APIRouter(prefix="/api/v1/keys", tags=["administration"], dependencies=ADMIN)
audit_router = APIRouter(prefix="/api/v1/audit", tags=["administration"], dependencies=ADMIN)
retention_router = APIRouter(
    prefix="/api/v1/admin/retention", tags=["administration"], dependencies=ADMIN
)


def _who(request: Request) -> tuple[str, str | None]:
    principal = current_principal(request)
    return (principal.name if principal else "anonymous"), client_ip(request)


def user_out(u: accounts.UserPublic) -> UserOut:
    return UserOut(
        username=u.username,
        role=u.role,
        active=u.active,
        grants=list(u.grants),
        locked_until=u.locked_until,
    )


def key_out(k: keys.KeyPublic) -> KeyOut:
    return KeyOut(
        prefix=k.prefix,
        name=k.name,
        scope=k.scope,
        deployment=k.deployment,
        status=k.status(),
        created_by=k.created_by,
        created_at=k.created_at,
        expires_at=k.expires_at,
        revoked_at=k.revoked_at,
        last_used_at=k.last_used_at,
    )


def known_deployments(ledger: Ledger, events: EventStore) -> set[str]:
    """Registered deployments and those only seen in the data."""
    with ledger.session() as session:
        registered = set(session.scalars(select(Deployment.name)))
    return registered | {v.deployment for v in events.volumes()}


def check_known(ledger: Ledger, events: EventStore, names: list[str]) -> None:
    """Grants and keys name deployments that exist (registered, or seen in the data)."""
    unknown = sorted(set(names) - known_deployments(ledger, events))
    if unknown:
        raise InputError(f"No deployment named {', '.join(map(repr, unknown))}.")


# -- users ----------------------------------------------------------------------------------


@users_router.get("", response_model=list[UserOut], summary="Users, roles and grants")
def list_users(ledger: LedgerDep) -> list[UserOut]:
    return [user_out(u) for u in accounts.list_users(ledger)]


@users_router.post(
    "",
    response_model=UserWithPassword,
    status_code=status.HTTP_201_CREATED,
    summary="Create a user (the password is answered once)",
)
def create_user(
    request: Request, spec: UserCreate, ledger: LedgerDep, events: EventsDep
) -> UserWithPassword:
    check_known(ledger, events, spec.grants)
    actor, ip = _who(request)
    password = accounts.new_password()
    user = accounts.create_user(
        ledger, spec.username, password, spec.role, grants=tuple(spec.grants), actor=actor, ip=ip
    )
    return UserWithPassword(user=user_out(user), password=password)


@users_router.get("/{username}", response_model=UserOut, summary="One user")
def get_user(username: str, ledger: LedgerDep) -> UserOut:
    return user_out(accounts.get_user(ledger, username))


@users_router.patch("/{username}", response_model=UserOut, summary="Change role, disable, enable")
def update_user(request: Request, username: str, spec: UserUpdate, ledger: LedgerDep) -> UserOut:
    """Disabling signs the user out everywhere; the last active admin cannot be demoted or
    disabled."""
    actor, ip = _who(request)
    return user_out(
        accounts.update_user(
            ledger, username, role=spec.role, active=spec.active, actor=actor, ip=ip
        )
    )


@users_router.post(
    "/{username}/password",
    response_model=UserWithPassword,
    summary="Reset the password (answered once; lifts a lockout, signs out everywhere)",
)
def reset_password(request: Request, username: str, ledger: LedgerDep) -> UserWithPassword:
    actor, ip = _who(request)
    password = accounts.new_password()
    user = accounts.update_user(ledger, username, password=password, actor=actor, ip=ip)
    return UserWithPassword(user=user_out(user), password=password)


@users_router.put("/{username}/grants", response_model=UserOut, summary="Set grants")
def set_grants(
    request: Request, username: str, spec: GrantsIn, ledger: LedgerDep, events: EventsDep
) -> UserOut:
    check_known(ledger, events, spec.deployments)
    actor, ip = _who(request)
    return user_out(
        accounts.replace_grants(ledger, username, tuple(spec.deployments), actor=actor, ip=ip)
    )


# -- keys -----------------------------------------------------------------------------------


@keys_router.get("", response_model=list[KeyOut], summary="API keys (never their secrets)")
def list_keys(
    ledger: LedgerDep,
    deployment: Annotated[str | None, Query(description="Only this deployment's.")] = None,
) -> list[KeyOut]:
    return [key_out(k) for k in keys.list_keys(ledger, deployment)]


@keys_router.post(
    "",
    response_model=KeyWithSecret,
    status_code=status.HTTP_201_CREATED,
    summary="Create a key (the secret is answered once)",
)
def create_key(
    request: Request, spec: KeyCreate, ledger: LedgerDep, events: EventsDep
) -> KeyWithSecret:
    if spec.deployment is not None:
        check_known(ledger, events, [spec.deployment])
    actor, ip = _who(request)
    secret, info = keys.create_key(
        ledger,
        scope=spec.scope,
        deployment=spec.deployment,
        name=spec.name,
        expires_in=timedelta(days=spec.expires_in_days) if spec.expires_in_days else None,
        actor=actor,
        ip=ip,
    )
    return KeyWithSecret(key=secret, info=key_out(info))


@keys_router.post("/{prefix}/revoke", response_model=KeyOut, summary="Revoke a key at once")
def revoke_key(request: Request, prefix: str, ledger: LedgerDep) -> KeyOut:
    actor, ip = _who(request)
    keys.revoke_key(ledger, prefix, actor=actor, ip=ip)
    return key_out(keys.get_key(ledger, prefix))


@keys_router.patch("/{prefix}", response_model=KeyOut, summary="Move a key's expiry")
def update_key(request: Request, prefix: str, spec: KeyUpdate, ledger: LedgerDep) -> KeyOut:
    actor, ip = _who(request)
    return key_out(keys.set_expiry(ledger, prefix, spec.expires_at, actor=actor, ip=ip))


# -- audit log and retention ---------------------------------------------------------------


@audit_router.get("", response_model=list[AuditEntryOut], summary="Audit entries, newest first")
def audit_entries(
    ledger: LedgerDep,
    actor: Annotated[str | None, Query(description="Only this actor (user:NAME, key:ID).")] = None,
    action: Annotated[str | None, Query(description="Actions starting with this.")] = None,
    deployment: Annotated[str | None, Query(description="Only this deployment.")] = None,
    since: Annotated[IsoTime | None, Query(description="Only entries from this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> list[AuditEntryOut]:
    if since is not None:
        since = aware(since)
    rows = audit.entries(
        ledger, actor=actor, action=action, deployment=deployment, since=since, limit=limit
    )
    return [AuditEntryOut.model_validate(r) for r in rows]


@retention_router.post(
    "/runs", response_model=list[RetentionRunOut], summary="Apply every retention policy now"
)
def apply_retention(
    request: Request, ledger: LedgerDep, events: EventsDep
) -> list[RetentionRunOut]:
    actor, _ = _who(request)
    return [
        RetentionRunOut(
            deployment=r.deployment,
            texts_cleared=r.texts_cleared,
            interactions_deleted=r.interactions_deleted,
        )
        for r in policies.apply_retention(ledger, events, actor=actor)
    ]
