"""The knowledge-gaps pages in a real browser: the demo's gaps, their trend, examples, members."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import LiveServer

DEPLOYMENT = "care-bot"


@pytest.fixture(scope="module")
def gaps(live_server: LiveServer) -> list[dict[str, Any]]:
    """Cluster the demo bot's unhandled utterances inside the live server, then list the gaps."""
    r = httpx.post(
        live_server.url + "/api/v1/gaps/runs",
        params={"deployment": DEPLOYMENT},
        headers={"authorization": f"Bearer {live_server.api_key}"},
        timeout=300,
    )
    assert r.status_code == 200, r.text[:500]
    found: list[dict[str, Any]] = live_server.get_json(f"/api/v1/gaps?deployment={DEPLOYMENT}")
    assert found, "the demo bot falls back on real CLINC150 utterances: there are gaps"
    return found


def test_gaps_page_loads_clean_with_labels_chart_and_examples(
    page: Any, server: str, gaps: list[dict[str, Any]]
) -> None:
    page.goto(server + f"/gaps?deployment={DEPLOYMENT}", wait_until="networkidle")
    assert int(page.locator('[data-testid="gap-count"]').inner_text()) == len(gaps)
    rows = page.locator("tr[data-gap]")
    assert rows.count() == len(gaps)
    first = page.locator(f'tr[data-gap="{gaps[0]["id"]}"]')
    assert gaps[0]["label"] in first.locator("th").inner_text()
    assert first.locator("td.examples a").count() >= 1
    page.wait_for_selector(".chart svg", timeout=10_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, "horizontal scroll at 1280 px"


def test_a_gap_opens_with_every_member_and_each_links_to_its_conversation(
    page: Any, server: str, gaps: list[dict[str, Any]]
) -> None:
    gap = gaps[0]
    page.goto(server + f"/gaps?deployment={DEPLOYMENT}")
    page.locator(f'tr[data-gap="{gap["id"]}"] th a').click()
    page.wait_for_url(f"**/gaps/{gap['id']}**")
    assert gap["id"] in page.locator("main").inner_text()
    members = page.locator("table.members a")
    assert members.count() == min(gap["volume"], 200)
    page.wait_for_selector(".chart svg", timeout=10_000)
    members.first.click()
    page.wait_for_url(f"**/conversations/{DEPLOYMENT}/**")


def test_nav_reaches_the_gaps_page_by_keyboard(page: Any, server: str) -> None:
    page.goto(server + f"/overview?deployment={DEPLOYMENT}")
    link = page.get_by_role("link", name="Knowledge gaps")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/gaps?deployment=care-bot")
    assert page.locator("h1").inner_text().startswith("Knowledge gaps")
