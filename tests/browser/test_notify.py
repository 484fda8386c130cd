"""The notifications page in a real browser: an alert raised by an analysis-like finding,
"Send a test" through a loopback webhook receiver, acknowledging, and the delivery log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import LiveServer
from tests.notify.conftest import SECRET
from tests.notify.receivers import WebhookReceiver


def _call(live_server: LiveServer, method: str, path: str, body: Any = None) -> Any:
    r = httpx.request(
        method, live_server.url + path, json=body, timeout=30,
        headers={"authorization": f"Bearer {live_server.api_key}"},
    )  # fmt: skip
    assert r.status_code in (200, 201), f"{method} {path}: {r.status_code} {r.text[:500]}"
    return r.json()


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def alerted(live_server: LiveServer, receiver: WebhookReceiver) -> int:
    """A P1 item, a channel and a route; one delivery pass: the alert's id."""
    channel = {"name": "ops-hook", "kind": "webhook", "url": receiver.url, "secret": SECRET}
    _call(live_server, "POST", "/api/v1/notify/channels", channel)
    route = {"channel": "ops-hook", "max_priority": "P1"}
    _call(live_server, "POST", "/api/v1/notify/routes", route)
    item = _call(live_server, "POST", "/api/v1/items/from-finding", {
        "id": "n-1", "fingerprint": "browser-notify-1", "kind": "escalation_rise",
        "deployment": "care-bot", "title": "Hand-overs doubled in travel_notice", "severity": 4,
        "volume_per_week": 400, "journey": "travel_notice", "metric": "escalation_rate",
        "trend": "rising", "customers_per_week": 380,
    })  # fmt: skip
    # An item opened through the API (not by an analysis): the delivery pass raises its alert.
    _call(live_server, "POST", "/api/v1/notify/deliver")
    # The shared server may hold other alerts (the other pages' items): this item's is one.
    alerts = _call(live_server, "GET", "/api/v1/notify/alerts")
    # (the finding may join an item the demo's analysis opened for the same problem).
    [raised] = [a for a in alerts if a["item_id"] == item["item"]["id"]]
    assert raised["priority"] == "P1"
    sent = [r.json() for r in receiver.received]
    assert any(m["event"] == "problem.new" for m in sent)
    return int(raised["id"])


def test_send_a_test_then_acknowledge_on_the_page(
    page: Any, server: str, receiver: WebhookReceiver, alerted: int, tmp_path: Path
) -> None:
    page.goto(server + "/notify")
    assert page.locator("h1").inner_text().startswith("Notifications")
    page.click('tr[data-channel="ops-hook"] button:has-text("Send a test")')
    page.wait_for_url("**sent=**")
    assert page.locator("[data-test]").get_attribute("data-test") == "delivered"
    assert receiver.received[-1].signature_ok
    assert receiver.received[-1].json()["event"] == "test"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, "horizontal scroll at 1280 px"
    row = page.locator(f'tr[data-alert="{alerted}"]')
    assert row.get_attribute("data-status") == "open"
    page.screenshot(path=str(tmp_path / "notify-page.png"), full_page=True)
    row.locator('button:has-text("Acknowledge")').click()
    page.wait_for_url("**/notify")
    row = page.locator(f'tr[data-alert="{alerted}"]')
    assert row.get_attribute("data-status") == "acknowledged"
    assert "by user:browser-admin" in row.inner_text()
    page.select_option('form[aria-label="Filter deliveries"] select[name="status"]', "delivered")
    page.click('form[aria-label="Filter deliveries"] button')
    page.wait_for_url("**status=delivered**")
    assert page.locator('table[aria-label="Deliveries"] tbody tr').count() == 2
