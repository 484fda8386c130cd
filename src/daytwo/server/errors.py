"""One JSON error shape for every failure: ``{"error": {"code", "message", ...}}``."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from daytwo.errors import (
    AuthenticationRequired,
    DaytwoError,
    Overloaded,
    RateLimited,
    StorageFull,
    StoreError,
)
from daytwo.http.access import principal_of
from daytwo.ingest.otlp.api import status_response
from daytwo.server.contract import allowed_methods
from daytwo.server.metrics import PROMETHEUS_PATH
from daytwo.server.security import HEADERS as SECURITY_HEADERS
from daytwo.store.faults import storage_fault

log = logging.getLogger("daytwo.server")


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


def _is_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not an HTMX fragment, not a client that
    asks for JSON): it gets pages, with the site's navigation, errors included."""
    return (
        request.method == "GET"
        and not request.url.path.startswith(("/api/", "/v1/", "/healthz", PROMETHEUS_PATH))
        and "hx-request" not in request.headers
        and "application/json" not in request.headers.get("accept", "")
    )


# The heading of an error page, by status.
TITLES = {
    400: "That request cannot be answered",
    403: "Not yours to see",
    404: "Not found",
    405: "Not allowed here",
    409: "That clashes with what is there",
    413: "Too large",
    422: "That address is not valid",
    429: "Too many requests",
    500: "Something broke on our side",
    503: "A store is unavailable",
}


def error_page(
    request: Request,
    status: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    """The error as a page with the site's navigation, for a person in a browser."""
    from daytwo.http.templating import templates

    links = []
    first = request.url.path.strip("/").split("/")[0]
    if first and first not in ("api", "static"):
        links.append((first.replace("-", " ").capitalize(), f"/{first}"))
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "title": TITLES.get(status, "That did not work"),
            "message": message,
            "links": links,
            "scope": None,
        },
        status_code=status,
        headers=headers,
    )


async def _signed_in(request: Request) -> None:
    """Who is asking, for an error page answered before any route ran (no page at that
    address): a signed-in person keeps their name, Sign out and Admin in the navigation."""
    try:
        await principal_of(request)
    except DaytwoError:  # a stale session or a bad key: the page shows the anonymous header
        request.state.principal = None


def _error_response(request: Request, exc: DaytwoError) -> Response:
    headers = None
    if isinstance(exc, RateLimited | StorageFull | Overloaded):
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, StoreError):
        # Once per cause, not a trace per request: /healthz reports it while it lasts.
        faults = getattr(request.app.state, "faults", None)
        if faults is not None:
            faults.saw(exc)
    if _is_page(request):
        return error_page(request, exc.http_status, exc.message, headers=headers)
    return JSONResponse({"error": exc.as_dict()}, status_code=exc.http_status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DaytwoError)
    async def _daytwo(request: Request, exc: DaytwoError) -> Response:
        if request.url.path.startswith("/v1/"):
            return status_response(request, exc)  # the OTLP door answers as OTLP prescribes
        if isinstance(exc, AuthenticationRequired) and _is_page(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
        return _error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        if _is_page(request):
            said = "; ".join(f"{e['field'].removeprefix('path.').removeprefix('query.')}: "
                             f"{e['message']}" for e in errors)  # fmt: skip
            return error_page(request, 422, f"This address asks for something invalid ({said}).")
        return JSONResponse(
            error_body("invalid_request", "The request is invalid.", errors=errors),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        message = str(exc.detail)
        if exc.status_code == 405:
            # Every method the path takes, not only the first matching route's.
            allowed = allowed_methods(app, request.scope)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed here; this path takes {headers['Allow']}."
        if _is_page(request) and not request.url.path.startswith("/static/"):
            if exc.status_code == 404:
                message = f"There is no page at {request.url.path}."
            await _signed_in(request)
            return error_page(request, exc.status_code, message, headers=headers or None)
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        fault = storage_fault(exc, where="the ledger")
        if fault is not None:
            # A full disk or a read-only file system: a cause to name, not a bug to hide.
            response = _error_response(request, fault)
            response.headers.update(
                {name.decode(): value.decode() for name, value in SECURITY_HEADERS}
            )
            return response
        # Log the trace for operators; never send it to clients.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        # Answered outside the middleware stack: the security headers are added here.
        headers = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}
        if _is_page(request):
            try:
                return error_page(
                    request,
                    500,
                    "The error is logged for the operator; the page may work if you try again.",
                    headers=headers,
                )
            except Exception:  # the page itself failed: the JSON answer below still works
                log.exception("could not render the error page")
        return JSONResponse(
            error_body("internal_error", "Internal server error."),
            status_code=500,
            headers=headers,
        )
