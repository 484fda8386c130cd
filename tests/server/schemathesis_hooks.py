"""Schemathesis extension for the fuzzing test: no 2xx on a route the caller may not use.

Loaded by the ``schemathesis`` command through ``SCHEMATHESIS_HOOKS``; the caller under test
is named by ``DAYTWO_FUZZ_CALLER``: ``admin`` (may do anything), ``read`` (a read key: no
write may succeed) or ``none`` (no credentials: nothing but ``/healthz`` may succeed).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC = frozenset({("GET", "/healthz"), ("HEAD", "/healthz")})


@schemathesis.check
def caller_may_use_the_route(ctx: Any, response: Any, case: Any) -> bool | None:
    caller = os.environ.get("DAYTWO_FUZZ_CALLER", "admin")
    status = response.status_code
    if not 200 <= status < 300:
        return None
    method = case.method.upper()
    path = case.path
    if caller == "read" and method in WRITES:
        raise AssertionError(f"a read key got {status} on {method} {path}: writes need more")
    if caller == "none" and (method, path) not in PUBLIC:
        raise AssertionError(f"a caller without credentials got {status} on {method} {path}")
    return None
