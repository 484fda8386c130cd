"""Issued reports are records kept with their document, and scheduled reports go by e-mail
through the notification outbox with the archived PDF attached, once per period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from daytwo.errors import InputError
from daytwo.governance import audit
from daytwo.notify import service as notify_service
from daytwo.notify.outbox import deliver_due, delivery_log
from daytwo.notify.schemas import ChannelCreate
from daytwo.report.archive import get_issued, issue_report
from daytwo.report.schedule import SubscriptionCreate, send_due, subscribe
from daytwo.settings import Settings
from tests.factory import interaction
from tests.notify.receivers import SmtpServer
from tests.report.test_weekly import WEEK, _setup


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def test_an_issued_report_reopens_as_it_was_and_a_reissue_is_a_new_version(
    client: TestClient,
) -> None:
    _setup(client)
    body = {"kind": "weekly", "deployment": "care-bot", "period": WEEK}
    first = client.post("/api/v1/reports/issued", json=body)
    assert first.status_code == 201, first.text
    issued = first.json()
    assert (issued["version"], issued["title"]) == (1, f"care-bot: weekly update, {WEEK}")
    page = client.get(issued["href"])
    assert page.status_code == 200
    ledger = client.app.state.ledger  # type: ignore[attr-defined]
    row = get_issued(ledger, issued["id"], ["care-bot"])
    assert page.text == row.html
    assert "What got worse" in page.text
    pdf = client.get(issued["pdf_href"])
    assert pdf.content == row.pdf
    assert pdf.headers["content-type"] == "application/pdf"
    assert len(pdf.content) == issued["pdf_bytes"]

    # More data arrives; the issued report does not move, a re-issue is version 2.
    more = [interaction(n) for n in range(60, 90)]
    assert client.post("/api/v1/ingest", json={"interactions": more}).status_code < 300
    again = client.post("/api/v1/reports/issued", json=body).json()
    assert again["version"] == 2
    assert client.get(issued["pdf_href"]).content == row.pdf
    assert again["sha256"] != issued["sha256"]
    listed = client.get("/api/v1/reports/issued", params={"deployment": "care-bot"}).json()
    assert [r["version"] for r in listed] == [2, 1]
    archive = client.get("/reports/archive")
    assert archive.status_code == 200
    assert f'href="{issued["pdf_href"]}"' in archive.text
    assert client.get("/reports/archive/999").status_code == 404
    bad = client.post("/api/v1/reports/issued", json={**body, "kind": "daily"})
    assert bad.status_code == 400
    assert client.get("/api/v1/reports/issued").json() == listed  # nothing half-issued


@pytest.fixture
def mailing(client: TestClient, settings: Settings, smtp: SmtpServer) -> tuple[Any, Any]:
    """The weekly data and an e-mail channel to ``smtp``: the app's ledger and events store."""
    _setup(client)
    _mail_channel(client, settings, smtp)
    return client.app.state.ledger, client.app.state.events  # type: ignore[attr-defined]


def _mail_channel(client: TestClient, settings: Settings, smtp: SmtpServer) -> None:
    notify_service.create_channel(
        client.app.state.ledger,  # type: ignore[attr-defined]
        ChannelCreate(
            name="mail", kind="email", smtp_host="127.0.0.1", smtp_port=smtp.port,
            smtp_security="none", sender="reports@daytwo.example",
            recipients=["ops@bank.example"],
        ),
        server_key=settings.session_key(), actor="t",
    )  # fmt: skip


