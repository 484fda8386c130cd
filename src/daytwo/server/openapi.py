"""The OpenAPI document: how to authenticate, said where a client (and the API docs' Authorize
button) can read it.

Two schemes, as :mod:`daytwo.http.access` accepts them:

- ``bearerKey``: an API key, ``Authorization: Bearer dt_...`` (``daytwo keys create``);
- ``session``: the ``daytwo_session`` cookie of a signed-in user (the web UI; writes also need
  the session's CSRF token in ``X-CSRF-Token``).

Every operation that is not public lists both, with the permission it needs in its
description, so a generated client knows which key to send. The document is built once, when
the app starts, so the API docs never wait for it (and once per process for apps of the same
shape).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from daytwo.http.access import SESSION_COOKIE, Scope

SCHEMES: dict[str, dict[str, Any]] = {
    "bearerKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "dt_<id>_<secret>",
        "description": "An API key: `daytwo keys create --scope read|ingest|admin`, or the "
        "keys page of an admin. Ingest keys write interactions of one deployment; read keys "
        "read one deployment; admin keys do everything.",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The session of a user signed in to the web UI (POST /login). Writes "
        "with a session also need its CSRF token in the `X-CSRF-Token` header.",
    },
}
SECURITY: list[dict[str, list[str]]] = [{"bearerKey": []}, {"session": []}]
NEEDS = {
    Scope.read: "a read key or any signed-in user",
    Scope.ingest: "an ingest key of the deployment",
    Scope.feedback: "an analyst, owner or admin",
    Scope.agents: "an analyst, owner or admin (individual agents; viewers see groups)",
    Scope.manage: "an owner or admin (or an admin key)",
    Scope.admin: "an admin or an admin key",
    Scope.metrics: "a metrics key or an admin",
}


def route_scopes(route: RouteContext) -> list[Scope]:
    """The scopes a route's ``requires`` dependencies declare (see ``access.requires``)."""
    found: list[Scope] = []
    for dep in route.dependant.dependencies:
        scope = getattr(dep.call, "daytwo_scope", None)
        if isinstance(scope, Scope):
            found.append(scope)
    return found


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document with its security schemes, cached on the app (FastAPI's convention)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    schema.setdefault("components", {})["securitySchemes"] = SCHEMES
    paths: dict[str, dict[str, Any]] = schema.get("paths", {})
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not isinstance(original, APIRoute) or not original.include_in_schema:
            continue
        scopes = [s for s in route_scopes(route) if s is not Scope.public]
        # The document names a path without its converters ({id:int} is {id} there).
        operations = paths.get(re.sub(r":\w+}", "}", str(route.path)), {})
        for method in route.methods or ():
            op = operations.get(method.lower())
            if op is None:
                continue
            if not scopes:
                op["security"] = []  # public: no credentials
                continue
            op["security"] = SECURITY
            need = max(scopes, key=list(Scope).index)
            note = f"Needs {NEEDS[need]} (permission `{need.value}`)."
            op["description"] = f"{op.get('description', '').rstrip()}\n\n{note}".strip()
            op.setdefault("responses", {}).setdefault(
                "401", {"description": "No valid API key or session."}
            )
            op["responses"].setdefault(
                "403", {"description": "The credentials lack the permission or deployment."}
            )
    app.openapi_schema = schema
    return schema


_BUILT: dict[tuple[object, ...], dict[str, Any]] = {}
_BUILT_LOCK = threading.Lock()


def _shape(app: FastAPI) -> tuple[object, ...]:
    """What the document is made of: the app's title and version and, for every route, its
    path, methods and endpoint (by name: each app built by :func:`create_app` has its own
    closures, but the same ones). Two apps of the same shape have the same document."""
    routes: list[object] = []
    for route in app.routes:
        endpoint = getattr(route, "endpoint", None)
        routes.append(
            (
                type(route).__name__,
                getattr(route, "path", ""),
                tuple(sorted(getattr(route, "methods", None) or ())),
                getattr(endpoint, "__module__", ""),
                getattr(endpoint, "__qualname__", ""),
                getattr(route, "include_in_schema", False),
            )
        )
    return (app.title, app.version, app.summary, app.description, tuple(routes))


def prepare_openapi(app: FastAPI) -> None:
    """Build ``app``'s document before its first request, or take the one already built in
    this process for an app of the same shape (building one takes most of a second; a
    process that builds many apps, as the test suite does, builds it once). The document is
    never changed once built, so apps may share it."""
    key = _shape(app)
    with _BUILT_LOCK:
        built = _BUILT.get(key)
    if built is not None:
        app.openapi_schema = built
        return
    schema = app.openapi()
    with _BUILT_LOCK:
        _BUILT.setdefault(key, schema)
