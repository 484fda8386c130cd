"""The monthly review: its numbers are the metrics API's and the months' values summed, in the
service, the page and the PDF's text; a month without a plan or data says so."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from daytwo.errors import InputError
from daytwo.plan.service import apply_template, evaluate
from daytwo.report.monthly import (
    last_full_month,
    month_bounds,
    monthly_review,
    months_between,
)
from daytwo.report.render import kpi_text, monthly_html, to_pdf
from daytwo.units import fmt_money
from tests.factory import interaction

NOW = datetime(2026, 5, 10, tzinfo=UTC)
# The factory starts on Monday 2026-03-02, seven minutes apart: 60 in March, 30 in April.
MARCH = range(60)
APRIL = range(7000, 7030)


def _setup(client: TestClient, **more: str) -> None:
    r = client.post(
        "/api/v1/deployments",
        json={
            **more,
            "name": "care-bot",
            "kind": "virtual_agent",
            "targets": {"containment_rate": 0.6, "csat": 3.5},
            "cost_model": {
                "escalation": 5.0,
                "ai_per_interaction": 0.02,
                "one_off_investment": 120.0,
            },
        },
    )
    assert r.status_code == 201, r.text
    batch = [interaction(n) for n in (*MARCH, *APRIL)]
    r = client.post("/api/v1/ingest", json={"interactions": batch})
    assert r.status_code < 300, r.text


def test_month_arithmetic() -> None:
    assert month_bounds("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert last_full_month(datetime(2027, 1, 3, tzinfo=UTC)) == "2026-12"
    assert last_full_month(NOW) == "2026-04"
    assert months_between(datetime(2026, 11, 20, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)) == [
        "2026-11",
        "2026-12",
        "2027-01",
    ]
    for bad in ("2026-13", "2026/11", "November"):
        with pytest.raises(InputError, match="month such as 2026-11"):
            month_bounds(bad)


def test_the_monthly_review_reads_back_the_metrics_api(client: TestClient, tmp_path: Path) -> None:
    _setup(client)
    ledger, events = client.app.state.ledger, client.app.state.events  # type: ignore[attr-defined]
    review = monthly_review(ledger, events, "care-bot", "2026-04", now=NOW)
    start, end = month_bounds("2026-04")
    params = {
        "deployment": "care-bot",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "metric": [k.metric for k in review.kpis],
    }
    api = {p["metric"]: p for p in client.get("/api/v1/metrics", params=params).json()}
    assert [k.metric for k in review.kpis][:4] == [
        "contact_volume",
        "containment_rate",
        "escalation_rate",
        "ai_cost",
    ]
    assert "csat" in api  # a metric with a target joins the review's KPIs
    for k in review.kpis:
        assert k.value == pytest.approx(api[k.metric]["value"]), k.metric
    assert review.kpis[0].value == 30
    assert review.kpis[0].previous == 60  # March

    # The month's value and the months since the first data, each priced on its own.
    march = monthly_review(ledger, events, "care-bot", "2026-03", now=NOW)
    assert review.value is not None
    assert march.value is not None
    assert review.value.figure("contained_value").amount == pytest.approx(10 * 5.0)
    assert march.value.figure("contained_value").amount == pytest.approx(20 * 5.0)
    c = review.cumulative
    assert c is not None
    assert [m.month for m in c.months] == ["2026-03", "2026-04"]
    assert c.net == pytest.approx(march.value.net + review.value.net)
    assert c.one_off_investment == 120.0
    assert c.roi == pytest.approx((c.net - 120.0) / (c.costs + 120.0))
    assert c.payback_months is not None
    assert c.payback_months > 0
    assert review.missing == [
        "phase progress against plan: daytwo holds no 90-day plan for this deployment yet"
    ]
    assert {p.metric for p in review.trend} == {"containment_rate", "escalation_rate"}
    assert {d.id for d in review.definitions} >= {"containment_rate", "contained_value", "roi"}

    pdf = tmp_path / "monthly.pdf"
    pdf.write_bytes(to_pdf(monthly_html("care-bot: monthly review, 2026-04", review)))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "care-bot: monthly review, 2026-04" in text
    for k in review.kpis:
        assert kpi_text(api[k.metric]["value"], k.unit, review.value.currency) in text, k.metric
    # The headline amounts are written as the KPIs write money, currency sign and all.
    assert fmt_money(review.value.net, "USD") in text
    assert fmt_money(c.net, "USD") in text
    assert f"({fmt_money(120.0, 'USD')})" in text  # the one-off investment
    assert "USD" not in fmt_money(c.net, "USD")
    assert "2026-03" in text  # the value chart's axis, drawn on the server
    assert "No 90-day plan is recorded" in text
    assert "Appendix: definitions" in text
    assert "Share of conversations the AI resolved without a human." in text


def test_an_empty_or_future_month(client: TestClient) -> None:
    _setup(client)
    ledger, events = client.app.state.ledger, client.app.state.events  # type: ignore[attr-defined]
    empty = monthly_review(ledger, events, "care-bot", "2026-02", now=NOW)
    assert "no conversations of care-bot in 2026-02" in empty.missing
    with pytest.raises(InputError, match="has not started"):
        monthly_review(ledger, events, "care-bot", "2026-06", now=NOW)


def test_the_monthly_page_pdf_and_api(client: TestClient, tmp_path: Path) -> None:
    _setup(client)
    q = {"deployment": "care-bot", "month": "2026-04"}
    page = client.get("/reports/monthly", params=q)
    assert page.status_code == 200, page.text
    assert "Monthly review" in page.text
    assert 'data-chart="chart-monthly-trend"' in page.text
    assert 'data-chart="chart-monthly-value"' in page.text
    assert "/static/vendor/vega-embed.min.js" in page.text
    assert "cdn" not in page.text.lower()
    assert 'href="/metrics#containment_rate"' in page.text
    api = client.get("/api/v1/reports/monthly", params=q)
    assert api.status_code == 200, api.text
    assert api.json()["kpis"][0]["value"] == 30
    r = client.get("/reports/monthly.pdf", params=q)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert client.get("/reports/monthly", params={"deployment": "nobody"}).status_code == 404
    future = client.get("/reports/monthly", params={"deployment": "care-bot", "month": "2999-01"})
    assert future.status_code == 400


def test_a_deployment_with_a_plan_reports_its_phases(client: TestClient, tmp_path: Path) -> None:
    _setup(client, go_live="2026-03-02")
    ledger, events = client.app.state.ledger, client.app.state.events  # type: ignore[attr-defined]
    apply_template(ledger, events, "care-bot", actor="test")
    gates = evaluate(ledger, events, "care-bot")
    review = monthly_review(ledger, events, "care-bot", "2026-04", now=NOW)
    assert not [m for m in review.missing if "plan" in m]
    assert review.plan is not None
    status, phases = review.plan
    assert [p.key for p in phases] == [g.phase for g in gates]
    assert status.headline
    html = monthly_html("care-bot: monthly review, 2026-04", review)
    assert "No 90-day plan is recorded" not in html
    pdf = tmp_path / "monthly.pdf"
    pdf.write_bytes(to_pdf(html))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "Before go-live" not in text
    assert f"{phases[0].start} to {phases[0].end}" in text
    for phase, gate in zip(phases, gates, strict=True):
        assert phase.name in text
        assert f"{gate.met} of {gate.total}" in text
