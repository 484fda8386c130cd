"""The knowledge-gaps pages in a real browser: the demo's gaps by volume × growth, a page at a
time, off-topic chit-chat counted apart, and a gap's distinct wordings with their counts."""

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


def business(gaps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The business's gaps, as the page orders them: volume × growth, then id."""
    kept = [g for g in gaps if g["kind"] != "off_topic"]
    return sorted(kept, key=lambda g: (-g["priority"], g["id"]))


def test_gaps_page_loads_clean_with_labels_chart_and_examples(
    page: Any, server: str, gaps: list[dict[str, Any]]
) -> None:
    page.goto(server + f"/gaps?deployment={DEPLOYMENT}", wait_until="networkidle")
    ranked = business(gaps)
    count = page.locator('[data-testid="gap-count"]').inner_text()
    assert int(count.replace(",", "")) == len(ranked)
    rows = page.locator("tr[data-gap]")
    assert rows.count() == min(len(ranked), 25)
    assert rows.first.get_attribute("data-gap") == ranked[0]["id"]
    first = rows.first
    assert ranked[0]["label"] in first.locator("th").inner_text()
    assert first.locator("td.examples a").count() >= 1
    off = [g for g in gaps if g["kind"] == "off_topic"]
    assert f"{len(off)} off-topic gaps" in page.locator('[data-testid="off-topic"]').inner_text()
    page.wait_for_selector(".chart svg", timeout=10_000)
    # The page says how current its figures are, below the header (not in it: no room).
    assert page.locator('[data-testid="freshness"]').inner_text().startswith("figures")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, "horizontal scroll at 1280 px"


def test_the_list_pages_filters_and_keeps_its_filters_across_pages(
    page: Any, server: str, gaps: list[dict[str, Any]]
) -> None:
    ranked = business(gaps)
    if len(ranked) > 25:
        page.goto(server + f"/gaps?deployment={DEPLOYMENT}&sort=volume")
        page.get_by_role("link", name="next →").click()
        page.wait_for_url("**page=2**")
        assert "sort=volume" in page.url
        by_volume = sorted(ranked, key=lambda g: (-g["volume"], g["id"]))
        assert page.locator("tr[data-gap]").first.get_attribute("data-gap") == by_volume[25]["id"]
    journey = next(iter(ranked[0]["journeys"]))
    page.goto(server + f"/gaps?deployment={DEPLOYMENT}&gap_journey={journey}")
    shown = page.locator("tr[data-gap]").count()
    assert shown == min(25, sum(1 for g in ranked if journey in g["journeys"]))
    page.goto(server + f"/gaps?deployment={DEPLOYMENT}&q=zzzz-no-such-words")
    assert "No gap matches these filters" in page.locator("main").inner_text()


def test_a_gap_opens_with_its_distinct_wordings_counted_and_linked(
    page: Any, live_server: LiveServer, server: str, gaps: list[dict[str, Any]]
) -> None:
    gap = business(gaps)[0]
    page.goto(server + f"/gaps?deployment={DEPLOYMENT}")
    page.locator(f'tr[data-gap="{gap["id"]}"] th a').click()
    page.wait_for_url(f"**/gaps/{gap['id']}**")
    assert gap["id"] in page.locator("main").inner_text()
    full = live_server.get_json(f"/api/v1/gaps/{gap['id']}")
    wordings = full["wordings"]
    assert sum(w["count"] for w in wordings) == gap["volume"]
    texts = [" ".join((w["text"] or "").lower().split()) for w in wordings]
    assert len(texts) == len(set(texts)), "each wording once"
    rows = page.locator("table.members tbody tr:has(a)")
    assert rows.count() == min(len(wordings), 200)
    counts = [int(c.replace(",", "")) for c in rows.locator("td.num").all_inner_texts()]
    assert counts == sorted(counts, reverse=True)
    page.wait_for_selector(".chart svg", timeout=10_000)
    rows.first.locator("a").click()
    page.wait_for_url(f"**/conversations/{DEPLOYMENT}/**")


def test_nav_reaches_the_gaps_page_by_keyboard(page: Any, server: str) -> None:
    page.goto(server + f"/overview?deployment={DEPLOYMENT}")
    link = page.get_by_role("link", name="Knowledge gaps")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/gaps?deployment=care-bot")
    assert page.locator("h1").inner_text().startswith("Knowledge gaps")
