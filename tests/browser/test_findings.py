"""The findings page in a real browser: analysed demo, filters in the URL, evidence links."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import LiveServer


@pytest.fixture(scope="module")
def analysed(live_server: LiveServer) -> list[dict[str, Any]]:
    """Run the detectors inside the live server (the API), then list what they found."""
    r = httpx.post(
        live_server.url + "/api/v1/findings/analyze",
        headers={"authorization": f"Bearer {live_server.api_key}"},
        timeout=300,
    )
    assert r.status_code == 200, r.text[:500]
    findings: list[dict[str, Any]] = live_server.get_json("/api/v1/findings")
    assert findings, "the demo's injected problems produce findings"
    return findings


def _problems(analysed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The open findings the list shows as rows: those no other open finding explains."""
    shown = [f for f in analysed if f["status"] in ("open", "regressed")]
    prints = {f["fingerprint"] for f in shown}
    return [f for f in shown if f["details"].get("root") not in prints]


def test_findings_page_loads_clean(page: Any, server: str, analysed: list[dict[str, Any]]) -> None:
    page.goto(server + "/findings", wait_until="networkidle")
    count = int(page.locator('[data-testid="finding-count"]').inner_text())
    assert count == len(_problems(analysed))  # one row per problem, symptoms below
    assert page.locator("tr[data-finding]").count() == count
    page.wait_for_selector(".chart svg", timeout=10_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, "horizontal scroll at 1280 px"


def test_filters_live_in_the_url(page: Any, server: str, analysed: list[dict[str, Any]]) -> None:
    kind = analysed[0]["kind"]
    page.goto(server + "/findings", wait_until="networkidle")
    page.select_option('select[name="kind"]', kind)
    page.click('form.scope button[type="submit"]')
    page.wait_for_url(f"**/findings?**kind={kind}**")
    kinds = set(
        page.locator("tr[data-finding]").evaluate_all("rows => rows.map(r => r.dataset.kind)")
    )
    assert kinds == {kind}
    page.reload(wait_until="networkidle")
    assert page.locator('select[name="kind"]').input_value() == kind


def test_evidence_opens_the_conversations(
    page: Any, server: str, analysed: list[dict[str, Any]]
) -> None:
    with_evidence = next(f for f in _problems(analysed) if f["evidence"])
    # Each page settles before the next click: a navigation aborts what is still loading.
    page.goto(
        server + f"/findings?deployment={with_evidence['scope']['deployment']}",
        wait_until="networkidle",
    )
    row = page.locator(f'tr[data-finding="{with_evidence["id"]}"]')
    row.get_by_role("link", name="conversations").click()
    page.wait_for_url("**/conversations?**")
    page.wait_for_load_state("networkidle")
    assert f"deployment={with_evidence['scope']['deployment']}" in page.url
    page.go_back(wait_until="networkidle")
    row = page.locator(f'tr[data-finding="{with_evidence["id"]}"]')
    row.locator(f'a[href$="/{with_evidence["evidence"][0]}"]').click()
    page.wait_for_url(f"**/conversations/**/{with_evidence['evidence'][0]}**")
    page.wait_for_load_state("networkidle")
    assert page.locator("body").inner_text()


def test_nav_reaches_findings(page: Any, server: str, analysed: list[dict[str, Any]]) -> None:
    page.goto(server + "/overview?deployment=care-bot", wait_until="networkidle")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Findings").click()
    page.wait_for_url("**/findings**")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text().startswith("Findings")


def test_a_problem_opens_its_page_with_the_trend_and_its_symptoms(
    page: Any, server: str, analysed: list[dict[str, Any]]
) -> None:
    shown = [f for f in analysed if f["status"] in ("open", "regressed")]
    roots = {f["details"].get("root") for f in shown} - {None}
    root = next(
        (f for f in _problems(analysed) if f["fingerprint"] in roots and f["scope"]["metric"]),
        None,
    )
    assert root is not None, "the demo's site-wide adoption drop explains its teams'"
    page.goto(
        server + f"/findings?deployment={root['scope']['deployment']}", wait_until="networkidle"
    )
    row = page.locator(f'tr[data-finding="{root["id"]}"]')
    symptoms = int(row.locator("[data-symptoms]").get_attribute("data-symptoms") or 0)
    assert symptoms >= 1
    row.get_by_role("link", name=root["title"]).click()
    page.wait_for_url(f"**/findings/{root['id']}")
    page.wait_for_selector("#chart-finding ~ * svg, .chart svg", timeout=10_000)
    assert page.locator("tr[data-symptom]").count() == symptoms
    assert page.locator("[data-first-seen]").inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, "horizontal scroll at 1280 px"
    page.locator("tr[data-symptom] a").first.click()
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-root] a").get_attribute("href") == f"/findings/{root['id']}"
