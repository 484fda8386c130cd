"""The weekly update and the monthly review in a real browser: the charts draw from the vendored
Vega (nothing fetched from elsewhere), every problem links to its item, and the PDF downloads."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveServer

MONTH = "2026-10"  # the small demo's last full month
WEEK = "2026-W43"


def test_the_monthly_review_draws_its_charts(
    page: Any, server: str, live_server: LiveServer
) -> None:
    page.goto(f"{server}/reports/monthly?deployment=care-bot&month={MONTH}")
    page.get_by_role("heading", name="Monthly review").wait_for()
    for chart in ("chart-monthly-trend", "chart-monthly-value"):
        page.locator(f'[data-chart="{chart}"] svg').first.wait_for()
    review = live_server.get_json(f"/api/v1/reports/monthly?deployment=care-bot&month={MONTH}")
    assert review["value"] is not None
    net = f"{review['value']['net']:,.2f} USD"
    assert net in page.locator(".figures").inner_text()
    for risk in review["risks"]:
        link = page.locator(f'a[href="{risk["href"]}"]').first
        assert link.inner_text().strip() in (f"#{risk['item_id']}", f"finding {risk['finding_id']}")
    hosts = set(page.evaluate("performance.getEntriesByType('resource').map(e => e.name)"))
    assert all(h.startswith(server) for h in hosts), hosts
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == f"care-bot-monthly-{MONTH}.pdf"


def test_the_weekly_update_lists_problems_with_their_items(page: Any, server: str) -> None:
    page.goto(f"{server}/reports/weekly?deployment=care-bot&week={WEEK}")
    page.get_by_role("heading", name="Weekly update").wait_for()
    page.locator('[data-chart="chart-weekly-trend"] svg').first.wait_for()
    heading = page.get_by_role("heading", name="What got worse").inner_text().lower()
    assert "open problem" in heading
    assert "finding" not in heading
    page.get_by_role("link", name="monthly review").click()
    page.get_by_role("heading", name="Monthly review").wait_for()
