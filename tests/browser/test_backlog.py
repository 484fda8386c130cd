"""The loop's pages in a real browser: backlog table and board, the item page and its forms,
changes with their impact charts, the feedback inbox and "you said, we did"."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import LiveServer
from tests.factory import interaction

PAGES = [
    "/backlog",
    "/backlog?view=board",
    "/changes",
    "/changes?deployment=care-bot",
    "/feedback",
    "/feedback?deployment=care-assist&status=new",
    "/feedback/you-said-we-did",
]


def _post(live_server: LiveServer, path: str, body: dict[str, Any]) -> Any:
    r = httpx.post(
        live_server.url + path,
        json=body,
        timeout=30,
        headers={"authorization": f"Bearer {live_server.api_key}"},
    )
    assert r.status_code in (200, 201), f"POST {path}: {r.status_code} {r.text[:500]}"
    return r.json()


@pytest.fixture(scope="module")
def item_id(live_server: LiveServer) -> int:
    """An item opened by a finding, as the detectors' runner opens them."""
    body = _post(
        live_server,
        "/api/v1/items/from-finding",
        {
            "id": "b-1",
            "fingerprint": "browser-suite-1",
            "kind": "escalation_rise",
            "deployment": "care-bot",
            "title": "More hand-overs in card_declined",
            "severity": 3,
            "volume_per_week": 120,
            "journey": "card_declined",
            "metric": "escalation_rate",
            "trend": "rising",
            "customers_per_week": 110,
        },
    )
    return int(body["item"]["id"])


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_without_errors(page: Any, server: str, path: str, item_id: int) -> None:
    page.goto(server + path, wait_until="networkidle")
    assert page.locator("h1").first.inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, "horizontal scroll at 1280 px"


def test_backlog_filters_and_board(page: Any, server: str, item_id: int) -> None:
    page.goto(server + "/backlog")
    row = page.locator(f'table.items tr[data-item="{item_id}"]')
    assert row.get_attribute("data-priority") == "P1"  # 120 × 6.5 × 1.5 × 1.25 + 0.05 × 110
    assert "cards-squad" in row.inner_text()  # routed by the demo's card_declined rule
    page.select_option('form.filters select[name="owner"]', "cards-squad")
    page.click('form.filters button[type="submit"]')
    page.wait_for_url("**owner=cards-squad**")
    assert page.locator("table.items tbody tr").count() >= 1
    page.click('nav.tabs a:has-text("Board")')
    page.wait_for_url("**view=board**")
    assert "owner=cards-squad" in page.url  # the filters travel with the view
    assert page.locator(f'section[data-status="new"] a[data-item="{item_id}"]').is_visible()


def test_item_page_shows_the_formula_and_records_each_move(
    page: Any, server: str, item_id: int
) -> None:
    page.goto(f"{server}/backlog/{item_id}")
    assert page.locator("[data-formula]").inner_text().endswith("= 1,468.0")
    page.select_option('form[aria-label="Move"] select[name="status"]', "triaged")
    page.click('form[aria-label="Move"] button')
    page.wait_for_url(f"**/backlog/{item_id}")
    assert page.locator("[data-status]").get_attribute("data-status") == "triaged"
    page.select_option('form[aria-label="Assign"] select[name="owner"]', "dana.k")
    page.click('form[aria-label="Assign"] button')
    page.wait_for_url(f"**/backlog/{item_id}")
    assert page.locator("[data-owner]").inner_text() == "dana.k"
    page.fill('form[aria-label="Comment"] textarea', "Checking with the fraud team")
    page.click('form[aria-label="Comment"] button')
    page.wait_for_url(f"**/backlog/{item_id}")
    history = page.locator("ol.history").inner_text()
    assert "Checking with the fraud team" in history
    assert "new → triaged" in history
    assert "user:browser-admin" in history
    # An illegal move is refused with a message, not an error page.
    page.select_option('form[aria-label="Move"] select[name="status"]', "wont_fix")
    page.click('form[aria-label="Move"] button')
    page.wait_for_url("**error=**")
    assert "reason" in page.locator('[role="alert"]').inner_text()


