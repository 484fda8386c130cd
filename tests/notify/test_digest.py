"""An owner who chooses a digest gets one message a day (or week) carrying their non-urgent
events and their backlog at a glance; P1 and team routes are not held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daytwo.notify import alerts, service
from daytwo.notify.calc import digest_slot
from daytwo.notify.digest import send_digests
from daytwo.notify.outbox import deliver_due, delivery_log
from daytwo.notify.schemas import PreferenceSet, RouteCreate
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT
from tests.notify.conftest import make_item, webhooks
from tests.notify.receivers import WebhookReceiver


def test_the_digest_time_in_the_owners_zone() -> None:
    # 07:30 in Lisbon (winter, UTC+0) on Wednesday 2026-12-02: yesterday's 08:00 is the latest.
    now = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    assert digest_slot("daily", "Europe/Lisbon", now) == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert digest_slot("daily", "Asia/Tokyo", now) == datetime(2026, 12, 1, 23, tzinfo=UTC)
    assert digest_slot("weekly", "Europe/Lisbon", now) == datetime(2026, 11, 30, 8, tzinfo=UTC)


def test_a_daily_digest_carries_the_held_events_after_the_owners_backlog(
    ledger: Ledger, settings: Settings, receiver: WebhookReceiver
) -> None:
    webhooks(ledger, settings, receiver, "ana-hook", "team-hook")
    service.add_route(
        ledger, RouteCreate(channel="team-hook", owner="cards-team", max_priority="P2"), actor="t"
    )
    pref = service.set_preference(ledger, "ana", PreferenceSet(channel="ana-hook", digest="daily"))
    assert pref.digest == "daily"
    make_item(ledger, "Address change loops", priority="P2")
    make_item(ledger, "Card block outage", priority="P1")
    make_item(ledger, "Team problem", priority="P2", owner="cards-team")
    alerts.sync_alerts(ledger, settings, DEPLOYMENT)
    deliver_due(ledger, settings)
    sent = [(r.path.rsplit("/", 1)[-1], r.json()["item"]["title"]) for r in receiver.received]
    assert sorted(sent) == [
        ("ana-hook", "Card block outage"), ("team-hook", "Team problem")
    ]  # fmt: skip
    [held] = [d for d in delivery_log(ledger) if d.status == "digest"]

    at = digest_slot("daily", "UTC", datetime.now(UTC) + timedelta(days=1))
    assert send_digests(ledger, settings, now=at - timedelta(days=1, minutes=1)) == 0  # not yet
    assert send_digests(ledger, settings, now=at) == 1
    assert send_digests(ledger, settings, now=at + timedelta(hours=1)) == 0  # once a day
    assert deliver_due(ledger, settings, now=at).delivered == 1
    digest = receiver.received[-1].json()
    assert receiver.received[-1].path.endswith("/ana-hook")
    assert digest["event"] == "digest"
    assert digest["item"]["owner"] == "ana"
    assert [g["idempotency_key"] for g in digest["grouped"]] == [held.idempotency_key]
    assert digest["evidence"][0] == "Open: 1 P1, 1 P2"
    assert digest["evidence"][1].startswith("New: #")
    assert "Address change loops" in digest["evidence"][1]
    assert digest["acknowledge_url"] is None
    assert "Your day in daytwo: 1 message held" in digest["summary"]
    statuses = {d.idempotency_key: d.status for d in delivery_log(ledger)}
    assert statuses[held.idempotency_key] == "grouped"
