"""A trace-fed deployment measures the same as the same conversations sent as JSON.

Forty STAR dialogues become, once, GenAI spans sent by the real SDK exporter to `/v1/traces`
and, once, wire-format interactions sent to `/api/v1/ingest`; every metric of the catalog
(totals, and by day and journey) and every stored fact of every conversation must agree.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bench.star_traces import conversations, emit
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from daytwo.governance.models import KeyScope
from daytwo.interactions.facts import FACTS
from daytwo.metrics.catalog import METRICS
from daytwo.metrics.query import Slice
from daytwo.metrics.service import metric_points, totals
from tests.ingest.otlp.conftest import LiveServer

_COMPARED = (
    "interaction_id",
    "started_at",
    "ended_at",
    "journey",
    "customer_ref",
    "outcome",
    "handle_time_s",
    "n_turns",
    *FACTS.names,
)


def test_trace_fed_metrics_equal_json_fed(live: LiveServer) -> None:
    t0 = time.time_ns() - 3 * 86400 * 10**9
    convs = list(conversations(40, t0, deployment="json-bot", seed=3, spread_s=2 * 86400))
    assert len(convs) > 30
    admin = live.key(scope=KeyScope.admin, deployment=None)
    r = httpx.post(
        live.url + "/api/v1/ingest",
        json={"interactions": [c.interaction for c in convs]},
        headers={"authorization": f"Bearer {admin}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    exporter = OTLPSpanExporter(
        endpoint=f"{live.url}/v1/traces",
        headers={"Authorization": f"Bearer {live.key(deployment='trace-bot')}"},
    )
    tp = TracerProvider(resource=Resource.create({"service.name": "trace-bot"}))
    tp.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=64))
    tracer = tp.get_tracer("app")
    for c in convs:
        emit(tracer, c.spans)
    tp.shutdown()
    assert live.end_conversations() == len(convs)

    columns = ", ".join(_COMPARED)
    rows = {
        dep: live.query(
            f"SELECT {columns} FROM interactions WHERE deployment = ? ORDER BY interaction_id",
            [dep],
        )
        for dep in ("json-bot", "trace-bot")
    }
    assert rows["trace-bot"] == rows["json-bot"]

    events = live.events
    start = datetime.fromtimestamp(t0 / 1e9, UTC) - timedelta(days=1)
    end = datetime.now(UTC) + timedelta(days=1)
    ids = [m.id for m in METRICS]
    fed = {
        dep: totals(events, ids, Slice(dep, start, end), rollups=False)
        for dep in ("json-bot", "trace-bot")
    }
    for metric in ids:
        a, b = fed["json-bot"][metric], fed["trace-bot"][metric]
        assert (a.value, a.n) == (pytest.approx(b.value, nan_ok=True), b.n), metric
    # Pages read the rollups as the server last refreshed them: compare once they hold every
    # conversation written (at once on DuckDB, a moment later on a slower engine).
    deadline = time.monotonic() + 60
    while events.freshness().behind and time.monotonic() < deadline:
        time.sleep(0.1)
    by_day = {
        dep: [
            (p.metric, p.bucket, tuple(p.group.items()), p.value, p.n)
            for p in metric_points(
                events, ids, Slice(dep, start, end, bucket="day", group_by=("journey",))
            )
        ]
        for dep in ("json-bot", "trace-bot")
    }
    assert len(by_day["json-bot"]) > len(ids)
    assert [p[:3] + p[4:] for p in by_day["trace-bot"]] == [
        p[:3] + p[4:] for p in by_day["json-bot"]
    ]
    values = [p[3] for p in by_day["trace-bot"]]
    assert values == pytest.approx([p[3] for p in by_day["json-bot"]], nan_ok=True)
