"""The weekly update: its numbers are the metrics API's, in the service and in the PDF's text."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from daytwo.errors import InputError
from daytwo.report.render import kpi_text, to_pdf, weekly_html
from daytwo.report.weekly import WEEKLY_KPIS, last_full_week, week_bounds, weekly_update
from tests.factory import interaction

WEEK = "2026-W10"  # the factory's conversations start on Monday 2026-03-02
NOW = datetime(2026, 3, 20, tzinfo=UTC)


def _setup(client: TestClient) -> None:
    r = client.post(
        "/api/v1/deployments",
        json={
            "name": "care-bot",
            "kind": "virtual_agent",
            "targets": {"containment_rate": 0.6},
            "cost_model": {"escalation": 5.0, "ai_per_interaction": 0.02},
        },
    )
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/ingest", json={"interactions": [interaction(n) for n in range(60)]})
    assert r.status_code < 300, r.text


def test_the_weekly_pdf_reads_back_the_metrics_api(client: TestClient, tmp_path: Path) -> None:
    _setup(client)
    ledger, events = client.app.state.ledger, client.app.state.events  # type: ignore[attr-defined]
    update = weekly_update(ledger, events, "care-bot", WEEK, currency="GBP", now=NOW)
    start, end = week_bounds(WEEK)
    params = {
        "deployment": "care-bot",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "metric": list(WEEKLY_KPIS),
    }
    api = {p["metric"]: p for p in client.get("/api/v1/metrics", params=params).json()}
    assert [k.metric for k in update.kpis] == list(WEEKLY_KPIS)
    for k in update.kpis:
        assert k.value == pytest.approx(api[k.metric]["value"])
    assert update.kpis[0].value == 60
    assert update.kpis[1].target == 0.6
    assert update.value is not None
    assert update.value.figure("contained_value").amount == pytest.approx(20 * 5.0)
    assert update.missing == []

    pdf = tmp_path / "weekly.pdf"
    pdf.write_bytes(to_pdf(weekly_html(f"care-bot: weekly update, {WEEK}", update)))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert f"care-bot: weekly update, {WEEK}" in text
    for k in update.kpis:
        assert kpi_text(api[k.metric]["value"], k.unit) in text, k.metric
    assert "60.0%" in text  # the containment target
    assert "100.00" in text  # 20 contained × 5.00
    assert f"{update.value.net:,.2f}" in text


def test_an_empty_week_says_what_is_missing_and_a_future_week_is_refused(
    client: TestClient,
) -> None:
    _setup(client)
    ledger, events = client.app.state.ledger, client.app.state.events  # type: ignore[attr-defined]
    empty = weekly_update(ledger, events, "care-bot", "2026-W05", now=NOW)
    assert empty.kpis[0].value in (None, 0)
    assert empty.missing[0] == "no conversations of care-bot in 2026-W05"
    assert empty.value is None
    with pytest.raises(InputError, match="has not started"):
        weekly_update(ledger, events, "care-bot", "2026-W30", now=NOW)
    with pytest.raises(InputError, match="ISO week"):
        week_bounds("2026-48")
    assert last_full_week(NOW) == "2026-W11"
