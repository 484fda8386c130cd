"""The weekly update: its numbers are the metrics API's, in the service and in the PDF's text."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from daytwo.cli.main import run
from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment
from daytwo.errors import InputError
from daytwo.ingest.decode import decode_json
from daytwo.plan.service import apply_template, evaluate
from daytwo.report.render import kpi_text, to_pdf, weekly_html
from daytwo.report.weekly import WEEKLY_KPIS, last_full_week, week_bounds, weekly_update
from daytwo.store.events import open_event_store
from daytwo.store.ledger import DeploymentKind, Ledger, upgrade
from daytwo.units import fmt_money
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
        assert kpi_text(api[k.metric]["value"], k.unit, update.value.currency) in text, k.metric
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
    assert run(args) == 0  # the terminal's net value is money as every page writes it
    assert f"net value {fmt_money(body['value']['net'], 'GBP')}" in capsys.readouterr().out
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


def _post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(path, json=body)
    assert r.status_code in (200, 201), f"{path}: {r.text}"
    out: dict[str, Any] = r.json()
    return out


def _pdf_text(pdf: Path, *, layout: bool = True) -> tuple[str, int]:
    """The PDF's text (laid out as on the page, or in reading order) and its page count."""
    mode = ["-layout"] if layout else []
    text = subprocess.run(
        ["pdftotext", *mode, str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    pages = int(next(line for line in info.stdout.splitlines() if line.startswith("Pages:"))[6:])
    return text, pages


def test_every_section_of_the_weekly_update_reads_back_its_api(
    client: TestClient, tmp_path: Path
) -> None:
    """Backlog movement by owner, the feedback loop, what we fixed, the plan's phase, next
    week's focus: each as the API answers it, in the update and in its one-page PDF."""
    now = datetime.now(UTC)
    year, num, _ = now.isocalendar()
    week = f"{year}-W{num:02d}"  # the items and the feedback below are made this week
    r = client.post(
        "/api/v1/deployments",
        json={
            "name": "care-bot", "kind": "virtual_agent", "go_live": "2026-03-02",
            "targets": {"containment_rate": 0.6},
            "cost_model": {"escalation": 5.0, "ai_per_interaction": 0.02},
        },
    )  # fmt: skip
    assert r.status_code == 201, r.text
    batch = [interaction(n, journey="billing" if n % 2 else "card_lost") for n in range(120)]
    assert client.post("/api/v1/ingest", json={"interactions": batch}).status_code < 300
    for handle in ("maria", "joao"):
        _post(client, "/api/v1/owners", {"handle": handle, "name": handle.title()})
    signal = {"volume_per_week": 400, "severity": 3}
    first = _post(
        client,
        "/api/v1/items",
        {
            "deployment": "care-bot",
            "owner": "maria",
            "title": "Card-lost answers miss the replacement time",
            "signal": signal,
        },
    )
    second = _post(
        client,
        "/api/v1/items",
        {
            "deployment": "care-bot",
            "owner": "joao",
            "title": "Billing disputes handed over",
            "signal": {**signal, "severity": 1},
        },
    )
    _post(client, "/api/v1/items", {"deployment": "care-bot", "owner": "joao",
          "title": "Voice greeting too long", "signal": {**signal, "severity": 0}})  # fmt: skip
    _post(client, f"/api/v1/items/{second['id']}/move",
          {"status": "wont_fix", "reason": "the policy requires a person"})  # fmt: skip
    said = _post(client, "/api/v1/feedback", {"deployment": "care-bot",
                 "text": "The bot never says when my new card arrives"})  # fmt: skip
    _post(client, f"/api/v1/feedback/{said['id']}/acknowledge", {"note": "on it"})
    _post(client, f"/api/v1/feedback/{said['id']}/close",
          {"resolution": "Added the replacement time to the card-lost answer"})  # fmt: skip
    _post(client, "/api/v1/feedback", {"deployment": "care-bot", "text": "Too many questions"})
    change = _post(client, "/api/v1/changes", {
        "deployment": "care-bot", "kind": "knowledge", "author": "maria",
        "title": "Knowledge article: replacement times", "metric": "containment_rate",
        "shipped_at": "2026-03-02T05:00:00Z", "journeys": ["card_lost"],
    })  # fmt: skip
    _post(client, f"/api/v1/changes/{change['id']}/impact", {})
    ledger, events = client.app.state.ledger, client.app.state.events  # type: ignore[attr-defined]
    apply_template(ledger, events, "care-bot", actor="test")
    evaluate(ledger, events, "care-bot")

    update = weekly_update(ledger, events, "care-bot", week, now=now)
    items = client.get("/api/v1/items", params={"deployment": "care-bot"}).json()
    overdue = client.get("/api/v1/items", params={"deployment": "care-bot", "overdue": True})
    opened = [i for i in items if i["closed_at"] is None]
    m = update.backlog
    assert (m.opened, m.closed, m.open, m.overdue) == (3, 1, len(opened), len(overdue.json()))
    assert {(o.owner, o.opened, o.closed, o.open) for o in m.by_owner} == {
        ("maria", 1, 0, 1), ("joao", 2, 1, 1),
    }  # fmt: skip
    inbox = client.get("/api/v1/feedback", params={"deployment": "care-bot"}).json()
    f = update.feedback
    assert (f.received, f.acknowledged, f.actioned) == (len(inbox), 1, 1)
    assert (f.acknowledged_in_time, f.actioned_in_time, f.open) == (1, 1, 1)
    [loop] = f.you_said
    assert loop.did == "Added the replacement time to the card-lost answer"
    changes = client.get("/api/v1/changes", params={"deployment": "care-bot"}).json()
    assert [(c.title, c.verdict) for c in update.fixes] == [
        (c["title"], c["verdict"]) for c in changes
    ]
    plan = client.get("/api/v1/plans/care-bot").json()
    assert update.plan is not None
    assert update.plan.lead == plan["status"]["lead"]
    assert [i.id for i in update.focus] == [first["id"]] + [
        i["id"] for i in opened if i["id"] != first["id"]
    ]  # the P-highest first
    assert update.adoption is None  # a virtual agent: its use is its volume

    pdf = tmp_path / "weekly.pdf"
    pdf.write_bytes(to_pdf(weekly_html(f"care-bot: weekly update, {week}", update)))
    text, pages = _pdf_text(pdf)
    assert pages == 1  # one page, skimmable
    flat = " ".join(text.split())
    for heading in ("KPIs", "What got worse", "What we fixed", "Backlog movement",
                    "Feedback loop", "Adoption", "Phase and gate", "Next week's focus",
                    "Value (USD)"):  # fmt: skip
        assert heading in flat, heading
    assert f"All owners 3 1 {len(opened)} {len(overdue.json())}" in flat
    assert "maria 1 0 1" in flat
    assert "joao 2 1 1" in flat
    assert f"Received {len(inbox)}" in flat
    assert "Actioned (closed) 1 1" in flat
    assert "You said “The bot never says when my new card arrives” we did Added the" in flat
    assert plan["status"]["lead"] in flat
    assert "Knowledge article: replacement times" in flat
    assert f"#{first['id']} Card-lost answers miss the replacement time maria" in flat


def test_an_assist_tools_weekly_update_shows_its_adoption_as_the_adoption_api(
    client: TestClient, tmp_path: Path
) -> None:
    r = client.post(
        "/api/v1/deployments",
        json={"name": "care-assist", "kind": "agent_assist",
              "targets": {"suggestion_acceptance_rate": 0.5},
              "cost_model": {"agent_minute": 0.9, "ai_per_interaction": 0.08}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    batch = []
    for n in range(40):
        agent = f"a-{n % 4}"
        rec = interaction(n, deployment="care-assist", agent_ref=agent, ai_used=n % 4 != 0,
                          handle_time_s=300.0 - 60 * (n % 4 != 0))  # fmt: skip
        action = "accepted" if n % 4 != 0 else "dismissed"
        rec["assist_events"] = [
            {"ts": rec["started_at"], "agent_ref": agent, "feature": "suggested_reply",
             "action": a} for a in ("shown", action)
        ]  # fmt: skip
        batch.append(rec)
    r = client.post("/api/v1/ingest", json={"interactions": batch})
    assert r.status_code < 300, r.text
    ledger, events = client.app.state.ledger, client.app.state.events  # type: ignore[attr-defined]
    update = weekly_update(ledger, events, "care-assist", WEEK, now=NOW)
    assert [k.metric for k in update.kpis] == [
        "contact_volume", "suggestion_acceptance_rate", "average_handle_time", "ai_cost",
    ]  # fmt: skip
    start, end = week_bounds(WEEK)
    api = client.get(
        "/api/v1/adoption/care-assist", params={"start": start.isoformat(), "end": end.isoformat()}
    ).json()["headline"]
    assert update.adoption is not None
    a = update.adoption
    assert (a.acceptance, a.usage, a.agents_offered, a.active_weekly) == (
        api["acceptance"], api["usage"], api["agents_offered"], api["active_weekly"],
    )  # fmt: skip
    assert a.acceptance is not None
    assert a.usage is not None
    pdf = tmp_path / "assist.pdf"
    pdf.write_bytes(to_pdf(weekly_html(f"care-assist: weekly update, {WEEK}", update)))
    text, pages = _pdf_text(pdf, layout=False)  # in reading order: the columns apart
    flat = " ".join(text.split())
    assert pages == 1
    assert f"Suggestion acceptance {kpi_text(api['acceptance'], 'rate')} (last week" in flat
    assert f"the AI was used in {kpi_text(api['usage'], 'rate')} of agents'" in flat
    assert f"{api['active_weekly']} of {api['agents_offered']} agents offered it used it" in flat
    assert update.value is not None
    saved = update.value.figure("agent_time_saved")
    assert saved.quantity == pytest.approx(sum(n % 4 != 0 for n in range(40)))  # a minute each
    assert "Agent time saved" in flat
