"""The home page in a real browser: data from the API on screen, keyboard, layout; API docs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request

    from tests.browser.conftest import LiveServer

# Reads what the focused element shows as its focus indicator, and what lies behind it.
FOCUS_STYLE_JS = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  let bg = 'rgba(0, 0, 0, 0)';
  for (let n = el.parentElement; n; n = n.parentElement) {
    const c = getComputedStyle(n).backgroundColor;
    if (!/^rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') { bg = c; break; }
  }
  return {
    inMainNav: !!el.closest('nav[aria-label="Main"]'),
    text: (el.textContent || '').trim(),
    focusVisible: el.matches(':focus-visible'),
    outlineStyle: style.outlineStyle,
    outlineWidth: parseFloat(style.outlineWidth) || 0,
    outlineColor: style.outlineColor,
    boxShadow: style.boxShadow,
    background: bg,
  };
}"""


def _rgb(css: str) -> tuple[float, float, float]:
    """An ``rgb()``/``rgba()`` colour as 0..1 channels; a transparent one reads as white."""
    parts = [float(p) for p in re.findall(r"[\d.]+", css)]
    if len(parts) < 3 or (len(parts) == 4 and parts[3] == 0):
        return (1.0, 1.0, 1.0)
    r, g, b = parts[:3]
    return (r / 255, g / 255, b / 255)


def _contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS colours."""

    def luminance(css: str) -> float:
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in _rgb(css)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _count(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def test_home_loads(page: Page, server: str) -> None:
    response = page.goto(server + "/")
    assert response is not None
    assert response.status == 200
    assert "daytwo" in page.title()
    assert page.locator("main h1").inner_text() == "Deployments"
    assert page.locator('nav[aria-label="Main"] a').count() >= 4


def test_seeded_deployment_shows_its_counts(page: Page, live_server: LiveServer) -> None:
    seeded = live_server.seeded
    page.goto(live_server.url + "/")
    row = page.locator(f'section[data-deployment="{seeded.deployment}"]')
    assert row.count() == 1, f"no card for {seeded.deployment} on the home page"
    assert _count(row.locator('[data-count="interactions"]').inner_text()) == seeded.interactions
    assert _count(row.locator('[data-count="turns"]').inner_text()) == seeded.turns
    assert "unregistered" not in row.inner_text()
    # Every deployment the API lists is on the page with the same numbers.
    for d in live_server.get_json("/api/v1/deployments"):
        cells = page.locator(f'section[data-deployment="{d["name"]}"] [data-count]')
        shown = {c.get_attribute("data-count"): _count(c.inner_text()) for c in cells.all()}
        assert shown == {"interactions": d["interactions"], "turns": d["turns"]}, d["name"]


def test_each_deployment_shows_its_health_and_links(page: Page, server: str) -> None:
    page.goto(server + "/")
    bot = page.locator('section[data-deployment="care-bot"]')
    shown = bot.locator("[data-metric]").evaluate_all("els => els.map(e => e.dataset.metric)")
    assert shown[:2] == ["containment_rate", "escalation_rate"]  # a virtual agent's headline
    assist = page.locator('section[data-deployment="care-assist"]')
    metrics = assist.locator("[data-metric]").evaluate_all("els => els.map(e => e.dataset.metric)")
    assert "containment_rate" not in metrics  # nothing an assist tool cannot have
    assert "suggestion_acceptance_rate" in metrics
    for name in ("Overview", "Journeys", "Findings", "Backlog"):
        href = bot.locator("nav.links a", has_text=name).get_attribute("href")
        assert href == f"/{name.lower()}?deployment=care-bot"
    value = bot.locator('[data-metric="containment_rate"] a')
    value.click()
    page.wait_for_url("**/conversations?**metric=containment_rate**")


def test_keyboard_reaches_main_nav_with_visible_focus(page: Page, server: str) -> None:
    page.goto(server + "/")
    links = [t.strip() for t in page.locator('nav[aria-label="Main"] a').all_inner_texts()]
    reached: dict[str, dict[str, Any]] = {}
    for _ in range(len(links) + 6):  # skip link and brand come first
        page.keyboard.press("Tab")
        focused: dict[str, Any] = page.evaluate(FOCUS_STYLE_JS)
        if focused["inMainNav"]:
            reached[focused["text"]] = focused
        if len(reached) == len(links):
            break
    assert list(reached) == links, f"Tab reached {list(reached)} of the main nav {links}"
    for text, f in reached.items():
        assert f["focusVisible"], f"{text}: keyboard focus does not match :focus-visible"
        ring = f["outlineStyle"] != "none" and f["outlineWidth"] >= 1
        assert ring or f["boxShadow"] != "none", f"{text}: no focus indicator ({f})"
        ratio = _contrast(f["outlineColor"], f["background"])
        assert ratio >= 3, (
            f"{text}: focus ring {f['outlineColor']} on {f['background']} has contrast "
            f"{ratio:.2f}:1, WCAG asks for 3:1"
        )


@pytest.mark.parametrize("viewport", [(1280, 800), (1440, 900)], ids=["1280x800", "1440x900"])
def test_home_layout_fits(page: Page, server: str, viewport: tuple[int, int]) -> None:
    page.goto(server + "/")
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert inner_width == viewport[0]
    assert scroll_width <= inner_width, f"horizontal scroll: {scroll_width} > {inner_width}"
    for card in page.locator("section.health-card").all():
        box = card.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= inner_width
    assert page.locator('nav[aria-label="Main"]').is_visible()


def test_api_docs_load_offline(page: Page, server: str) -> None:
    hosts: set[str] = set()

    def on_request(req: Request) -> None:
        hosts.add(urlsplit(req.url).netloc)

    page.on("request", on_request)
    page.goto(server + "/api/docs")
    tags = page.locator("#swagger-ui .opblock-tag")
    tags.first.wait_for(state="visible")
    assert tags.count() >= 3
    tags.first.click()  # operations render when their tag is opened
    page.locator("#swagger-ui .opblock").first.wait_for(state="visible")
    assert page.locator("#swagger-ui button.authorize").is_visible()
    assert "daytwo" in page.locator("#swagger-ui .info .title").inner_text()
    assert hosts == {urlsplit(server).netloc}, f"requests left the server: {sorted(hosts)}"
