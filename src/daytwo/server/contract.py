"""The API keeps its own contract: what the OpenAPI document says is what the routes do.

- **Every status a route can answer is documented**, with the one error shape
  (:class:`ErrorResponse`): any API route can refuse a request (400, 422), its caller (401,
  403, 429), a name or id (404), or be unable to reach a store (503); a route that writes can
  also meet a conflict (409) or a full disk (507).
- **A wrong method is 405 with the full ``Allow``**: Starlette names only the first route of a
  path that matched, so ``OPTIONS /api/v1/owners`` said ``Allow: GET`` although the path takes
  POST too.
- **NaN and infinities are refused on input**: Python's JSON reader takes ``NaN`` and
  ``Infinity``, which no JSON standard allows, and reads ``1e400`` as infinity; a body
  carrying any of them is a 422 saying which.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daytwo.interactions.wire import InteractionIn
from daytwo.server.security import send_error


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable: `not_found`, `invalid_records`, ...")
    message: str = Field(description="What went wrong and what to do, for a person.")
    details: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Per record or per field problems, where there are several."
    )
    received: int | None = None


class ErrorResponse(BaseModel):
    """The one shape of every error answer."""

    error: ErrorDetail


_ANY_ROUTE = {
    400: "The request cannot be used (a parameter or body is wrong); `message` says why.",
    401: "No valid credentials: send an API key (`Authorization: Bearer ...`) or sign in.",
    403: "The credentials lack the scope, role or deployment grant this needs.",
    404: "A named deployment, record or id does not exist (or is not visible to you).",
    422: "A parameter or the body does not match this document; `errors` lists each.",
    429: "Too many requests for this key: retry after `Retry-After` seconds.",
    503: "A store is unavailable (held by another process, unreachable): retry later.",
}
_WRITES = {
    409: "The request contradicts the stored state (it exists already, a move not allowed).",
    507: "The disk under a store is full: nothing was written; retry after `Retry-After`.",
}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _document_errors(schema: dict[str, Any]) -> None:
    """Declare on every API operation the error statuses it can answer, with their shape."""
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            statuses = dict(_ANY_ROUTE)
            if method.upper() in WRITE_METHODS:
                statuses.update(_WRITES)
            responses = operation.setdefault("responses", {})
            for status, description in statuses.items():
                declared = responses.setdefault(str(status), {"description": description})
                declared.setdefault("content", {"application/json": {"schema": ref}})


class IngestEnvelope(BaseModel):
    """`POST /api/v1/ingest` as JSON: a list of interactions in the wire format."""

    interactions: list[InteractionIn] = Field(
        description="Interactions (conversations) to store; unknown keys of each are kept."
    )


_NDJSON_TYPES = ("application/x-ndjson", "application/jsonl")


def install_contract(app: FastAPI, ingest_path: str = "/api/v1/ingest") -> None:
    """Complete the OpenAPI document: every error status each operation can answer, and the
    ingest body, which its route reads itself (the JSON envelope, a bare list or one object;
    NDJSON, one interaction per line)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        ref = "#/components/schemas/{model}"
        envelope = IngestEnvelope.model_json_schema(ref_template=ref)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(envelope.pop("$defs", {}))
        components["IngestEnvelope"] = envelope
        errors = ErrorResponse.model_json_schema(ref_template=ref)
        components.update(errors.pop("$defs", {}))
        components["ErrorResponse"] = errors
        _document_errors(schema)
        one = {"$ref": ref.format(model="InteractionIn")}
        operation = schema["paths"][ingest_path]["post"]
        operation["requestBody"] = {
            "required": True,
            "description": "Interactions in the wire format (docs/ingest.md): as JSON, "
            '`{"interactions": [...]}`, a bare list or one object; or as NDJSON, one '
            "interaction per line. Limits per interaction: docs/ingest.md.",
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            {"$ref": ref.format(model="IngestEnvelope")},
                            {"type": "array", "items": one},
                            one,
                        ]
                    }
                },
                **{
                    kind: {
                        "schema": {
                            "type": "string",
                            "description": "One InteractionIn object as JSON per line.",
                        }
                    }
                    for kind in _NDJSON_TYPES
                },
            },
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PARAM = re.compile(r"\{[^}]+\}")


def _documented_methods(app: FastAPI, path: str) -> list[str] | None:
    """The methods the OpenAPI document gives the most specific template matching ``path``
    (``/gaps/runs`` before ``/gaps/{gap_id}``); None when no documented path matches."""
    best: tuple[int, list[str]] | None = None
    for template, operations in app.openapi().get("paths", {}).items():
        pattern = (
            "^"
            + _PARAM.sub("[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
            + "$"
        )
        if not re.match(pattern, path):
            continue
        params = len(_PARAM.findall(template))
        methods = [m.upper() for m in operations if m.upper() in _METHODS]
        if best is None or params < best[0]:
            best = (params, methods)
        elif params == best[0]:
            best[1].extend(m for m in methods if m not in best[1])
    return best[1] if best else None


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods ``Allow`` lists for the request's path (HEAD with GET; OPTIONS is not
    served): for the API those of its documented template, for pages every route's."""
    path = scope.get("path", "")
    documented = _documented_methods(app, path) if path.startswith("/api/") else None
    if documented is not None:
        methods = [m for m in _METHODS if m in documented]
    else:
        methods = [
            method
            for method in _METHODS
            if any(
                route.matches({**scope, "method": method})[0] == Match.FULL
                for route in app.router.routes
            )
        ]
    if "GET" in methods:
        methods.append("HEAD")
    return methods


class _NotFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotFinite(f"{name} is not a number JSON allows: send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"{text} is too large for a number (it overflows to infinity)")
    return value


# Bodies up to this size are checked; the API's write routes take small bodies (ingest, which
# takes large ones, checks its own).
_CHECKED_BYTES = 1024 * 1024


class StrictJSON:
    """Refuse JSON request bodies that carry ``NaN``, ``Infinity`` or ``-Infinity``.

    Only JSON bodies of the API's small write routes are read twice here; the ingest route
    parses its own (large) body with a reader that already refuses them.
    """

    def __init__(self, app: ASGIApp, *, skip: tuple[str, ...] = ()) -> None:
        self.app = app
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in WRITE_METHODS
            or not scope.get("path", "").startswith("/api/")
            or scope.get("path", "").startswith(self.skip)
            or b"json" not in dict(scope.get("headers") or []).get(b"content-type", b"")
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = None
        if len(body) <= _CHECKED_BYTES:
            try:
                json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
            except _NotFinite as exc:
                problem = str(exc)
            except (ValueError, RecursionError):
                pass  # not JSON at all: the route's own parsing answers that
        if problem is not None:
            await _answer_422(send, problem)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _answer_422(send: Send, problem: str) -> None:
    error = {
        "code": "invalid_request",
        "message": "The request is invalid.",
        "errors": [{"field": "body", "message": problem}],
    }
    await send_error(send, 422, error, [])
