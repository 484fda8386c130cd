"""`/healthz`: is the service up, can it write, and how current are the figures pages show."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from daytwo import __version__
from daytwo.errors import StoreError
from daytwo.http.access import Scope, requires
from daytwo.store.faults import free_space_problem

log = logging.getLogger("daytwo.server")

# A storage fault answered within this many seconds keeps /healthz degraded.
FAULT_WINDOW_S = 60.0


class StoreFaults:
    """The storage faults requests met lately (a full disk...), each logged once, not a
    trace per request, and reported by ``/healthz`` while they last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}

    def saw(self, exc: StoreError) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._seen.get(exc.message)
            self._seen[exc.message] = now
        if last is None or now - last > FAULT_WINDOW_S:
            log.warning("storage fault: %s", exc.message)

    def recent(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            return [m for m, at in self._seen.items() if now - at <= FAULT_WINDOW_S]


class Health(BaseModel):
    """Whether the service is up, can write, and how current the pages' figures are."""

    status: Literal["ok", "degraded"]
    version: str
    problems: list[str] = Field(
        default_factory=list,
        description="Why the status is degraded: a full or nearly full disk, a store that "
        "failed to write in the last minute.",
    )
    figures_as_of: AwareDatetime | None = Field(
        description="The rollups and search index the pages read hold every write committed "
        "before this time (null: refreshed on each read, or not built yet)."
    )
    figures_behind: bool = Field(
        description="Writes arrived since `figures_as_of`; the next refresh takes them up."
    )


router = APIRouter(tags=["service"])


@router.get(
    "/healthz",
    summary="Liveness, store reachability and write health",
    dependencies=[requires(Scope.public)],
    response_model=Health,
    responses={
        503: {
            "model": Health,
            "description": "Degraded: the service answers but cannot (or soon cannot) write; "
            "`problems` says why. Meant for monitoring, not for restarting: a restart does "
            "not free disk space.",
        }
    },
)
def healthz(request: Request) -> JSONResponse:
    state = request.app.state
    state.events.query("SELECT 1 AS ok")
    with state.ledger.engine.connect():
        pass
    problems = list(state.faults.recent())
    data_dir: Path = state.settings.data_dir
    if data_dir.exists():
        low = free_space_problem(data_dir)
        if low:
            problems.append(low)
    fresh = state.events.freshness()
    health = Health(
        status="degraded" if problems else "ok",
        version=__version__,
        problems=problems,
        figures_as_of=fresh.as_of,
        figures_behind=fresh.behind,
    )
    return JSONResponse(
        health.model_dump(mode="json"),
        status_code=503 if problems else 200,
        headers={"Retry-After": "30"} if problems else None,
    )
