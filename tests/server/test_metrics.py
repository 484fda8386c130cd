"""`/metrics`: Prometheus text, behind the `metrics` scope, with the counters and gauges the
docs list."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from daytwo.errors import StorageFull
from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from tests.factory import interaction


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_scope_and_content(client: TestClient) -> None:
    ledger = client.app.state.ledger  # type: ignore[attr-defined]
    r = client.post("/api/v1/ingest", json={"interactions": [interaction(i) for i in range(3)]})
    assert r.status_code == 200
    client.get("/api/v1/deployments/care-bot")
    scrape, _ = create_key(ledger, scope=KeyScope.metrics, deployment=None)
    reader, _ = create_key(ledger, scope=KeyScope.read, deployment="care-bot")
    anon = {"authorization": "Bearer dt_unknown_key"}
    assert client.get("/metrics", headers=anon).status_code == 401
    assert client.get("/metrics", headers={"authorization": f"Bearer {reader}"}).status_code == 403
    as_scraper = {"authorization": f"Bearer {scrape}"}
    # A metrics key scrapes and does nothing else.
    assert client.get("/api/v1/deployments", headers=as_scraper).status_code == 403
    r = client.get("/metrics", headers=as_scraper)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = _samples(r.text)
    assert samples[("daytwo_ingest_records_total", (("door", "api"), ("result", "accepted")))] >= 3
    # By route template, never the raw path.
    routes = {
        dict(labels).get("route")
        for name, labels in samples
        if name == "daytwo_http_requests_total"
    }
    assert "/api/v1/deployments/{name}" in routes
    assert "/api/v1/deployments/care-bot" not in routes
    assert samples[("daytwo_events_rows", (("table", "interactions"),))] == 3
    assert samples[("daytwo_events_interactions", (("deployment", "care-bot"),))] == 3
    assert samples[("daytwo_store_size_bytes", (("store", "ledger"),))] > 0
    assert samples[("daytwo_otlp_staged_turns", ())] == 0
    # An app that does not serve starts its trace workers on the first trace: none yet.
    assert samples[("daytwo_otlp_workers_ready", ())] == 0
    latency = (
        "daytwo_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/api/v1/ingest")),
    )
    assert samples[latency] >= 1
    # A browser asking for /metrics gets the metric catalog page.
    page = client.get("/metrics", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "<html" in page.text.lower()


def test_metrics_say_when_writes_fail(client: TestClient) -> None:
    ledger = client.app.state.ledger  # type: ignore[attr-defined]
    scrape, _ = create_key(ledger, scope=KeyScope.metrics, deployment=None)
    as_scraper = {"authorization": f"Bearer {scrape}"}
    before = _samples(client.get("/metrics", headers=as_scraper).text)
    assert before[("daytwo_healthy", ())] == 1
    assert before[("daytwo_store_faults", ())] == 0
    assert before[("daytwo_data_dir_free_bytes", ())] > 0
    client.app.state.faults.saw(StorageFull("no space left on the disk under the events store"))  # type: ignore[attr-defined]
    after = _samples(client.get("/metrics", headers=as_scraper).text)
    assert after[("daytwo_healthy", ())] == 0
    assert after[("daytwo_store_faults", ())] == 1
    assert client.get("/healthz").status_code == 503
