"""Errors as a person meets them: pages answer pages with the site's navigation, the API
answers its JSON error shape, a bad filter is a message beside the form, and the OpenAPI
document says how to authenticate."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factory import interaction


def _data(client: TestClient) -> None:
    r = client.post("/api/v1/ingest", json={"interactions": [interaction(n) for n in range(5)]})
    assert r.status_code == 200, r.text


def test_a_missing_page_is_a_page_with_navigation(client: TestClient) -> None:
    for path in ("/no-such-page", "/backlog/99999", "/changes/99999"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert '<nav aria-label="Main">' in r.text
        assert 'href="/"' in r.text
        assert "HTTP 404" in r.text


def test_an_invalid_address_is_a_page_too(client: TestClient) -> None:
    # An item's address takes a number: anything else is no page at all, said as a page.
    r = client.get("/backlog/not-a-number")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "no page at /backlog/not-a-number" in r.text


def test_the_api_keeps_its_json_error_shape(client: TestClient) -> None:
    for path in ("/api/v1/items/99999", "/api/v1/no-such-thing"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    r = client.get("/backlog/99999", headers={"accept": "application/json"})
    assert r.json()["error"]["code"] == "not_found"


def test_a_bad_filter_is_a_message_beside_the_form(client: TestClient) -> None:
    _data(client)
    for page in ("/overview", "/journeys", "/conversations"):
        r = client.get(page, params={"start": "2026-03-20", "end": "2026-03-01"})
        assert r.status_code == 200, (page, r.text[:300])
        assert 'class="scope-problem"' in r.text, page
        assert "is after the end" in r.text
        r = client.get(page, params={"deployment": "nope"})
        assert "There is no deployment &#39;nope&#39;" in r.text, page
        r = client.get(page, params={"end": "yesterday"})
        assert "must be a date" in r.text, page
        # A day no events engine can hold is named, and the page shows its default range.
        r = client.get(page, params={"start": "1850-01-01", "end": "2299-12-31"})
        assert r.status_code == 200, (page, r.text[:300])
        assert "The start must fall between 1900-01-01 and 2299-12-30" in r.text, page
        assert "The end must fall between" in r.text, page


def test_openapi_declares_the_key_and_the_session(client: TestClient) -> None:
    doc = client.get("/api/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerKey"] == {**schemes["bearerKey"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie"
    assert schemes["session"]["name"] == "daytwo_session"
    items = doc["paths"]["/api/v1/items"]["get"]
    assert items["security"] == [{"bearerKey": []}, {"session": []}]
    assert "401" in items["responses"]
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    unsecured = [
        f"{method} {path}"
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if "security" not in op
    ]
    assert unsecured == []


def test_pages_open_on_the_deployment_with_the_most_urgent_problem(client: TestClient) -> None:
    records = [interaction(n, deployment=d) for n in range(4) for d in ("a-bot", "z-bot")]
    assert client.post("/api/v1/ingest", json={"interactions": records}).status_code == 200
    for name in ("a-bot", "z-bot"):
        r = client.post(
            "/api/v1/deployments",
            json={"name": name, "kind": "virtual_agent", "cost_model": {"escalation": 5.0}},
        )
        assert r.status_code == 201, r.text
    r = client.post("/api/v1/owners", json={"handle": "ops", "name": "Ops"})
    assert r.status_code == 201
    r = client.post(
        "/api/v1/items",
        json={"deployment": "z-bot", "title": "Escalations up", "owner": "ops",
              "signal": {"volume_per_week": 500, "cost_key": "escalation"}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    for page in ("/overview", "/journeys", "/conversations"):
        assert '<option value="z-bot" selected>' in client.get(page).text, page
    assert (
        '<option value="a-bot" selected>'
        in client.get("/overview", params={"deployment": "a-bot"}).text
    )