def test_changes_show_measured_impact(page: Any, server: str) -> None:
    page.goto(server + "/changes?deployment=care-bot")
    fix = page.locator('table.changes tr:has-text("Knowledge article")')
    assert fix.get_attribute("data-verdict") == "improved"
    fix.locator("a").first.click()
    page.wait_for_url("**/changes/*")
    page.wait_for_selector(".chart svg", timeout=10_000)
    assert page.locator(".chart svg").count() == 2
    assert page.locator("[data-verdict]").get_attribute("data-verdict") == "improved"


def test_record_a_change_from_the_form(page: Any, server: str) -> None:
    page.goto(server + "/changes?deployment=care-bot")
    form = page.locator('form[aria-label="Record a change"]')
    form.locator('select[name="kind"]').select_option("prompt")
    form.locator('input[name="title"]').fill("Shorter greeting")
    form.locator('input[name="shipped_at"]').fill("2026-10-20T09:00")
    form.locator('input[name="journeys"]').fill("rewards")
    form.locator("button").click()
    page.wait_for_url("**/changes/*")
    assert "Shorter greeting" in page.locator("h1").inner_text()
    assert page.locator("[data-verdict]").get_attribute("data-verdict") in (
        "inconclusive",
        "improved",
        "regressed",
    )


def test_feedback_loop_from_report_to_you_said_we_did(page: Any, server: str) -> None:
    page.goto(server + "/feedback?deployment=care-assist")
    form = page.locator('form[aria-label="Report friction"]')
    form.locator('input[name="author"]').fill("a-0400")
    form.locator('textarea[name="text"]').fill("The summary button freezes the screen")
    form.locator("button").click()
    page.wait_for_url("**sent=**")
    assert page.locator('[role="status"]').is_visible()
    row = page.locator('table.inbox tr:has-text("summary button freezes")')
    assert row.get_attribute("data-status") == "new"
    row.locator('form[action$="/acknowledge"] button').click()
    page.wait_for_url("**/feedback")
    row = page.locator('table.inbox tr:has-text("summary button freezes")')
    assert row.get_attribute("data-status") == "acknowledged"
    row.locator('input[name="resolution"]').fill("Summary moved to a side panel")
    row.locator('form[action$="/close"] button').click()
    page.wait_for_url("**/feedback")
    page.goto(server + "/feedback/you-said-we-did")
    said = page.locator("ul.said").inner_text()
    assert "summary button freezes" in said
    assert "Summary moved to a side panel" in said


def test_bad_feedback_is_refused_with_a_message(page: Any, server: str) -> None:
    page.goto(server + "/feedback?deployment=care-bot")
    form = page.locator('form[aria-label="Report friction"]')
    form.locator('input[name="interaction_id"]').fill("no-such-conversation")
    form.locator('textarea[name="text"]').fill("The bot answered wrongly")
    form.locator("button").click()
    page.wait_for_url("**error=**")
    assert "no-such-conversation" in page.locator('[role="alert"]').inner_text()


def test_customer_feedback_is_brought_in_from_conversations(
    page: Any, server: str, live_server: LiveServer
) -> None:
    record = interaction(3, deployment="care-bot", id="browser-fb-1")
    record["feedback"] = {"thumbs": "down", "comment": "It kept asking for my card number"}
    _post(live_server, "/api/v1/ingest", {"interactions": [record]})
    page.goto(server + "/feedback?deployment=care-bot")
    form = page.locator('form[aria-label="Bring in customer feedback"]')
    form.locator("select").select_option("care-bot")
    form.locator("button").click()
    page.wait_for_url("**synced=**")
    assert page.locator("[data-synced]").get_attribute("data-synced") == "1"
    row = page.locator('table.inbox tr:has-text("kept asking for my card number")')
    assert "customer" in row.inner_text()
    assert "browser-fb-1" in row.inner_text()
