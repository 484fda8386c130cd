"""The API keeps its own contract: each case the outside probe found, as a regression test."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from daytwo.backlog.calc import MAX_SCORE, PriorityParams, Signal, compute_priority
from daytwo.errors import InputError


def _register(client: TestClient, **extra: Any) -> Any:
    body = {"name": "care-bot", "kind": "virtual_agent", "journeys": ["billing"], **extra}
    return client.post("/api/v1/deployments", json=body)


def test_timestamps_carry_their_zone(client: TestClient) -> None:
    assert _register(client, go_live="2026-03-01").status_code == 201
    shown = client.get("/api/v1/deployments/care-bot").json()
    for key in ("created_at", "updated_at"):
        assert datetime.fromisoformat(shown[key]).utcoffset() is not None, shown[key]


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "x", "kind": "llm_app", "targets": {"csat": NaN}}',
        b'{"name": "x", "kind": "llm_app", "targets": {"csat": Infinity}}',
        b'{"name": "x", "kind": "llm_app", "cost_model": {"escalation": -Infinity}}',
        b'{"name": "x", "kind": "llm_app", "cost_model": {"escalation": 1e400}}',
    ],
)
def test_nan_and_infinities_are_refused(client: TestClient, body: bytes) -> None:
    r = client.post(
        "/api/v1/deployments", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert "number" in r.json()["error"]["errors"][0]["message"]
    assert client.get("/api/v1/deployments").json() == []


def test_a_score_is_never_infinite() -> None:
    huge = Signal(volume_per_week=1e12, customers_per_week=1e12, cost_key="escalation")
    result = compute_priority(huge, {"escalation": 1e308}, PriorityParams())
    assert result.score == MAX_SCORE
    with pytest.raises(InputError, match="finite"):
        Signal(volume_per_week=float("inf"))


@pytest.mark.parametrize("day", ["6166-01-01", "1999-12-31"])
def test_dates_out_of_any_sensible_range_are_refused(client: TestClient, day: str) -> None:
    r = _register(client, go_live=day)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["errors"][0]["field"] == "body.go_live"


def test_numbers_are_json_numbers(client: TestClient) -> None:
    r = _register(client, targets={"csat": "4.2"})
    assert r.status_code == 422, r.text


def test_a_wrong_method_is_405_with_every_allowed_one(client: TestClient) -> None:
    r = client.request("OPTIONS", "/api/v1/owners")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST, HEAD"
    r = client.patch("/api/v1/items/from-finding", json={})
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    r = client.put("/api/v1/items/3", json={})
    assert (r.status_code, r.headers["allow"]) == (405, "GET, PATCH, HEAD")


def test_every_status_is_documented_and_the_ingest_body_too(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    item = schema["paths"]["/api/v1/items/{item_id}"]
    assert {"401", "403", "404", "422", "429", "503"} <= set(item["get"]["responses"])
    assert {"409", "507"} <= set(item["patch"]["responses"])
    body = schema["paths"]["/api/v1/ingest"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-ndjson"} <= set(body)
    envelope = schema["components"]["schemas"]["IngestEnvelope"]
    assert envelope["properties"]["interactions"]["items"]["$ref"].endswith("/InteractionIn")
    status = next(
        p for p in schema["paths"]["/api/v1/items"]["get"]["parameters"] if p["name"] == "status"
    )
    assert "wont_fix" in str(status["schema"])


def test_an_unknown_status_is_a_422_the_schema_predicts(client: TestClient) -> None:
    r = client.get("/api/v1/items", params={"status": "done"})
    assert r.status_code == 422
    assert r.json()["error"]["errors"][0]["field"] == "query.status"


def test_a_patch_may_leave_a_field_out_but_not_null_it(client: TestClient) -> None:
    assert client.post("/api/v1/owners", json={"handle": "maria.s", "name": "M"}).status_code == 201
    r = client.patch("/api/v1/owners/maria.s", json={"contact": None})
    assert r.status_code == 422, r.text
    r = client.patch("/api/v1/owners/maria.s", json={"team": None, "contact": "m@example.org"})
    assert r.status_code == 200, r.text
