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


def test_users_are_administered_in_the_browser(page: Page, server: str) -> None:
    page.goto(server + "/admin/users")
    page.fill("form[aria-label='Create a user'] input[name=username]", "browser-dana")
    page.select_option("form[aria-label='Create a user'] select[name=role]", "owner")
    page.fill("form[aria-label='Create a user'] input[name=grants]", "care-bot")
    page.click("form[aria-label='Create a user'] button")
    password = page.inner_text("[data-secret]")
    assert len(password) >= 16
    row = page.locator("tr[data-user='browser-dana']")
    assert "owner" in row.inner_text()
    assert "care-bot" in row.inner_text()
    row.locator("button[value=disable]").click()
    assert "is disabled" in page.inner_text("[role=status]")
    row = page.locator("tr[data-user='browser-dana']")
    assert "disabled" in row.inner_text()
    row.locator("button[value=reset]").click()
    again = page.inner_text("[data-secret]")
    assert again != password
    page.goto(server + "/admin/users")
    assert password not in page.content()  # shown once, never again
    page.fill("form[aria-label='Create a user'] input[name=username]", "browser-eve")
    page.fill("form[aria-label='Create a user'] input[name=grants]", "no-such-deployment")
    page.click("form[aria-label='Create a user'] button")
    assert "no-such-deployment" in page.inner_text("[role=alert]")
    assert page.locator("tr[data-user='browser-eve']").count() == 0


def test_keys_are_administered_in_the_browser(page: Page, server: str) -> None:
    page.goto(server + "/admin/keys")
    form = "form[aria-label='Create a key']"
    page.select_option(f"{form} select[name=scope]", "ingest")
    page.select_option(f"{form} select[name=deployment]", "care-bot")
    page.fill(f"{form} input[name=name]", "browser crm")
    page.click(f"{form} button")
    secret = page.inner_text("[data-secret]")
    assert secret.startswith("dt_")
    prefix = secret.removeprefix("dt_").split("_")[0]
    row = page.locator(f"tr[data-key='{prefix}']")
    assert row.get_attribute("data-status") == "active"
    row.locator("button[value=expire]").click()
    assert page.locator(f"tr[data-key='{prefix}']").get_attribute("data-status") == "expired"
    page.locator(f"tr[data-key='{prefix}'] button[value=revoke]").click()
    assert page.locator(f"tr[data-key='{prefix}']").get_attribute("data-status") == "revoked"
    page.goto(server + "/audit?action=key.")
    actions = page.locator("table.data tbody td:nth-child(4)").all_inner_texts()
    assert actions[:3] == ["key.revoke", "key.expire", "key.create"]
