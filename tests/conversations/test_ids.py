"""Ids as users send them: a conversation id with `/`, spaces or Unicode is stored, listed,
opened through the API and its page, and every link to it is encoded."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.factory import interaction

ODD_IDS = ["tickets/2026/0042", "call 17 (transfer)", "会話-€-ü", "q?x=1#frag & more"]


@pytest.fixture
def stored(client: TestClient) -> TestClient:
    records = [
        interaction(i, id=odd, journey="billing/refunds" if i == 0 else "billing")
        for i, odd in enumerate(ODD_IDS)
    ]
    r = client.post("/api/v1/ingest", json={"interactions": records})
    assert r.status_code == 200, r.text
    return client


@pytest.mark.parametrize("odd", ODD_IDS)
def test_an_odd_id_opens_through_the_api_and_its_page(stored: TestClient, odd: str) -> None:
    segment = quote(odd, safe="")
    api = stored.get(f"/api/v1/interactions/{segment}", params={"deployment": "care-bot"})
    assert api.status_code == 200, api.text
    assert api.json()["interaction"]["interaction_id"] == odd
    page = stored.get(f"/conversations/care-bot/{segment}")
    assert page.status_code == 200, page.text
    assert odd.replace("&", "&amp;") in page.text or odd in page.text


def test_links_to_odd_ids_and_journeys_are_encoded(stored: TestClient) -> None:
    listing = stored.get("/conversations", params={"deployment": "care-bot"})
    assert listing.status_code == 200
    for odd in ODD_IDS:
        assert f"/conversations/care-bot/{quote(odd, safe='')}" in listing.text
    journeys = stored.get("/journeys", params={"deployment": "care-bot"})
    assert journeys.status_code == 200
    assert "/journeys/billing%2Frefunds?" in journeys.text
    page = stored.get("/journeys/billing%2Frefunds", params={"deployment": "care-bot"})
    assert page.status_code == 200, page.text


def test_row_ids_out_of_range_are_422_not_500(client: TestClient) -> None:
    for path in ("/api/v1/items/9223372036854775808", "/api/v1/findings/99999999999999999999"):
        assert client.get(path).status_code == 422
    assert client.get("/api/v1/items/0").status_code == 422
    assert client.get("/api/v1/items/9223372036854775807").status_code == 404
    assert client.delete("/api/v1/routing-rules/9223372036854775808").status_code == 422