def test_a_scheduled_report_is_mailed_once_with_the_archived_pdf(
    client: TestClient, settings: Settings, smtp: SmtpServer, mailing: tuple[Any, Any]
) -> None:
    ledger, events = mailing
    sub = subscribe(
        ledger,
        SubscriptionCreate(
            deployment="care-bot", kind="weekly", channel="mail", recipients=["cfo@bank.example"],
            weekday=0, hour=8, timezone="Europe/Lisbon",
        ),
        actor="t",
    )  # fmt: skip
    # Monday 2026-03-16 07:30 in Lisbon (UTC+0 in March): not yet time.
    assert send_due(ledger, events, settings, now=datetime(2026, 3, 16, 7, 30, tzinfo=UTC)) == []
    at = datetime(2026, 3, 16, 8, 5, tzinfo=UTC)
    queued = send_due(ledger, events, settings, now=at)
    assert len(queued) == 1
    assert send_due(ledger, events, settings, now=at) == []  # the period is sent once
    report = deliver_due(ledger, settings, now=at)
    assert report.delivered == 1
    [mail] = smtp.messages
    assert mail["To"] == "cfo@bank.example"
    assert mail["Subject"] == "care-bot: weekly update, 2026-W11"
    [attachment] = list(mail.iter_attachments())
    issued = client.get("/api/v1/reports/issued").json()
    assert [(r["period"], r["issued_by"]) for r in issued] == [("2026-W11", "schedule")]
    archived = client.get(issued[0]["pdf_href"]).content
    assert attachment.get_content() == archived  # what was sent is what the archive keeps
    assert attachment.get_filename() == "care-bot-weekly-2026-W11.pdf"
    html = mail.get_body(("html",))
    assert html is not None
    assert "What got worse" in html.get_content()
    [delivery] = delivery_log(ledger)
    assert (delivery.alert_id, delivery.event, delivery.status) == (
        None,
        "report.issued",
        "delivered",
    )
    subs = client.get("/api/v1/reports/subscriptions").json()
    assert [(s["id"], s["last_period"]) for s in subs] == [(sub.id, "2026-W11")]
    assert "report" in client.get("/notify").text


def test_a_report_issued_without_its_pdf_lays_it_out_once_and_mails_those_bytes(
    client: TestClient, settings: Settings, smtp: SmtpServer, mailing: tuple[Any, Any]
) -> None:
    ledger, events = mailing
    row = issue_report(
        ledger, events, kind="weekly", deployment="care-bot", period="2026-W11",
        issued_by="batch", base=settings.notify_public_url,
    )  # fmt: skip
    assert (row.pdf, row.sha256) == (None, "")
    [listed] = client.get("/api/v1/reports/issued").json()
    assert (listed["pdf_bytes"], listed["sha256"]) == (0, "")
    assert "laid out on first download" in client.get("/reports/archive").text
    first = client.get(listed["pdf_href"])
    assert first.status_code == 200
    assert first.content.startswith(b"%PDF")
    kept = get_issued(ledger, row.id, ["care-bot"])
    assert kept.pdf == first.content
    assert client.get(listed["pdf_href"]).content == first.content  # kept, not laid out again
    [after] = client.get("/api/v1/reports/issued").json()
    assert after["pdf_bytes"] == len(first.content)
    assert after["sha256"] == kept.sha256 != ""
    assert "laid out on first download" not in client.get("/reports/archive").text

    # A schedule due for that period mails the archived report, not a new version of it.
    subscribe(
        ledger,
        SubscriptionCreate(deployment="care-bot", kind="weekly", channel="mail"),
        actor="t",
    )
    at = datetime(2026, 3, 16, 8, 5, tzinfo=UTC)
    assert len(send_due(ledger, events, settings, now=at)) == 1
    assert deliver_due(ledger, settings, now=at).delivered == 1
    [mail] = smtp.messages
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content() == first.content
    assert [r["version"] for r in client.get("/api/v1/reports/issued").json()] == [1]


def test_a_subscription_with_bad_input_is_refused_whole(
    client: TestClient, settings: Settings, smtp: SmtpServer
) -> None:
    _setup(client)
    _mail_channel(client, settings, smtp)
    ok = {"deployment": "care-bot", "kind": "monthly", "channel": "mail"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"recipients": ["not-an-address"]}, "not an e-mail address"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"kind": "daily"}, "use one of weekly, monthly"),
        ({"channel": "nowhere"}, "No notification channel"),
    ]
    for change, message in cases:
        r = client.post("/api/v1/reports/subscriptions", json={**ok, **change})
        assert r.status_code in (400, 404), r.text
        assert message in r.text
    assert client.get("/api/v1/reports/subscriptions").json() == []
    ledger = client.app.state.ledger  # type: ignore[attr-defined]
    assert audit.entries(ledger, action="report.") == []  # nothing refused is recorded
    sub = subscribe(ledger, SubscriptionCreate(**ok), actor="t")
    with pytest.raises(InputError, match="already goes to 'mail'"):
        subscribe(ledger, SubscriptionCreate(**ok), actor="t")
    assert client.delete(f"/api/v1/reports/subscriptions/{sub.id}").status_code == 204
    stopped, added = audit.entries(ledger, action="report.")
    assert (added.action, added.actor, added.deployment) == ("report.subscribe", "t", "care-bot")
    assert added.after is not None
    assert added.after["kind"] == "monthly"
    assert stopped.action == "report.unsubscribe"
    assert stopped.before == added.after
