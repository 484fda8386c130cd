"""`GET /metrics` (Prometheus text format) and the middleware that times every request."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import Metric
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daytwo.http.access import Scope as AccessScope
from daytwo.http.access import requires
from daytwo.store.events.base import TABLES
from daytwo.store.faults import free_space_problem
from daytwo.telemetry import TELEMETRY, add_state_reader, gauge

router = APIRouter(tags=["service"])

# `/metrics` is also the metric catalog page: a browser (asking for HTML) gets the page, any
# other client (Prometheus, curl) the metrics, which live at this path.
PROMETHEUS_PATH = "/metrics/prometheus"


def _wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers") or []:
        if name == b"accept":
            return b"text/html" in value
    return False


class RequestMetrics:
    """Counts and times every HTTP request by route template (``/api/v1/items/{item_id}``,
    never the raw path, so the number of series stays bounded)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (
            scope.get("path") == "/metrics"
            and scope.get("method") in ("GET", "HEAD")
            and not _wants_html(scope)
        ):
            scope = {**scope, "path": PROMETHEUS_PATH, "raw_path": PROMETHEUS_PATH.encode()}
        started = time.perf_counter()
        status = {"code": 500}

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            TELEMETRY.http_requests.labels(route, method, str(status["code"])).inc()
            TELEMETRY.http_latency.labels(route, method).observe(time.perf_counter() - started)


@router.get(
    PROMETHEUS_PATH,
    summary="Prometheus metrics of daytwo itself (also at /metrics for non-browser clients)",
    dependencies=[requires(AccessScope.metrics)],
    response_class=Response,
)
async def metrics(request: Request) -> Response:
    """Requests and latency by route, ingest by door, OTLP spans, analysis durations, store
    sizes: see `docs/operations.md`. Needs a `metrics` key (or an admin)."""

    def render() -> bytes:
        state = request.app.state
        return generate_latest(TELEMETRY.registry) + generate_latest(
            TELEMETRY.state_registry(state)
        )

    return Response(await run_in_threadpool(render), media_type=CONTENT_TYPE_LATEST)


@add_state_reader
def store_sizes(state: Any) -> Iterable[Metric]:
    """Rows of each events table, conversations per deployment, and the stores' files."""
    rows = gauge("daytwo_events_rows", "Rows in each table of the events store.", ["table"])
    for table in TABLES:
        rows.add_metric([table], state.events.count(table))
    yield rows
    volumes = gauge(
        "daytwo_events_interactions",
        "Conversations stored per deployment.",
        ["deployment"],
    )
    for v in state.events.volumes():
        volumes.add_metric([v.deployment], v.interactions)
    yield volumes
    sizes = gauge(
        "daytwo_store_size_bytes",
        "Size on disk of each embedded store file (events: DuckDB, ledger: SQLite).",
        ["store"],
    )
    settings = state.settings
    for name, url in (
        ("events", settings.resolved_events_url),
        ("ledger", settings.resolved_ledger_url),
    ):
        path = _file_of(url)
        if path is not None and path.exists():
            sizes.add_metric([name], path.stat().st_size)
    yield sizes


def _file_of(url: str) -> Path | None:
    for prefix in ("duckdb:///", "sqlite:///"):
        if url.startswith(prefix) and ":memory:" not in url:
            return Path(url.removeprefix(prefix))
    return None


@add_state_reader
def write_health(state: Any) -> Iterable[Metric]:
    """What `/healthz` says, for alerting rules: whether writes work, the storage faults met in
    the last minute, and the free space under the data dir."""
    faults = state.faults.recent()
    data_dir: Path = state.settings.data_dir
    low = free_space_problem(data_dir) if data_dir.exists() else None
    healthy = gauge(
        "daytwo_healthy",
        "1 while /healthz answers ok; 0 while it is degraded (a full or nearly full disk, a "
        "store that failed to write in the last minute).",
    )
    healthy.add_metric([], 0 if faults or low else 1)
    yield healthy
    recent = gauge(
        "daytwo_store_faults",
        "Distinct storage faults (a full disk, a read-only store...) met by requests in the "
        "last minute; each is logged once and listed by /healthz.",
    )
    recent.add_metric([], len(faults))
    yield recent
    if data_dir.exists():
        free = gauge("daytwo_data_dir_free_bytes", "Free space on the disk under the data dir.")
        free.add_metric([], shutil.disk_usage(data_dir).free)
        yield free
