"""Users (argon2id password hashes), roles, per-deployment grants, UI sessions and lockout.

Every change is written to the audit log in the same transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from daytwo.clock import aware
from daytwo.errors import AuthenticationRequired, ConflictError, InputError, NotFoundError
from daytwo.governance import audit
from daytwo.governance.listing import UserPublic as UserPublic
from daytwo.governance.models import Grant, Role, UiSession, User
from daytwo.store.ledger import Ledger

_HASHER = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile
# Spent on unknown usernames so that a login takes as long whether or not the user exists.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True, slots=True)
class Lockout:
    """After ``free_failures`` failed logins in a row, the account is locked for
    ``base_seconds * 2 ** (failures - free_failures)`` seconds, at most ``max_seconds``."""

    free_failures: int = 5
    base_seconds: int = 30
    max_seconds: int = 3600

    def seconds_for(self, failures: int) -> int:
        if failures < self.free_failures:
            return 0
        return int(min(self.max_seconds, self.base_seconds * 2 ** (failures - self.free_failures)))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return _HASHER.hash(password)


def new_password() -> str:
    return secrets.token_urlsafe(15)


def _public(session: Session, user: User) -> UserPublic:
    grants = session.scalars(
        select(Grant.deployment).where(Grant.user_id == user.id).order_by(Grant.deployment)
    )
    return UserPublic(user.username, user.role, user.active, tuple(grants), user.locked_until)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"No user named {username!r}.")
    return user


def create_user(
    ledger: Ledger,
    username: str,
    password: str,
    role: Role,
    *,
    grants: tuple[str, ...] = (),
    actor: str = "cli",
    ip: str | None = None,
) -> UserPublic:
    hashed = hash_password(password)
    with ledger.session() as session:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            raise ConflictError(f"A user named {username!r} exists already.")
        user = User(username=username, password_hash=hashed, role=role)
        session.add(user)
        session.flush()
        for deployment in sorted(set(grants)):
            session.add(Grant(user_id=user.id, deployment=deployment))
        session.flush()
        public = _public(session, user)
        audit.record(
            session,
            actor=actor,
            action="user.create",
            target=username,
            ip=ip,
            after={"role": role.value, "grants": list(public.grants)},
        )
        return public


def list_users(ledger: Ledger) -> list[UserPublic]:
    with ledger.session() as session:
        return [_public(session, u) for u in session.scalars(select(User).order_by(User.username))]


def get_user(ledger: Ledger, username: str) -> UserPublic:
    with ledger.session() as session:
        return _public(session, _user(session, username))


def set_grants(
    ledger: Ledger,
    username: str,
    *,
    add: tuple[str, ...] = (),
    remove: tuple[str, ...] = (),
    actor: str = "cli",
    ip: str | None = None,
) -> UserPublic:
    with ledger.session() as session:
        user = _user(session, username)
        before = _public(session, user).grants
        for deployment in sorted(set(add) - set(before)):
            session.add(Grant(user_id=user.id, deployment=deployment))
        if remove:
            session.execute(
                delete(Grant).where(Grant.user_id == user.id, Grant.deployment.in_(remove))
            )
        session.flush()
        public = _public(session, user)
        audit.record(
            session,
            actor=actor,
            action="user.grants",
            target=username,
            ip=ip,
            before={"grants": list(before)},
            after={"grants": list(public.grants)},
        )
        return public


def _keep_an_admin(session: Session, leaving: User) -> None:
    """Refuse to demote or disable the last active admin: nobody could administer then."""
    others = session.scalar(
        select(User.id)
        .where(User.role == Role.admin, User.active.is_(True), User.id != leaving.id)
        .limit(1)
    )
    if others is None:
        raise ConflictError(
            f"{leaving.username!r} is the last active admin; make another admin first."
        )


def replace_grants(
    ledger: Ledger,
    username: str,
    deployments: tuple[str, ...],
    *,
    actor: str = "cli",
    ip: str | None = None,
) -> UserPublic:
    """Set exactly which deployments a user sees."""
    current = set(get_user(ledger, username).grants)
    wanted = set(deployments)
    return set_grants(
        ledger,
        username,
        add=tuple(sorted(wanted - current)),
        remove=tuple(sorted(current - wanted)),
        actor=actor,
        ip=ip,
    )


def update_user(
    ledger: Ledger,
    username: str,
    *,
    role: Role | None = None,
    active: bool | None = None,
    password: str | None = None,
    actor: str = "cli",
    ip: str | None = None,
) -> UserPublic:
    hashed = hash_password(password) if password is not None else None
    with ledger.session() as session:
        user = _user(session, username)
        before = {"role": user.role.value, "active": user.active}
        if role is not None:
            user.role = role
        if active is not None:
            user.active = active
        if (
            before["role"] == Role.admin.value
            and before["active"]
            and not (user.role is Role.admin and user.active)
        ):
            _keep_an_admin(session, user)
        if hashed is not None:
            user.password_hash = hashed
            user.failed_logins = 0
            user.locked_until = None
        if active is False or hashed is not None:
            session.execute(delete(UiSession).where(UiSession.user_id == user.id))
        after = {"role": user.role.value, "active": user.active}
        if hashed is not None:
            after["password_changed"] = True  # never the password or its hash
        audit.record(
            session,
            actor=actor,
            action="user.update",
            target=username,
            ip=ip,
            before=before,
            after=after,
        )
        return _public(session, user)


# --- sign-in and sessions ------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    csrf_token: str
    username: str


def sign_in(
    ledger: Ledger,
    username: str,
    password: str,
    *,
    ip: str | None = None,
    lockout: Lockout | None = None,
    now: datetime | None = None,
) -> SignedIn:
    """Check the password and open a session; count failures and lock with back-off.

    The message never says whether the username exists.
    """
    lockout = lockout or Lockout()
    now = now or datetime.now(UTC)
    # Failures are committed before the error is raised: a rolled-back count locks nobody.
    refusal: AuthenticationRequired | None = None
    with ledger.session() as session:
        refusal = _check_password(session, username, password, ip=ip, lockout=lockout, now=now)
        if refusal is None:
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            user_id = session.scalar(select(User.id).where(User.username == username))
            session.add(
                UiSession(
                    token_hash=_token_hash(token),
                    csrf_token=csrf,
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    ip=ip,
                )
            )
            audit.record(session, actor=username, action="login", target=username, ip=ip)
    if refusal is not None:
        raise refusal
    return SignedIn(token, csrf, username)


def _check_password(
    session: Session,
    username: str,
    password: str,
    *,
    ip: str | None,
    lockout: Lockout,
    now: datetime,
) -> AuthenticationRequired | None:
    refused = AuthenticationRequired("Wrong username or password.")
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        with contextlib.suppress(VerificationError):
            _HASHER.verify(_DUMMY_HASH, password)
        audit.record(session, actor=username or "-", action="login.failed", target=username, ip=ip)
        return refused
    locked_until = aware(user.locked_until) if user.locked_until is not None else None
    if locked_until is not None and locked_until > now:
        wait = int((locked_until - now).total_seconds()) + 1
        audit.record(session, actor=username, action="login.locked", target=username, ip=ip)
        return AuthenticationRequired(
            f"Too many failed sign-ins; try again in {wait} seconds.",
            details={"retry_after": wait},
        )
    try:
        _HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        seconds = lockout.seconds_for(user.failed_logins)
        user.locked_until = now + timedelta(seconds=seconds) if seconds else None
        audit.record(
            session,
            actor=username,
            action="login.failed",
            target=username,
            ip=ip,
            after={"failed_logins": user.failed_logins, "locked_seconds": seconds},
        )
        return refused
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return None


@dataclass(frozen=True, slots=True)
class SessionUser:
    session_id: int
    username: str
    role: Role
    grants: frozenset[str]
    csrf_token: str


def resume(
    ledger: Ledger, token: str, *, idle: timedelta, now: datetime | None = None
) -> SessionUser | None:
    """The user of a live session (touching it), or None when unknown or idle too long."""
    now = now or datetime.now(UTC)
    with ledger.session() as session:
        row = session.scalar(select(UiSession).where(UiSession.token_hash == _token_hash(token)))
        if row is None:
            return None
        last_seen = aware(row.last_seen_at) if row.last_seen_at is not None else now
        user = session.get(User, row.user_id)
        if now - last_seen > idle or user is None or not user.active:
            session.delete(row)
            return None
        if now - last_seen > timedelta(seconds=30):  # spare the ledger a write per request
            row.last_seen_at = now
        grants = frozenset(
            session.scalars(select(Grant.deployment).where(Grant.user_id == user.id))
        )
        return SessionUser(row.id, user.username, user.role, grants, row.csrf_token)


def sign_out(ledger: Ledger, token: str, *, ip: str | None = None) -> None:
    with ledger.session() as session:
        row = session.scalar(select(UiSession).where(UiSession.token_hash == _token_hash(token)))
        if row is None:
            return
        user = session.get(User, row.user_id)
        session.delete(row)
        name = user.username if user else "-"
        audit.record(session, actor=name, action="logout", target=name, ip=ip)
