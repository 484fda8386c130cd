"""The weekly update and the monthly review in a real browser: the charts draw from the vendored
Vega (nothing fetched from elsewhere), every problem links to its item, and the PDF downloads."""

from __future__ import annotations

from typing import Any

import httpx

from daytwo.units import fmt_money
from tests.browser.conftest import LiveServer

MONTH = "2026-10"  # the small demo's last full month
WEEK = "2026-W43"
PDF_TIMEOUT_MS = 60_000


def test_the_monthly_review_draws_its_charts(
    page: Any, server: str, live_server: LiveServer
) -> None:
    page.goto(f"{server}/reports/monthly?deployment=care-bot&month={MONTH}")
    page.get_by_role("heading", name="Monthly review").wait_for()
    for chart in ("chart-monthly-trend", "chart-monthly-value"):
        page.locator(f'[data-chart="{chart}"] svg').first.wait_for()
    review = live_server.get_json(f"/api/v1/reports/monthly?deployment=care-bot&month={MONTH}")
    assert review["value"] is not None
    net = fmt_money(review["value"]["net"], "USD")  # as the KPIs write money: "$12,212"
    assert net in page.locator(".figures").inner_text()
    for risk in review["risks"]:
        link = page.locator(f'a[href="{risk["href"]}"]').first
        assert link.inner_text().strip() in (f"#{risk['item_id']}", f"finding {risk['finding_id']}")
    hosts = set(page.evaluate("performance.getEntriesByType('resource').map(e => e.name)"))
    assert all(h.startswith(server) for h in hosts), hosts
    # The PDF is rendered when asked for (WeasyPrint and the charts): on a loaded machine that
    # takes longer than a page's action, and its speed is benched with the reports, not here.
    with page.expect_download(timeout=PDF_TIMEOUT_MS) as download:
        page.get_by_role("link", name="Download PDF").click(timeout=PDF_TIMEOUT_MS)
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


def test_subscribe_to_a_report_from_the_archive_page(
    page: Any, server: str, live_server: LiveServer
) -> None:
    mail = {
        "name": "sponsor-mail", "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": 2525,
        "smtp_security": "none", "sender": "reports@daytwo.example",
        "recipients": ["ops@bank.example"],
    }  # fmt: skip
    r = httpx.post(
        f"{server}/api/v1/notify/channels", json=mail, timeout=30,
        headers={"authorization": f"Bearer {live_server.api_key}"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    page.goto(f"{server}/reports/archive")
    form = page.get_by_role("form", name="Send a report on schedule")
    form.get_by_label("Deployment").select_option("care-assist")
    form.get_by_label("Report").select_option("monthly")
    form.get_by_label("E-mail channel").select_option("sponsor-mail")
    form.get_by_label("To (comma-separated").fill("cfo@bank.example, not-an-address")
    form.get_by_label("Time zone").fill("Europe/Lisbon")
    form.get_by_label("Day of month").fill("2")
    # A bad address: refused whole, said beside the form, what was typed kept.
    form.get_by_role("button", name="Send on schedule").click()
    error = page.get_by_role("form", name="Send a report on schedule").get_by_role("alert")
    assert "'not-an-address' is not an e-mail address" in error.inner_text()
    form = page.get_by_role("form", name="Send a report on schedule")
    assert form.get_by_label("Time zone").input_value() == "Europe/Lisbon"
    assert form.get_by_label("Deployment").input_value() == "care-assist"
    assert live_server.get_json("/api/v1/reports/subscriptions") == []
    form.get_by_label("To (comma-separated").fill("cfo@bank.example")
    form.get_by_role("button", name="Send on schedule").click()
    page.get_by_role("status").filter(has_text="monthly report now goes to sponsor-mail").wait_for()
    row = page.get_by_role("table", name="Scheduled reports").locator("tbody tr")
    assert "day 2 08:00 Europe/Lisbon" in row.inner_text()
    [sub] = live_server.get_json("/api/v1/reports/subscriptions")
    assert (sub["deployment"], sub["kind"], sub["recipients"], sub["day"]) == (
        "care-assist", "monthly", ["cfo@bank.example"], 2,
    )  # fmt: skip
    [entry] = live_server.get_json("/api/v1/audit?action=report.subscribe")
    assert entry["deployment"] == "care-assist"
    assert entry["actor"] == "user:browser-admin"
    assert entry["after"]["recipients"] == ["cfo@bank.example"]
    row.get_by_role("button", name="stop").click()
    page.get_by_role("status").filter(has_text=f"Subscription {sub['id']} stopped").wait_for()
    assert live_server.get_json("/api/v1/reports/subscriptions") == []
    assert live_server.get_json("/api/v1/audit?action=report.unsubscribe")
