"""The weekly update: its numbers are the metrics API's, in the service and in the PDF's text."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from daytwo.cli.main import run
from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment
from daytwo.errors import InputError
from daytwo.ingest.decode import decode_json
from daytwo.report.render import kpi_text, to_pdf, weekly_html
from daytwo.report.weekly import WEEKLY_KPIS, last_full_week, week_bounds, weekly_update
from daytwo.store.events import open_event_store
from daytwo.store.ledger import DeploymentKind, Ledger, upgrade
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
    assert empty.missing == ["no conversations of care-bot in 2026-W05"]
    assert empty.value is not None
    assert empty.value.currency == "USD"  # the deployment's default currency
    with pytest.raises(InputError, match="has not started"):
        weekly_update(ledger, events, "care-bot", "2026-W30", now=NOW)
    with pytest.raises(InputError, match="ISO week"):
        week_bounds("2026-48")
    assert last_full_week(NOW) == "2026-W11"


def test_the_cli_writes_the_weekly_pdf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAYTWO_EVENTS_URL", raising=False)
    monkeypatch.delenv("DAYTWO_LEDGER_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    upgrade(url)
    ledger = Ledger(url)
    create_deployment(
        ledger,
        DeploymentCreate(
            name="care-bot", kind=DeploymentKind.virtual_agent, cost_model={"escalation": 5.0}
        ),
    )
    ledger.dispose()
    with open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}") as store:
        decoded = decode_json(orjson.dumps([interaction(n) for n in range(60)]))
        store.write(decoded.batch, source="t", batch_id="1")
    pdf = tmp_path / "w.pdf"
    args = ["report", "weekly", "-d", "care-bot", "--week", WEEK, "--currency", "GBP"]
    assert run([*args, "--pdf", str(pdf), "--json"]) == 0
    body = orjson.loads(capsys.readouterr().out)
    assert body["kpis"][0]["value"] == 60
    figures = {f["id"]: f for f in body["value"]["figures"]}
    assert figures["contained_value"]["amount"] == pytest.approx(100.0)  # 20 contained × 5.00
    in_total = [f["amount"] for f in figures.values() if f["in_total"]]
    assert body["value"]["net"] == pytest.approx(sum(in_total))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "100.00" in text
    assert run(["report", "weekly", "-d", "care-bot", "--week", "2026-W99"]) != 0
    assert "ISO week" in capsys.readouterr().err


def test_the_weekly_page_and_its_pdf(client: TestClient, tmp_path: Path) -> None:
    _setup(client)
    page = client.get("/reports/weekly", params={"deployment": "care-bot", "week": WEEK})
    assert page.status_code == 200, page.text
    assert "Weekly update" in page.text
    assert "33.3%" in page.text  # containment: 20 of 60
    assert 'aria-current="page">Reports' in page.text
    r = client.get("/reports/weekly.pdf", params={"deployment": "care-bot", "week": WEEK})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(r.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "33.3%" in text
    missing = client.get("/reports/weekly", params={"deployment": "nobody", "week": WEEK})
    assert missing.status_code == 404
    future = client.get("/reports/weekly", params={"deployment": "care-bot", "week": "2999-W01"})
    assert future.status_code == 400
