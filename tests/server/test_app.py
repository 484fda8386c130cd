"""The app: health, OpenAPI, and the first page listing deployments with their counts."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from daytwo.server import create_app
from daytwo.settings import Settings
from tests.factory import interaction


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_openapi_documents_ingest(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/ingest" in spec["paths"]
    assert "/api/v1/deployments" in spec["paths"]
    assert client.get("/api/docs").status_code == 200


def test_apps_of_the_same_shape_share_one_document_and_others_get_their_own(
    tmp_path: Path,
) -> None:
    """The document is built once per process for apps of the same shape (it takes most of a
    second); an app with a route of its own gets a document that lists it."""
    first = create_app(Settings(data_dir=tmp_path / "a", refresh_seconds=0))
    second = create_app(Settings(data_dir=tmp_path / "b", refresh_seconds=0))
    with TestClient(first) as a, TestClient(second) as b:
        assert a.get("/api/openapi.json").json() == b.get("/api/openapi.json").json()
        assert first.openapi_schema is second.openapi_schema
    third = create_app(Settings(data_dir=tmp_path / "c", refresh_seconds=0))

    @third.get("/api/v1/only-here", summary="Only on this app")
    def only_here() -> dict[str, str]:
        return {}

    with TestClient(third) as c:
        paths = c.get("/api/openapi.json").json()["paths"]
    assert "/api/v1/only-here" in paths
    assert third.openapi_schema is not first.openapi_schema
    assert "/api/v1/only-here" not in first.openapi()["paths"]


def test_home_lists_deployments_with_counts(client: TestClient) -> None:
    client.post(
        "/api/v1/deployments",
        json={"name": "care-bot", "kind": "virtual_agent", "go_live": "2026-03-01"},
    )
    client.post(
        "/api/v1/ingest",
        json={
            "interactions": [
                *[interaction(i, turns=2) for i in range(3)],
                interaction(9, deployment="shadow-bot", turns=5),
            ]
        },
    )
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert 'data-deployment="care-bot"' in html
    assert 'data-deployment="shadow-bot"' in html
    assert "unregistered" in html  # shadow-bot sent data but was never registered
    assert "2026-03-01" in html
    listed = {d["name"]: d for d in client.get("/api/v1/deployments").json()}
    assert (listed["care-bot"]["interactions"], listed["care-bot"]["turns"]) == (3, 6)
    assert (listed["shadow-bot"]["interactions"], listed["shadow-bot"]["turns"]) == (1, 5)
    assert listed["care-bot"]["registered"] is True


def test_empty_home_explains_how_to_start(client: TestClient) -> None:
    assert "daytwo demo" in client.get("/").text


def test_registering_twice_is_a_409_in_the_error_shape(client: TestClient) -> None:
    body = {"name": "x", "kind": "llm_app"}
    assert client.post("/api/v1/deployments", json=body).status_code == 201
    r = client.post("/api/v1/deployments", json=body)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"
    bad = client.post("/api/v1/deployments", json={"name": "x y", "kind": "robot"})
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["error"]["errors"]}
    assert fields == {"body.name", "body.kind"}


def test_static_assets_are_served_locally(client: TestClient) -> None:
    assert client.get("/static/daytwo.css").status_code == 200
