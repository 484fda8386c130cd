"""`/api/v1/metrics`: JSON and CSV, slicing, and bad input."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from tests.metrics.test_golden import RECORDS

BASE = {"deployment": "g", "start": "2026-03-01", "end": "2026-03-04"}


def _seed(client: TestClient) -> None:
    assert client.post("/api/v1/ingest", json={"interactions": RECORDS}).status_code == 200


def test_catalog_lists_every_metric(client: TestClient) -> None:
    from daytwo.metrics.catalog import REGISTRY

    body = client.get("/api/v1/metrics/catalog").json()
    assert {m["id"] for m in body} == set(REGISTRY)
    assert all(m["definition"] and m["formula"] for m in body)


def test_values_json_grouped_and_filtered(client: TestClient) -> None:
    _seed(client)
    r = client.get(
        "/api/v1/metrics",
        params={**BASE, "metric": ["containment_rate", "csat"], "group_by": "journey"},
    )
    assert r.status_code == 200, r.text
    points = {(p["metric"], p["group"]["journey"]): p for p in r.json()}
    assert points[("containment_rate", "A")]["value"] == 1 / 3
    assert points[("containment_rate", "A")]["n"] == 3
    assert points[("csat", "B")]["value"] == 4.0
    r = client.get(
        "/api/v1/metrics",
        params={**BASE, "metric": "contact_volume", "segment": "site:x", "bucket": "day"},
    )
    assert [p["value"] for p in r.json()] == [3.0]


def test_values_csv(client: TestClient) -> None:
    _seed(client)
    r = client.get(
        "/api/v1/metrics",
        params={**BASE, "metric": "escalation_rate", "group_by": ["channel"], "format": "csv"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {r["channel"]: float(r["value"]) for r in rows} == {"chat": 0.25, "voice": 1.0}
    assert rows[0].keys() == {"metric", "bucket", "channel", "value", "n", "lo", "hi"}


def test_bad_input_is_named(client: TestClient) -> None:
    _seed(client)
    unknown = client.get("/api/v1/metrics", params={**BASE, "metric": "happiness"})
    assert unknown.status_code == 404
    assert "happiness" in unknown.json()["error"]["message"]
    bucket = client.get("/api/v1/metrics", params={**BASE, "metric": "csat", "bucket": "year"})
    assert bucket.status_code == 400
    bad_date = client.get(
        "/api/v1/metrics", params={**BASE, "metric": "csat", "start": "yesterday"}
    )
    assert bad_date.status_code == 400
    backwards = client.get(
        "/api/v1/metrics",
        params={"deployment": "g", "metric": "csat", "start": "2026-03-04", "end": "2026-03-01"},
    )
    assert backwards.status_code == 400
    nodata = client.get("/api/v1/metrics", params={"deployment": "nope", "metric": "csat"})
    assert nodata.status_code == 404
    missing = client.get("/api/v1/metrics", params={"deployment": "g"})
    assert missing.status_code == 422
