"""The 90-day plan and the rollout in a real browser: the pages, the override form, the rollout
form and its refusals, the overview's banner and the phases on its charts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import LiveServer

PAGES = [
    "/plan",
    "/plan?deployment=care-assist",
    "/rollout?deployment=care-bot",
    "/rollout?deployment=care-assist",
]


def _api(live_server: LiveServer, method: str, path: str, body: Any = None) -> Any:
    r = httpx.request(
        method,
        live_server.url + path,
        json=body,
        timeout=60,
        headers={"authorization": f"Bearer {live_server.api_key}"},
    )
    assert r.status_code in (200, 201), f"{method} {path}: {r.status_code} {r.text[:500]}"
    return r.json()


@pytest.fixture(scope="module")
def plans(live_server: LiveServer) -> None:
    """The default plan of each demo deployment, evaluated."""
    for name in ("care-bot", "care-assist"):
        _api(live_server, "POST", f"/api/v1/plans/{name}/template")
        _api(live_server, "POST", f"/api/v1/plans/{name}/evaluate", {})


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_without_errors(page: Any, server: str, path: str, plans: None) -> None:
    page.goto(server + path, wait_until="networkidle")
    assert page.locator("h1").first.inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, "horizontal scroll at 1280 px"


def test_the_plan_shows_each_gate_with_its_evidence(page: Any, server: str, plans: None) -> None:
    page.goto(server + "/plan?deployment=care-bot")
    headline = page.locator("[data-headline]").inner_text()
    assert headline.startswith("Day 45 of 90, in stabilise:") or "still in stabilise" in headline
    stabilise = page.locator('section[data-phase="stabilise"]')
    assert stabilise.get_attribute("data-status") == "current"
    rows = stabilise.locator("tr[data-criterion]")
    assert rows.count() == 7
    error_rate = stabilise.locator('tr[data-criterion="error-rate"]')
    assert error_rate.get_attribute("data-verdict") in ("met", "not_met")
    link = error_rate.locator('a:has-text("conversations behind Error rate")')
    assert "metric=error_rate" in (link.get_attribute("href") or "")
    routes = stabilise.locator('tr[data-criterion="alert-routes"]')
    assert routes.get_attribute("data-verdict") == "no_data"
    assert "not configured" in routes.inner_text()
    link.click()
    page.wait_for_url("**/conversations?**metric=error_rate**")


def test_an_admin_overrides_an_unready_gate_with_a_reason(
    page: Any, server: str, plans: None
) -> None:
    page.goto(server + "/plan?deployment=care-assist")
    form = page.locator('form[aria-label="Override Stabilise"]')
    form.locator("textarea").fill("Alert routes come with the notification service next month.")
    form.locator("button").click()
    page.wait_for_url("**notice=**")
    assert "overridden" in page.locator('[role="status"]').inner_text()
    stabilise = page.locator('section[data-phase="stabilise"]')
    assert stabilise.get_attribute("data-status") == "overridden"
    note = stabilise.locator("[data-override]").inner_text()
    assert "Alert routes come with the notification service next month." in note
    assert "user:browser-admin" in note
    optimise = page.locator('section[data-phase="optimise"]')
    assert optimise.get_attribute("data-status") == "current"
    # The override is shown on the overview too, with the next gate.
    page.goto(server + "/overview?deployment=care-assist")
    banner = page.locator("[data-plan-banner]")
    assert "Optimise" in banner.inner_text()
    assert "stabilise passed by override" in banner.inner_text()
    page.wait_for_selector(".chart svg", timeout=10_000)
    # The phases on the trends (the override itself is dated today, after the demo's data).
    spec = page.locator('script[id^="chart-"]').first.inner_text()
    assert '"label":"optimise","kind":"phase"' in spec


def test_rollout_changes_and_refusals(page: Any, server: str, plans: None) -> None:
    page.goto(server + "/rollout?deployment=care-bot")
    row = page.locator('tr[data-journey="payments"]')
    assert row.get_attribute("data-state") == "not_started"
    # not_started -> live skips the pilot: refused with the reason on the page.
    row.locator('select[name="state"]').select_option("live")
    row.locator("button").click()
    page.wait_for_url("**error=**")
    assert "skips or reverses states" in page.locator('[role="alert"]').inner_text()
    row = page.locator('tr[data-journey="payments"]')
    row.locator('select[name="state"]').select_option("pilot")
    row.locator("button").click()
    page.wait_for_url("**rollout?**")
    assert page.locator('tr[data-journey="payments"]').get_attribute("data-state") == "pilot"
    history = page.locator('table[aria-label="Rollout history"]').inner_text()
    assert "payments" in history
    assert "user:browser-admin" in history
    assert page.locator("[data-rollout-headline]").inner_text().startswith("0 live, 1 in pilot")
