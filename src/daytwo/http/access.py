"""What a route needs before it runs: every API and page route declares one scope.

Routes declare their scope with ``dependencies=[requires(Scope.read)]`` (on the route or on
the router). The declaration is recorded on the dependency so that a test can walk every route
of the app and fail on one without a scope; the dependency itself enforces it:

1. who is asking: an API key (``Authorization: Bearer dt_...``), a UI session (the signed
   ``daytwo_session`` cookie) or the command line on this machine (the server's local
   credential, ``Bearer dtl_...``, see :mod:`daytwo.http.link`); none of them is ``401``;
2. may they: the role's (or key's) scopes hold ``scope``, else ``403``;
3. where: the deployment named by the path or query parameter (``deployment`` unless the
   route says otherwise) must be granted, else ``403``; routes that list across deployments
   filter with :func:`granted`; ingest checks the deployments in its payload with
   :func:`check_deployments`;
4. for a signed-in browser, a write must carry the session's CSRF token (``X-CSRF-Token``
   header, which every HTMX request sends, or a ``csrf_token`` form field), else ``403``.

Scopes, from least to most power:

- ``public``: no credentials (health check, login page, static assets, API docs).
- ``read``: read metrics, interactions, findings, items (role ``viewer`` and up; key ``read``).
- ``ingest``: write interactions of one deployment (key ``ingest``; never reads).
- ``feedback``: comment and give feedback (role ``analyst`` and up).
- ``agents``: see individual human agents (pseudonymous refs) in adoption's per-agent pages
  and answers (role ``analyst`` and up; viewers and read keys see groups of five or more).
- ``manage``: run the backlog, record changes, own items (role ``owner`` and up).
- ``admin``: users, keys, grants, deployments, audit log (role ``admin``; key ``admin``).
- ``metrics``: scrape daytwo's own Prometheus metrics at ``/metrics`` and nothing else (key
  ``metrics``, for the Prometheus server; admins have it too).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from daytwo.errors import AuthenticationRequired, PermissionDenied
from daytwo.governance import accounts, keys
from daytwo.governance.models import KeyScope, Role
from daytwo.http import link

SESSION_COOKIE = "daytwo_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNSET = object()


class Scope(enum.StrEnum):
    public = "public"
    read = "read"
    ingest = "ingest"
    feedback = "feedback"
    agents = "agents"
    manage = "manage"
    admin = "admin"
    metrics = "metrics"


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.viewer: frozenset({Scope.read}),
    Role.analyst: frozenset({Scope.read, Scope.feedback, Scope.agents}),
    Role.owner: frozenset({Scope.read, Scope.feedback, Scope.agents, Scope.manage}),
    Role.admin: frozenset(Scope),
}
KEY_SCOPES: dict[KeyScope, frozenset[Scope]] = {
    KeyScope.ingest: frozenset({Scope.ingest}),
    KeyScope.read: frozenset({Scope.read}),
    KeyScope.admin: frozenset(Scope),
    KeyScope.metrics: frozenset({Scope.metrics}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking and what they may do; ``deployments`` None means every deployment."""

    name: str  # "user:alice" or "key:3f2a9c01b7de"
    scopes: frozenset[Scope]
    deployments: frozenset[str] | None
    csrf_token: str | None = None  # UI sessions only
    local: bool = False  # the command line of the server's machine (its local credential)

    @property
    def is_browser(self) -> bool:
        return self.csrf_token is not None

    def sees(self, deployment: str) -> bool:
        return self.deployments is None or deployment in self.deployments

    def can(self, scope: Scope, deployment: str | None = None) -> bool:
        return scope in self.scopes and (deployment is None or self.sees(deployment))


def sign(token: str, key: bytes) -> str:
    """``token.signature``: the cookie value."""
    mac = hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
    return f"{token}.{mac}"


