"""Every page in a real browser: loads clean, drills down, keeps its filters."""

from __future__ import annotations

from typing import Any

import pytest

PAGES = [
    "/",
    "/overview?deployment=care-bot",
    "/overview?deployment=care-assist",
    "/journeys?deployment=care-bot",
    "/journeys/card_declined?deployment=care-bot",
    "/conversations?deployment=care-bot",
    "/metrics",
    "/api/docs",
]


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_without_errors(page: Any, server: str, path: str) -> None:
    page.goto(server + path, wait_until="networkidle")
    if path == "/api/docs":
        # Swagger UI draws once the OpenAPI document has arrived: its tags (collapsed), and
        # the Authorize button of the declared security schemes.
        page.locator("#swagger-ui .opblock-tag").first.wait_for()
        page.locator("#swagger-ui button.authorize").wait_for()
    assert page.locator("body").inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, "horizontal scroll at 1280 px"


def test_home_lists_the_demo_deployments(page: Any, server: str) -> None:
    page.goto(server + "/")
    for name in ("care-bot", "care-assist"):
        count = page.locator(f'section[data-deployment="{name}"] [data-count="interactions"]')
        assert int(count.inner_text().replace(",", "")) > 1000


def test_charts_render(page: Any, server: str) -> None:
    page.goto(server + "/overview?deployment=care-bot", wait_until="networkidle")
    page.wait_for_selector(".chart svg", timeout=10_000)
    assert page.locator(".chart svg").count() >= 4


def test_kpi_tile_lands_on_matching_conversations(page: Any, server: str) -> None:
    page.goto(server + "/overview?deployment=care-bot&journey=card_declined")
    tile = page.locator('a.tile[data-metric="escalation_rate"]')
    shown = float(tile.locator(".value").get_attribute("data-value") or "nan")
    tile.click()
    page.wait_for_url("**/conversations?**")
    assert "metric=escalation_rate" in page.url
    assert "journey=card_declined" in page.url  # the drill-down keeps the filters
    assert page.locator('[data-drill="escalation_rate"]').is_visible()
    outcomes = set(page.locator("table.convos td .outcome").all_inner_texts())
    assert outcomes <= {"escalated", "transferred"}
    assert outcomes
    journeys = set(page.locator("table.convos tbody tr td:nth-child(3)").all_inner_texts())
    assert journeys == {"card_declined"}
    # The count behind the tile agrees with the tile: escalated / conversations with outcome.
    behind = int(page.locator("[data-total]").get_attribute("data-total") or "0")
    page.goto(server + "/conversations?deployment=care-bot&journey=card_declined")
    total = int(page.locator("[data-total]").get_attribute("data-total") or "0")
    assert behind / total == pytest.approx(shown, abs=0.02)


def test_filters_survive_reload_and_navigation(page: Any, server: str) -> None:
    page.goto(server + "/overview?deployment=care-assist")
    page.select_option('select[name="segment"]', "site:porto")
    page.click('form.scope button[type="submit"]')
    page.wait_for_url("**segment=site%3Aporto**")
    page.reload()
    assert page.locator('select[name="segment"]').input_value() == "site:porto"
    page.click('nav a:has-text("Journeys")')
    page.wait_for_url("**/journeys?**")
    assert "segment=site%3Aporto" in page.url
    assert page.locator('select[name="segment"]').input_value() == "site:porto"


def test_conversation_search_and_transcript(page: Any, server: str) -> None:
    page.goto(server + "/conversations?deployment=care-bot")
    page.fill("#q", "card")
    page.press("#q", "Enter")
    page.wait_for_url("**q=card**")
    # A common word fills the page from the most recent days; counting them all is a click.
    lower = page.locator("[data-total-at-least]")
    assert lower.count() == 1
    at_least = int(lower.get_attribute("data-total-at-least") or "0")
    assert at_least > 50
    page.click("text=count every match")
    page.wait_for_url("**exact=1**")
    assert int(page.locator("[data-total]").get_attribute("data-total") or "0") > at_least
    first = page.locator("table.convos tbody tr a").first
    first.click()
    page.wait_for_selector("ol.transcript li.turn")
    assert page.locator("li.turn.role-user").count() >= 1
    assert "card" in page.locator("ol.transcript").inner_text().lower()


def test_keyboard_reaches_navigation(page: Any, server: str) -> None:
    page.goto(server + "/overview?deployment=care-bot")
    seen = []
    for _ in range(8):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert "Overview" in seen
    assert "Conversations" in seen
