"""The adoption pages in a real browser: the answer first, the comparisons loading after it,
an agent's and a team's page, and what a viewer may (not) see."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ACTION_TIMEOUT_MS, SCREENSHOTS, LiveServer, _sign_in

ASSIST = "care-assist"
VIEWER = "browser-viewer"
VIEWER_PASSWORD = "a long browser-viewer password"


def _sections_loaded(page: Any) -> None:
    for section in ("pilot", "legacy", "champions", "changes"):
        page.wait_for_selector(
            f'[data-section="{section}"] table, [data-section="{section}"] .lede',
            timeout=30_000,
        )


def test_adoption_page_answers_first_then_compares(page: Any, server: str) -> None:
    page.goto(f"{server}/adoption?deployment={ASSIST}", wait_until="networkidle")
    assert page.locator("h1").first.inner_text().startswith("Adoption")
    tile = page.locator('.tile[data-metric="suggestion_acceptance_rate"] .value')
    assert tile.inner_text().endswith("%")
    _sections_loaded(page)
    pilot = page.locator('[data-section="pilot"]')
    assert "like for like" in pilot.inner_text()
    assert pilot.locator('tr[data-kpi="suggestion_acceptance_rate"]').count() == 1
    # The weighted gap beside the standardised one, with its interval and what it means.
    assert "weighted, 95%" in (pilot.locator("thead").text_content() or "")
    cell = pilot.locator('tr[data-kpi="suggestion_acceptance_rate"] td[data-weighted]')
    weighted = float(cell.get_attribute("data-weighted") or "nan")
    assert cell.locator(".gap").inner_text() == f"{weighted * 100:+.1f} pts"
    interval = cell.locator(".ci").inner_text().removesuffix(" pts")
    lo, hi = (float(v) for v in interval.split(" to "))
    assert lo - 0.05 <= weighted * 100 <= hi + 0.05  # as shown, to a tenth of a point
    for row in pilot.locator("tr[data-kpi]").all():  # "apart" marks exactly the disagreements
        w = row.locator("td[data-weighted]")
        apart = "trust neither estimate alone" in (w.get_attribute("title") or "")
        assert w.locator("[data-apart]").count() == int(apart)
    assert pilot.locator("[data-weighted-answer]").inner_text().startswith("Weighted instead")
    assert "same assumptions" in pilot.locator("[data-weighted-explained]").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pilot.screenshot(path=str(SCREENSHOTS / "adoption-pilot-section.png"))
    legacy = page.locator('[data-section="legacy"]')
    assert legacy.locator("tr[data-band]").count() >= 3  # handle time per tenure band
    assert "observational" in page.locator('[data-section="champions"]').inner_text()
    page.wait_for_selector(".chart svg", timeout=ACTION_TIMEOUT_MS)
    # The breakdown switches keys through the URL; a team row leads to its page.
    page.click('#g-breakdown a:has-text("team")')
    page.wait_for_url("**by=team**")
    page.locator('table[aria-label="Adoption by team"] tbody th a').first.click()
    page.wait_for_url("**/adoption/teams/**")
    assert page.locator("h1").inner_text().startswith("Team ")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, "horizontal scroll at 1280 px"


def test_agents_and_one_agent(page: Any, server: str) -> None:
    page.goto(f"{server}/adoption/agents?deployment={ASSIST}")
    rows = page.locator('table[aria-label="Agents"] tbody tr')
    assert rows.count() > 50
    rows.first.locator("th a").click()
    page.wait_for_url("**/adoption/agents/a-**")
    assert page.locator('table[aria-label="By feature"] tbody tr').count() == 3
    assert "pseudonymous" in page.locator("p.lede").first.inner_text()


@pytest.fixture(scope="module")
def viewer_cookie(live_server: LiveServer) -> str:
    """A viewer of the assist deployment, signed in through the login form."""
    from daytwo.governance.accounts import create_user
    from daytwo.governance.models import Role
    from daytwo.settings import Settings
    from daytwo.store.ledger import Ledger

    ledger = Ledger(Settings(data_dir=live_server.data_dir).resolved_ledger_url)
    try:
        create_user(ledger, VIEWER, VIEWER_PASSWORD, Role.viewer, grants=(ASSIST,))
    finally:
        ledger.dispose()
    return _sign_in(live_server.url, VIEWER, VIEWER_PASSWORD)


def test_a_viewer_sees_groups_only(
    browser: Any, live_server: LiveServer, viewer_cookie: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_cookies(
        [{"name": "daytwo_session", "value": viewer_cookie, "url": live_server.url}]
    )
    try:
        pg = context.new_page()
        pg.goto(f"{live_server.url}/adoption?deployment={ASSIST}", wait_until="networkidle")
        assert "Your role sees groups only" in pg.locator("#privacy").inner_text()
        _sections_loaded(pg)
        champions = pg.locator('[data-section="champions"]').inner_text()
        assert "Candidates are named to analysts and owners" in champions
        assert pg.locator('a[href^="/adoption/agents"]').count() == 0
        response = pg.goto(f"{live_server.url}/adoption/agents?deployment={ASSIST}")
        assert response is not None
        assert response.status == 403
        assert "analyst and owner roles only" in pg.content()
    finally:
        context.close()
