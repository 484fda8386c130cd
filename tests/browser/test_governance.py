"""Sign-in, sign-out and the audit page in a real browser."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.browser.conftest import ADMIN, ADMIN_PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.browser.conftest import LiveServer


def test_a_signed_out_browser_signs_in_and_out(browser: Browser, live_server: LiveServer) -> None:
    context = browser.new_context()
    errors: list[str] = []
    context.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        pg = context.new_page()
        pg.goto(live_server.url + "/journeys")
        assert pg.url.startswith(live_server.url + "/login?next=")
        pg.fill("#username", ADMIN)
        pg.fill("#password", "not the password at all")
        pg.click("button[type=submit]")
        assert "Wrong username or password" in pg.inner_text("[role=alert]")
        pg.fill("#username", ADMIN)
        pg.fill("#password", ADMIN_PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_url(live_server.url + "/journeys")
        assert pg.inner_text("form.signout span") == ADMIN
        pg.click("form.signout button")
        pg.wait_for_url(live_server.url + "/login")
        pg.goto(live_server.url + "/")
        assert pg.url.startswith(live_server.url + "/login")
    finally:
        context.close()
    # The 401 of the failed sign-in is the only error the browser reports.
    assert all("401" in e for e in errors), errors


def test_the_audit_page_lists_and_filters(page: Page, server: str) -> None:
    page.goto(server + "/audit")
    page.click("text=Verify the hash chain")
    assert "Chain intact" in page.inner_text(".headline")
    actions = page.locator("table.data tbody td:nth-child(4)").all_inner_texts()
    assert "login" in actions
    assert "http.post" in actions  # the seeding through the API
    page.fill("input[name=action]", "login")
    page.click("form.filters button")
    filtered = page.locator("table.data tbody td:nth-child(4)").all_inner_texts()
    assert filtered
    assert all(a.startswith("login") for a in filtered)