def unsign(value: str, key: bytes) -> str | None:
    token, sep, mac = value.rpartition(".")
    if not sep or not token:
        return None
    good = hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
    return token if hmac.compare_digest(good, mac) else None


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _authenticate(request: Request) -> Principal | None:
    ledger = request.app.state.ledger
    header = request.headers.get("authorization", "")
    if header:
        kind, _, presented = header.partition(" ")
        if kind.lower() != "bearer" or not presented.strip():
            raise AuthenticationRequired("Send the API key as `Authorization: Bearer dt_...`.")
        presented = presented.strip()
        if presented.startswith(link.TOKEN_PREFIX):
            return _local(request, presented)
        key = keys.authenticate(ledger, presented)
        if key is None:
            raise AuthenticationRequired("The API key is unknown, revoked or expired.")
        return Principal(
            f"key:{key.prefix}",
            KEY_SCOPES[key.scope],
            None if key.deployment is None else frozenset({key.deployment}),
        )
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    settings = request.app.state.settings
    token = unsign(cookie, request.app.state.session_key)
    if token is None:
        return None
    user = accounts.resume(ledger, token, idle=timedelta(minutes=settings.session_idle_minutes))
    if user is None:
        return None
    return Principal(
        f"user:{user.username}",
        ROLE_SCOPES[user.role],
        None if user.role is Role.admin else user.grants,
        csrf_token=user.csrf_token,
    )


def _local(request: Request, presented: str) -> Principal:
    """The command line on this machine, with the credential only the data dir's owner can
    read (see :mod:`daytwo.http.link`): every permission, acting as the person it names."""
    if not link.token_matches(presented, getattr(request.app.state, "local_token_hash", None)):
        raise AuthenticationRequired(
            "The local credential is not this server's (it restarted?): run the command again."
        )
    actor = request.headers.get(link.ACTOR_HEADER, "").strip()[:100] or "cli"
    return Principal(actor, frozenset(Scope), None, local=True)


async def principal_of(request: Request) -> Principal | None:
    """The request's principal (authenticated once per request), or None when anonymous."""
    if getattr(request.state, "principal", _UNSET) is _UNSET:
        request.state.principal = await run_in_threadpool(_authenticate, request)
    found: Principal | None = request.state.principal
    return found


async def _check_csrf(request: Request, principal: Principal) -> None:
    if request.method in SAFE_METHODS or not principal.is_browser:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, principal.csrf_token or ""):
        raise PermissionDenied("The form is stale or forged (CSRF token missing or wrong).")


def _check(scope: Scope, deployment_param: str) -> Any:
    async def check_access(request: Request) -> None:
        request.state.scope = scope
        if scope is Scope.public:
            return
        principal = await principal_of(request)
        if principal is None:
            raise AuthenticationRequired(
                "Sign in, or send an API key as `Authorization: Bearer dt_...`."
            )
        if scope not in principal.scopes:
            if scope is Scope.agents:
                raise PermissionDenied(
                    "Individual agents are shown to the analyst and owner roles only; viewers "
                    "see groups of at least five agents."
                )
            raise PermissionDenied(f"This needs the {scope.value!r} permission.")
        deployment = request.path_params.get(deployment_param) or request.query_params.get(
            "deployment"
        )
        if deployment and not principal.sees(str(deployment)):
            raise PermissionDenied(f"No access to deployment {deployment!r}.")
        await _check_csrf(request, principal)

    check_access.daytwo_scope = scope  # type: ignore[attr-defined]
    return check_access


def requires(scope: Scope, *, deployment_param: str = "deployment") -> Any:
    """A dependency that admits the request only with ``scope`` (see the module docstring).

    ``deployment_param`` names the path parameter that holds the deployment, where a route
    calls it something else (``/deployments/{name}``).
    """
    return Depends(_check(scope, deployment_param))


def current_principal(request: Request) -> Principal | None:
    """The principal a ``requires`` dependency admitted (None on public routes)."""
    return getattr(request.state, "principal", None)


T = TypeVar("T")


def granted(request: Request, items: Iterable[T], name: str = "name") -> list[T]:
    """Only the items (by their deployment attribute ``name``) the requester may see."""
    principal = current_principal(request)
    if principal is None:
        return []
    return [item for item in items if principal.sees(str(getattr(item, name)))]


def check_deployments(request: Request, scope: Scope, deployments: Sequence[str]) -> None:
    """Refuse the whole request when any of ``deployments`` is not granted for ``scope``."""
    principal = current_principal(request)
    refused = sorted({d for d in deployments if principal is None or not principal.can(scope, d)})
    if refused:
        raise PermissionDenied(f"No {scope.value!r} access to deployment(s): {refused}.")
