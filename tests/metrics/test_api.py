"""`/api/v1/metrics`: the catalog, JSON and CSV values for any slice, and bad input named."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from daytwo.metrics.catalog import METRICS, REGISTRY
from tests.metrics.test_golden import SAMPLE, rec, wilson_by_hand
from tests.metrics.test_recompute import View, _expected

RANGE = {"deployment": "g", "start": "2026-03-01", "end": "2026-03-04"}


def _seed(client: TestClient, records: list[dict[str, Any]] = SAMPLE) -> None:
    r = client.post("/api/v1/ingest", json={"interactions": records})
    assert r.status_code == 200, r.text


def _get(client: TestClient, **params: Any) -> Any:
    r = client.get("/api/v1/metrics", params={**RANGE, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_catalog_lists_every_metric_in_registry_order(client: TestClient) -> None:
    body = client.get("/api/v1/metrics/catalog").json()
    assert [m["id"] for m in body] == [m.id for m in METRICS]
    containment = body[[m["id"] for m in body].index("containment_rate")]
    assert containment == {
        "id": "containment_rate",
        "name": "Containment",
        "definition": REGISTRY["containment_rate"].definition,
        "formula": "contained / conversations with an outcome",
        "unit": "rate",
        "good": "up",
        "group": "conversation",
        "kind": "ratio",
        "source": "interactions",
        "needs": ["outcome"],
    }


def test_values_by_journey_with_sample_sizes_and_intervals(client: TestClient) -> None:
    _seed(client)
    points = _get(client, metric=["containment_rate", "csat"], group_by="journey")
    assert [(p["metric"], p["group"], p["bucket"]) for p in points] == [
        ("containment_rate", {"journey": "A"}, None),
        ("containment_rate", {"journey": "B"}, None),
        ("csat", {"journey": "A"}, None),
        ("csat", {"journey": "B"}, None),
    ]
    a = points[0]  # journey A: i1 contained, i2 escalated, i5 transferred
    assert (a["value"], a["n"]) == (pytest.approx(1 / 3), 3)
    assert (a["lo"], a["hi"]) == pytest.approx(wilson_by_hand(1, 3))
    csat_b = points[3]  # journey B: only i4 answered (4)
    assert (csat_b["value"], csat_b["n"], csat_b["lo"], csat_b["hi"]) == (4.0, 1, None, None)


def test_every_metric_agrees_with_a_plain_recomputation(client: TestClient) -> None:
    _seed(client)
    points = _get(
        client,
        metric=list(REGISTRY),
        group_by="journey",
        bucket="day",
        start="2026-03-02",
        end="2026-03-05",  # the recomputation's range, end inclusive
    )
    expected = _expected(SAMPLE, View("day", ("journey",)))
    got: dict[str, dict[Any, Any]] = {m: {} for m in REGISTRY}
    for p in points:
        key = (datetime.fromisoformat(p["bucket"]), (p["group"]["journey"],))
        got[p["metric"]][key] = (p["value"], p["n"], p["lo"], p["hi"])
    for metric_id, want in expected.items():
        assert got[metric_id].keys() == want.keys(), metric_id
        for key, (value, n, lo, hi) in want.items():
            assert got[metric_id][key] == (
                pytest.approx(value, abs=1e-9) if value is not None else None,
                n,
                pytest.approx(lo, abs=1e-9) if lo is not None else None,
                pytest.approx(hi, abs=1e-9) if hi is not None else None,
            ), (metric_id, key)


def test_buckets_and_filters(client: TestClient) -> None:
    _seed(client)
    by_day = _get(client, metric="contact_volume", bucket="day")
    assert [(p["bucket"], p["value"]) for p in by_day] == [
        ("2026-03-02T00:00:00Z", 4.0),
        ("2026-03-03T00:00:00Z", 1.0),
    ]
    one = {"metric": "contact_volume"}
    assert _get(client, **one, filter="site:x")[0]["value"] == 3.0
    assert _get(client, **one, filter="agent_ref:a2")[0]["value"] == 2.0
    # Values of one dimension are alternatives; dimensions combine.
    assert _get(client, **one, filter=["journey:A", "journey:B"])[0]["value"] == 5.0
    assert _get(client, **one, filter=["journey:A", "channel:voice"])[0]["value"] == 1.0
    # The shared slice parameters work too.
    assert _get(client, **one, journey="B", segment="site:y")[0]["value"] == 1.0
    # Group by a segment key, written either way.
    by_site = _get(client, **one, group_by="segment.site")
    assert [(p["group"], p["value"]) for p in by_site] == [
        ({"site": "x"}, 3.0),
        ({"site": "y"}, 2.0),
    ]


def test_default_range_is_the_28_days_up_to_the_latest_interaction(client: TestClient) -> None:
    _seed(
        client,
        [
            rec("old", at="2026-02-03T23:59:59Z"),  # 29 days before the latest day
            rec("first", at="2026-02-04T00:00:00Z"),
            rec("latest", at="2026-03-03T22:00:00Z"),
        ],
    )
    r = client.get("/api/v1/metrics", params={"deployment": "g", "metric": "contact_volume"})
    assert r.status_code == 200, r.text
    assert [p["value"] for p in r.json()] == [2.0]


def test_csv_has_a_header_and_one_row_per_point(client: TestClient) -> None:
    _seed(client)
    r = client.get(
        "/api/v1/metrics",
        params={
            **RANGE,
            "metric": ["escalation_rate", "nps"],
            "group_by": ["channel", "site"],
            "bucket": "day",
            "format": "csv",
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0] == "metric,bucket,channel,site,value,n,lo,hi"
    rows = list(csv.DictReader(io.StringIO(r.text)))
    json_points = _get(
        client, metric=["escalation_rate", "nps"], group_by=["channel", "site"], bucket="day"
    )
    assert len(rows) == len(json_points) == 6  # (2 Mar: chat-x, chat-y; 3 Mar: voice-y) x 2
    first = rows[
        0
    ]  # escalation, 2 March, chat at site x: i1 contained, i3 abandoned, i5 transferred
    assert (first["metric"], first["bucket"], first["channel"], first["site"]) == (
        "escalation_rate",
        "2026-03-02T00:00:00+00:00",
        "chat",
        "x",
    )
    assert (float(first["value"]), int(first["n"])) == (pytest.approx(1 / 3), 3)
    assert (float(first["lo"]), float(first["hi"])) == pytest.approx(wilson_by_hand(1, 3))
    no_answer = next(r for r in rows if r["metric"] == "nps" and r["channel"] == "voice")
    assert (no_answer["value"], no_answer["n"], no_answer["lo"]) == ("", "0", "")


def test_duplicates_in_the_request_are_ignored(client: TestClient) -> None:
    _seed(client)
    points = _get(client, metric=["csat", "csat"], group_by=["journey", "journey"])
    assert [(p["metric"], p["group"]) for p in points] == [
        ("csat", {"journey": "A"}),
        ("csat", {"journey": "B"}),
    ]


@pytest.mark.parametrize(
    ("params", "status", "code", "says"),
    [
        ({"metric": "happiness"}, 404, "not_found", "happiness"),
        ({"metric": "csat", "bucket": "year"}, 422, "invalid_request", ""),  # schema enum
        ({"metric": "csat", "start": "yesterday"}, 400, "invalid_input", "start"),
        ({"metric": "csat", "end": "2026-03-04T10:00:00"}, 400, "invalid_input", "time zone"),
        ({"metric": "csat", "start": "2026-03-04", "end": "2026-03-01"}, 400, "invalid_input", ""),
        (
            {"metric": "csat", "start": "2026-03-02T10:00:00Z", "end": "2026-03-02T10:00:00Z"},
            400,
            "invalid_input",
            "before",
        ),
        # Days no events engine can hold are refused naming the parameter, on both engines
        # (ClickHouse would otherwise refuse the bound value without saying whose it was).
        ({"metric": "csat", "start": "1850-01-01"}, 400, "invalid_input", "start must fall"),
        ({"metric": "csat", "end": "2350-01-01"}, 400, "invalid_input", "end must fall"),
        ({"metric": "csat", "end": "2299-12-31"}, 400, "invalid_input", "and 2299-12-30"),
        ({"metric": "csat", "end": "9999-12-31"}, 400, "invalid_input", "end must fall"),
        (
            {"metric": "csat", "start": "0001-01-01T00:00:00+05:00"},
            400,
            "invalid_input",
            "start must fall",
        ),
        ({"metric": "csat", "filter": "journey"}, 400, "invalid_input", "journey"),
        ({"metric": "csat", "group_by": "site; drop"}, 400, "invalid_input", "site; drop"),
        ({"metric": "csat", "format": "xml"}, 422, "invalid_request", ""),
        ({}, 422, "invalid_request", ""),
    ],
)
def test_bad_input_is_named_in_the_error_shape(
    client: TestClient, params: dict[str, Any], status: int, code: str, says: str
) -> None:
    _seed(client)
    r = client.get("/api/v1/metrics", params={**RANGE, **params})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert says in error["message"]


def test_a_deployment_without_data_is_a_404(client: TestClient) -> None:
    r = client.get("/api/v1/metrics", params={"deployment": "nope", "metric": "csat"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_openapi_documents_the_metrics_api(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    params = {p["name"] for p in paths["/api/v1/metrics"]["get"]["parameters"]}
    assert {"metric", "deployment", "start", "end", "bucket", "group_by", "filter", "format"} <= (
        params
    )
    assert "/api/v1/metrics/catalog" in paths
