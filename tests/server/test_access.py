"""Access control over every route of the app: each declares a scope, and a role x route
matrix generated from the app's own routes checks 401 without credentials, 403 without the
scope or the deployment grant, and admission with them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from daytwo.governance.accounts import create_user, sign_in
from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope, Role
from daytwo.http.access import SESSION_COOKIE, Scope, sign
from daytwo.server import create_app
from daytwo.server.metrics import PROMETHEUS_PATH
from daytwo.settings import Settings

GRANTED = "care-bot"
OTHER = "other-bot"
PASSWORD = "correct horse battery staple"
# Routes the app serves without a declared scope: the schema document and the static files.
UNDECLARED = {"/api/openapi.json", "/static"}


def declared_scope(route: RouteContext) -> Scope | None:
    """The scope a route's dependencies declare (route or router level)."""
    scopes = [
        getattr(dep.call, "daytwo_scope", None)
        for dep in route.dependant.dependencies
        if getattr(dep.call, "daytwo_scope", None) is not None
    ]
    # With a router-level and a route-level declaration, the stronger one is what it needs.
    order = list(Scope)
    return max(scopes, key=order.index) if scopes else None


def all_routes(app: FastAPI) -> list[tuple[str, str, RouteContext]]:
    """Every API route with its effective path and dependencies (routers included)."""
    out = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
                out.append((method, str(route.path), route))
    return out


def test_every_route_declares_a_scope(settings: Settings) -> None:
    app = create_app(settings)
    missing = [f"{m} {p}" for m, p, r in all_routes(app) if declared_scope(r) is None]
    assert missing == [], f"routes without requires(...): {missing}"
    others = {
        str(r.path)
        for r in iter_route_contexts(app.routes)
        if not isinstance(r.original_route, APIRoute)
    }
    assert all(
        isinstance(r.original_route, (APIRoute, Route, Mount))
        for r in iter_route_contexts(app.routes)
    )
    assert others <= UNDECLARED, f"routes outside the access check: {others - UNDECLARED}"


@dataclass(frozen=True)
class Caller:
    label: str
    headers: dict[str, str]


@dataclass(frozen=True)
class World:
    client: TestClient
    by_scope: dict[Scope, Caller]  # the weakest caller that holds each scope, on GRANTED
    without: dict[Scope, Caller]  # a caller that lacks each scope
    admin: Caller


def _session(client: TestClient, username: str, role: Role) -> Caller:
    app = client.app
    create_user(app.state.ledger, username, PASSWORD, role, grants=(GRANTED,))  # type: ignore[attr-defined]
    signed = sign_in(app.state.ledger, username, PASSWORD)  # type: ignore[attr-defined]
    cookie = sign(signed.token, app.state.session_key)  # type: ignore[attr-defined]
    return Caller(
        f"{role.value} session",
        {"cookie": f"{SESSION_COOKIE}={cookie}", "x-csrf-token": signed.csrf_token},
    )


def _key(client: TestClient, scope: KeyScope, deployment: str | None) -> Caller:
    key, _ = create_key(client.app.state.ledger, scope=scope, deployment=deployment)  # type: ignore[attr-defined]
    return Caller(f"{scope.value} key", {"authorization": f"Bearer {key}"})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("access") / "data")
    with TestClient(create_app(settings)) as client:
        viewer = _session(client, "vera", Role.viewer)
        analyst = _session(client, "anna", Role.analyst)
        owner = _session(client, "otto", Role.owner)
        admin = _key(client, KeyScope.admin, None)
        ingest = _key(client, KeyScope.ingest, GRANTED)
        read = _key(client, KeyScope.read, GRANTED)
        scraper = _key(client, KeyScope.metrics, None)
        yield World(
            client,
            by_scope={
                Scope.read: read,
                Scope.ingest: ingest,
                Scope.feedback: analyst,
                Scope.agents: analyst,
                Scope.manage: owner,
                Scope.admin: admin,
                Scope.metrics: scraper,
            },
            without={
                Scope.read: ingest,
                Scope.ingest: viewer,
                Scope.feedback: viewer,
                Scope.agents: read,
                Scope.manage: analyst,
                Scope.admin: owner,
                Scope.metrics: read,
            },
            admin=admin,
        )


def _url(path: str, deployment: str) -> str:
    def fill(m: re.Match[str]) -> str:
        if m.group(1) in ("deployment", "name"):
            return deployment
        return "1" if m.group(2) == ":int" else "x1"  # a row id must look like one

    filled = re.sub(r"\{(\w+)(:\w+)?\}", fill, path)
    return f"{filled}?deployment={deployment}"


def _matrix(settings: Settings) -> list[tuple[str, str, Scope]]:
    app = create_app(settings)
    rows = []
    for method, path, route in all_routes(app):
        scope = declared_scope(route)
        if scope is not None and scope is not Scope.public:
            rows.append((method, path, scope))
    return rows


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "route" in metafunc.fixturenames:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            rows = _matrix(Settings(data_dir=Path(tmp) / "data"))
        metafunc.parametrize("route", rows, ids=[f"{m} {p}" for m, p, _ in rows])


def test_role_route_matrix(world: World, route: tuple[str, str, Scope]) -> None:
    method, path, scope = route
    client = world.client
    url = _url(path, GRANTED)
    otlp = path.startswith("/v1/")  # answers as OTLP prescribes: a google.rpc.Status
    api = path.startswith(("/api/", PROMETHEUS_PATH)) or otlp
    # What a browser asks pages for; OTLP/JSON for the trace door.
    sent = {"accept": "text/html"} if not api else {}
    if otlp:
        sent = {"content-type": "application/json"}
    anonymous = client.request(method, url, headers=sent, follow_redirects=False)
    if method == "GET" and not api:
        assert anonymous.status_code == 303, anonymous.text
        assert anonymous.headers["location"].startswith("/login?next=")
    elif otlp:
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.json()["code"] == 16  # UNAUTHENTICATED
    else:
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.json()["error"]["code"] == "unauthenticated"
    lacking = world.without[scope]
    denied = client.request(
        method, url, headers={**lacking.headers, **sent}, follow_redirects=False
    )
    assert denied.status_code == 403, f"{lacking.label}: {denied.status_code} {denied.text[:300]}"
    holder = world.by_scope[scope]
    admitted = client.request(
        method, url, headers={**holder.headers, **sent}, follow_redirects=False
    )
    assert admitted.status_code not in (401, 403), (
        f"{holder.label}: {admitted.status_code} {admitted.text[:300]}"
    )
    if scope not in (Scope.admin, Scope.metrics):  # both serve the whole server
        # The same caller on a deployment it is not granted.
        elsewhere = client.request(
            method,
            _url(path, OTHER),
            headers={**holder.headers, **sent},
            follow_redirects=False,
        )
        assert elsewhere.status_code == 403, f"{holder.label} on {OTHER}: {elsewhere.text[:300]}"
