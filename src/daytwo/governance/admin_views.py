"""The administration pages (admins only): `/admin/users` and `/admin/keys`.

The same services as the API and the command line: every change is audited with who, where
and before → after. A new password or key is shown once, on the page that made it, and never
again (it is not in any URL or log).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from daytwo.errors import DaytwoError, InputError
from daytwo.governance import accounts, keys
from daytwo.governance.admin_api import check_known, key_out, known_deployments, user_out
from daytwo.governance.roles import KeyScope, Role
from daytwo.http.access import Scope, client_ip, current_principal, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.templating import templates
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[requires(Scope.admin)])


def _who(request: Request) -> tuple[str, str | None]:
    principal = current_principal(request)
    return (principal.name if principal else "anonymous"), client_ip(request)


def _back(path: str, **params: str | None) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=303)


def _grants(text: str) -> tuple[str, ...]:
    return tuple(d.strip() for d in text.split(",") if d.strip())


def _page(
    which: str,
    request: Request,
    ledger: Ledger,
    events: EventStore,
    *,
    error: str | None = None,
    done: str | None = None,
    secret: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The users or the keys page (``which``), with a message and a secret shown once."""
    listing: dict[str, object] = (
        {
            "users": [user_out(u) for u in accounts.list_users(ledger)],
            "roles": [r.value for r in Role],
        }
        if which == "users"
        else {
            "keys": [key_out(k) for k in keys.list_keys(ledger)],
            "scopes": [s.value for s in KeyScope],
        }
    )
    return templates.TemplateResponse(
        request,
        f"admin_{which}.html",
        {
            "scope": None,
            **listing,
            "deployments": sorted(known_deployments(ledger, events)),
            "error": error,
            "done": done,
            "secret": secret,
        },
        status_code=status,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    error: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    """Users, roles, grants and lockouts, with the forms that change them."""
    return _page("users", request, ledger, events, error=error, done=done)


@router.post("/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    username: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form()] = "viewer",
    grants: Annotated[str, Form()] = "",
) -> Response:
    actor, ip = _who(request)
    password = accounts.new_password()
    try:
        from daytwo.governance.schemas import UserCreate

        spec = UserCreate.model_validate(
            {"username": username.strip(), "role": role, "grants": list(_grants(grants))}
        )
        check_known(ledger, events, spec.grants)
        accounts.create_user(
            ledger, spec.username, password, spec.role, grants=tuple(spec.grants),
            actor=actor, ip=ip,
        )  # fmt: skip
    except DaytwoError as exc:
        return _back("/admin/users", error=exc.message)
    except ValueError as exc:  # pydantic: a bad name or role
        return _back("/admin/users", error=_first_line(exc))
    return _page(
        "users",
        request,
        ledger,
        events,
        done=f"Created {spec.username} ({spec.role.value}).",
        secret={"label": f"Password of {spec.username}", "value": password},
        status=201,
    )


@router.post("/users/{username}", response_class=HTMLResponse)
def change_user(
    request: Request,
    username: str,
    ledger: LedgerDep,
    events: EventsDep,
    action: Annotated[str, Form()],
    role: Annotated[str, Form()] = "",
    grants: Annotated[str, Form()] = "",
) -> Response:
    """One form per user row: ``action`` is role, disable, enable, reset or grants."""
    actor, ip = _who(request)
    try:
        if action == "role":
            accounts.update_user(ledger, username, role=Role(role), actor=actor, ip=ip)
            return _back("/admin/users", done=f"{username} is now {role}.")
        if action in ("disable", "enable"):
            accounts.update_user(ledger, username, active=action == "enable", actor=actor, ip=ip)
            return _back("/admin/users", done=f"{username} is {action}d.")
        if action == "grants":
            wanted = _grants(grants)
            check_known(ledger, events, list(wanted))
            accounts.replace_grants(ledger, username, wanted, actor=actor, ip=ip)
            return _back("/admin/users", done=f"{username} sees: {', '.join(wanted) or '-'}.")
        if action == "reset":
            password = accounts.new_password()
            accounts.update_user(ledger, username, password=password, actor=actor, ip=ip)
            return _page(
                "users",
                request,
                ledger,
                events,
                done=f"New password for {username}; they are signed out everywhere.",
                secret={"label": f"Password of {username}", "value": password},
            )
        raise InputError(f"Unknown action {action!r}.")
    except DaytwoError as exc:
        return _back("/admin/users", error=exc.message)
    except ValueError as exc:
        return _back("/admin/users", error=_first_line(exc))


@router.get("/keys", response_class=HTMLResponse)
def keys_page(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    error: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    """API keys (never their secrets) with scope, deployment, expiry and last use."""
    return _page("keys", request, ledger, events, error=error, done=done)


@router.post("/keys", response_class=HTMLResponse)
def create_key(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    scope: Annotated[str, Form()],
    deployment: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    expires_in_days: Annotated[str, Form()] = "",
) -> Response:
    actor, ip = _who(request)
    try:
        lifetime = _days(expires_in_days)
        if deployment:
            check_known(ledger, events, [deployment])
        secret, info = keys.create_key(
            ledger, scope=KeyScope(scope), deployment=deployment or None, name=name,
            expires_in=lifetime, actor=actor, ip=ip,
        )  # fmt: skip
    except DaytwoError as exc:
        return _back("/admin/keys", error=exc.message)
    except ValueError as exc:
        return _back("/admin/keys", error=_first_line(exc))
    return _page(
        "keys",
        request,
        ledger,
        events,
        done=f"Created {info.scope.value} key {info.prefix}.",
        secret={"label": f"Key {info.prefix}", "value": secret},
        status=201,
    )


@router.post("/keys/{prefix}")
def change_key(
    request: Request,
    prefix: str,
    ledger: LedgerDep,
    action: Annotated[str, Form()],
    expires_in_days: Annotated[str, Form()] = "",
) -> Response:
    """``action``: revoke, expire (now) or extend (by ``expires_in_days`` from now)."""
    actor, ip = _who(request)
    try:
        if action == "revoke":
            keys.revoke_key(ledger, prefix, actor=actor, ip=ip)
            return _back("/admin/keys", done=f"Revoked {prefix}.")
        if action == "expire":
            keys.set_expiry(ledger, prefix, datetime.now(UTC), actor=actor, ip=ip)
            return _back("/admin/keys", done=f"{prefix} has expired.")
        if action == "extend":
            lifetime = _days(expires_in_days)
            until = datetime.now(UTC) + lifetime if lifetime else None
            keys.set_expiry(ledger, prefix, until, actor=actor, ip=ip)
            return _back(
                "/admin/keys",
                done=f"{prefix} expires {until:%Y-%m-%d %H:%M} UTC."
                if until
                else f"{prefix} no longer expires.",
            )
        raise InputError(f"Unknown action {action!r}.")
    except DaytwoError as exc:
        return _back("/admin/keys", error=exc.message)


def _days(text: str) -> timedelta | None:
    if not text.strip():
        return None
    try:
        days = float(text)
    except ValueError:
        raise InputError(f"Days must be a number, not {text!r}.") from None
    if not 0 < days <= 3650:
        raise InputError("Days must be between 0 and 3650.")
    return timedelta(days=days)


def _first_line(exc: Exception) -> str:
    errors: Any = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "value"
        return f"{where}: {first.get('msg', '')}"
    return str(exc).splitlines()[0]
