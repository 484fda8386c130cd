"""Notifications over HTTP and on the page: secrets never shown, a test message sent, an
alert acknowledged with the signed link from its message, and one JSON error shape."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from daytwo.backlog.models import Item
from daytwo.backlog.owners import create_owner
from daytwo.backlog.schemas import OwnerCreate
from daytwo.clock import aware
from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment
from daytwo.notify import alerts
from daytwo.notify import events as notify_events
from daytwo.store.ledger import DeploymentKind, Ledger
from tests.backlog.conftest import DEPLOYMENT
from tests.notify.conftest import SECRET, make_item
from tests.notify.receivers import WebhookReceiver


def _seed(ledger: Ledger) -> None:
    create_deployment(
        ledger,
        DeploymentCreate(
            name=DEPLOYMENT, kind=DeploymentKind.virtual_agent, journeys=["card_lost"]
        ),
    )
    create_owner(ledger, OwnerCreate(handle="ana", name="Ana"), actor="t")


def test_channels_routes_test_message_log_and_signed_acknowledgement(
    client: TestClient, receiver: WebhookReceiver
) -> None:
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    _seed(ledger)
    r = client.post(
        "/api/v1/notify/channels",
        json={"name": "hook", "kind": "webhook", "url": receiver.url, "secret": SECRET},
    )
    assert r.status_code == 201, r.text
    assert SECRET not in r.text
    assert r.json()["secret"] == "stored encrypted"
    assert SECRET not in client.get("/api/v1/notify/channels").text
    r = client.post("/api/v1/notify/routes", json={"channel": "hook", "max_priority": "P1"})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/notify/channels/hook/test")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered"
    assert receiver.received[-1].signature_ok

    make_item(ledger, "Outage on card_lost", priority="P1")
    settings = client.app.state.settings  # type: ignore[attr-defined]
    alerts.sync_alerts(ledger, settings, DEPLOYMENT)
    r = client.post("/api/v1/notify/deliver")
    assert r.json()["delivered"] == 1
    payload = receiver.received[-1].json()
    assert payload["event"] == "problem.new"
    link = payload["acknowledge_url"]
    path = link.removeprefix(settings.notify_public_url)
    page = client.get("/notify")
    assert page.status_code == 200
    assert 'data-alert="' in page.text
    assert 'data-channel="hook"' in page.text
    assert SECRET not in page.text

    anonymous = TestClient(client.app)
    shown = anonymous.get(path)
    assert shown.status_code == 200
    assert "Outage on card_lost" in shown.text
    assert alerts.list_alerts(ledger)[0].status == "open"  # opening the link changes nothing
    forged = re.sub(r"sig=\w+", "sig=" + "0" * 32, path)
    assert anonymous.get(forged).status_code == 403
    alert_id = payload["alert_id"]
    r = anonymous.post(f"/notify/ack/{alert_id}", data={"sig": "f" * 32, "name": "mallory"})
    assert r.status_code == 403
    sig = path.split("sig=")[1]
    r = anonymous.post(f"/notify/ack/{alert_id}", data={"sig": sig, "name": "Ana Lima"})
    assert r.status_code == 200
    assert 'data-acknowledged="Ana Lima"' in r.text
    [alert] = client.get("/api/v1/notify/alerts").json()
    assert alert["status"] == "acknowledged"
    assert alert["acknowledged_by"] == "Ana Lima"
    item = client.get(f"/api/v1/items/{alert['item_id']}").json()
    assert any(e["action"] == "alert acknowledged" for e in item["history"])

    log = client.get("/api/v1/notify/deliveries").json()
    assert [d["status"] for d in log] == ["delivered", "delivered"]
    detail = client.get(f"/api/v1/notify/deliveries/{log[0]['id']}").json()
    assert detail["log"][0]["ok"] is True


def test_bad_input_gets_one_error_shape_and_stores_nothing(client: TestClient) -> None:
    r = client.post(
        "/api/v1/notify/channels",
        json={"name": "hook", "kind": "webhook", "url": "file:///etc/passwd"},
    )
    assert r.status_code == 400
    assert "must be an http(s) URL" in r.json()["error"]["message"]
    r = client.post("/api/v1/notify/routes", json={"channel": "nope"})
    assert r.status_code == 404
    r = client.put("/api/v1/notify/preferences/ghost", json={"quiet_hours": "22:00-07:00"})
    assert r.status_code == 404
    assert "No owner with handle 'ghost'" in r.json()["error"]["message"]
    assert client.get("/api/v1/notify/channels").json() == []


def test_the_page_says_where_alerts_go_before_any_route_is_set(client: TestClient) -> None:
    page = client.get("/notify")
    assert page.status_code == 200
    assert "No routes and no owner preferences" in page.text
    assert "goes to its owner's contact in the owner directory" in page.text
    r = client.post(
        "/api/v1/notify/channels",
        json={"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook",
              "secret": "a-secret-of-enough-length-here"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/notify/routes", json={"channel": "hook", "max_per_hour": 5})
    assert r.status_code == 201, r.text
    page = client.get("/notify").text
    assert "No routes and no owner preferences" not in page
    assert 'data-route="' in page


def test_the_page_says_what_each_alert_is_about(client: TestClient) -> None:
    """An item's problem and its SLA clock are two alerts with the item's title: the page and
    the API say which is which (and how far the clock has gone)."""
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    settings = client.app.state.settings  # type: ignore[attr-defined]
    _seed(ledger)
    item_id = make_item(ledger, "Outage on card_lost", priority="P1")
    alerts.sync_alerts(ledger, settings, DEPLOYMENT)
    with ledger.session() as session:
        due = aware(session.get(Item, item_id).triage_due)  # type: ignore[union-attr]
    notify_events.sync_slas(ledger, settings, now=due + timedelta(minutes=5))
    body = client.get("/api/v1/notify/alerts").json()
    assert sorted((a["kind"], a["state"]) for a in body) == [
        ("problem", None),
        ("sla", "triage.breached"),
    ]
    assert {a["title"] for a in body} == {"Outage on card_lost"}
    page = client.get("/notify").text
    assert '<td data-about="problem">new problem</td>' in page
    assert '<td data-about="sla">triage late</td>' in page
