"""Sign-in and sign-out pages, and the audit log page (admins only)."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from daytwo.clock import aware_from_iso
from daytwo.errors import AuthenticationRequired, InputError, PermissionDenied
from daytwo.governance import accounts, audit
from daytwo.http.access import SESSION_COOKIE, Scope, client_ip, requires, sign
from daytwo.http.deps import LedgerDep, SettingsDep
from daytwo.http.templating import templates

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "daytwo_login_csrf"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login_page(
    request: Request, *, next_url: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"next": next_url, "error": error, "csrf_token": token},
        status_code=status,
    )
    settings = request.app.state.settings
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse, dependencies=[requires(Scope.public)])
def login_page(
    request: Request, next_url: Annotated[str | None, Query(alias="next")] = None
) -> HTMLResponse:
    return _login_page(request, next_url=_safe_next(next_url))


@router.post("/login", dependencies=[requires(Scope.public)])
async def login(
    request: Request,
    ledger: LedgerDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form()] = "",
    next_url: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        raise PermissionDenied("The sign-in form is stale or forged; reload it and try again.")
    lockout = accounts.Lockout(
        free_failures=settings.login_free_failures, base_seconds=settings.login_lockout_seconds
    )
    try:
        signed = await run_in_threadpool(
            accounts.sign_in,
            ledger,
            username,
            password,
            ip=client_ip(request),
            lockout=lockout,
        )
    except AuthenticationRequired as exc:
        return _login_page(request, next_url=_safe_next(next_url), error=exc.message, status=401)
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sign(signed.token, request.app.state.session_key),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_idle_minutes * 60 * 48,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[requires(Scope.read)])
async def logout(request: Request, ledger: LedgerDep) -> Response:
    from daytwo.http.access import unsign

    token = unsign(request.cookies.get(SESSION_COOKIE, ""), request.app.state.session_key)
    if token:
        await run_in_threadpool(accounts.sign_out, ledger, token, ip=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/audit", response_class=HTMLResponse, dependencies=[requires(Scope.admin)])
def audit_page(
    request: Request,
    ledger: LedgerDep,
    actor: str | None = None,
    action: str | None = None,
    deployment: str | None = None,
    since: str | None = None,
    verify: bool = False,
) -> HTMLResponse:
    since_at = None
    if since:
        try:
            since_at = aware_from_iso(since)
        except ValueError:
            raise InputError("since is a date, like 2026-03-02.") from None
    rows = audit.entries(
        ledger,
        actor=actor or None,
        action=action or None,
        deployment=deployment or None,
        since=since_at,
    )
    # Verifying reads and hashes the whole log: on request, not on every visit.
    check = audit.verify(ledger) if verify else None
    return templates.TemplateResponse(
        request,
        "audit.html",
        {
            "rows": rows,
            "check": check,
            "filters": {
                "actor": actor or "",
                "action": action or "",
                "deployment": deployment or "",
                "since": since or "",
            },
        },
    )
