"""Alerts and the outbox on SQLite and PostgreSQL: one problem one alert, updates, quiet
hours, escalation and acknowledgement, retries with backoff, dead letters, a crashed worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from daytwo.backlog.history import events_of
from daytwo.notify import alerts, outbox, service
from daytwo.notify.models import Delivery
from daytwo.notify.schemas import ChannelCreate, PreferenceSet, RouteCreate
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT
from tests.notify.conftest import SECRET, make_item, set_item
from tests.notify.receivers import WebhookReceiver

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # 12:00 in Lisbon


def channels(ledger: Ledger, settings: Settings, receiver: WebhookReceiver) -> None:
    for name in ("ana-hook", "ana-escalation", "team-hook"):
        service.create_channel(
            ledger,
            ChannelCreate(name=name, kind="webhook", url=f"{receiver.url}/{name}", secret=SECRET),
            server_key=settings.session_key(), actor="t",
        )  # fmt: skip
    service.set_preference(
        ledger, "ana", PreferenceSet(channel="ana-hook", escalation_channel="ana-escalation")
    )
    service.add_route(
        ledger, RouteCreate(channel="team-hook", deployment=DEPLOYMENT, max_priority="P2"),
        actor="t",
    )  # fmt: skip


def paths(receiver: WebhookReceiver) -> list[str]:
    return sorted(r.path.rsplit("/", 1)[-1] for r in receiver.received)


def test_one_problem_one_alert_then_updates(
    ledger: Ledger, quick_settings: Settings, receiver: WebhookReceiver
) -> None:
    channels(ledger, quick_settings, receiver)
    p2 = make_item(ledger, "Card not arriving: fallback rate up", priority="P2")
    make_item(ledger, "Minor wording issue", priority="P3")  # not worth a message alone
    assert alerts.sync_alerts(ledger, quick_settings, DEPLOYMENT, now=NOW) == 2
    assert alerts.sync_alerts(ledger, quick_settings, DEPLOYMENT, now=NOW) == 0  # deduplicated
    report = outbox.deliver_due(ledger, quick_settings, now=NOW)
    assert report.delivered == 2
    assert paths(receiver) == ["ana-hook", "team-hook"]
    assert all(r.signature_ok for r in receiver.received)
    [alert] = alerts.list_alerts(ledger)
    assert alert.item_id == p2
    assert alert.escalate_at is None  # only P1 escalates

    set_item(ledger, p2, priority="P1")
    assert alerts.sync_alerts(ledger, quick_settings, DEPLOYMENT, now=NOW) == 2
    set_item(ledger, p2, status="verified")
    assert alerts.sync_alerts(ledger, quick_settings, DEPLOYMENT, now=NOW) == 2
    outbox.deliver_due(ledger, quick_settings, now=NOW)
    events = [r.json()["event"] for r in receiver.received if r.path.endswith("ana-hook")]
    assert events == ["problem.new", "problem.priority_raised", "problem.resolved"]
    updates = [r.json() for r in receiver.received if r.path.endswith("ana-hook")]
    assert [u["update"] for u in updates] == [False, True, True]
    assert {u["alert_id"] for u in updates} == {alert.id}
    [alert] = alerts.list_alerts(ledger)
    assert alert.status == "resolved"
    assert alert.events == 3


def test_quiet_hours_hold_p2_but_not_p1(
    ledger: Ledger, quick_settings: Settings, receiver: WebhookReceiver
) -> None:
    channels(ledger, quick_settings, receiver)
    service.set_preference(
        ledger, "ana",
        PreferenceSet(channel="ana-hook", timezone="Europe/Lisbon", quiet_hours="11:00-13:00"),
    )  # fmt: skip
    make_item(ledger, "Slow trend", priority="P2")
    make_item(ledger, "Outage", priority="P1")
    alerts.sync_alerts(ledger, quick_settings, DEPLOYMENT, now=NOW)
    outbox.deliver_due(ledger, quick_settings, now=NOW)
    to_ana = [r.json()["item"]["title"] for r in receiver.received if "ana-hook" in r.path]
    assert to_ana == ["Outage"]
    held = outbox.delivery_log(ledger, status="pending")
    assert [d.channel for d in held] == ["ana-hook"]
    assert held[0].next_attempt_at.astimezone(UTC) == datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
    outbox.deliver_due(ledger, quick_settings, now=datetime(2026, 12, 5, 13, 0, 1, tzinfo=UTC))
    assert len([r for r in receiver.received if "ana-hook" in r.path]) == 2


def test_unacknowledged_p1_escalates_twice_and_acknowledging_stops_it(
    ledger: Ledger, quick_settings: Settings, receiver: WebhookReceiver
) -> None:
    channels(ledger, quick_settings, receiver)
    escalations = RouteCreate(
        channel="team-hook", event_kinds=["alert.escalated"], max_priority="P1"
    )
    service.add_route(ledger, escalations, actor="t")
    item = make_item(ledger, "Outage", priority="P1")
    alerts.sync_alerts(ledger, quick_settings, DEPLOYMENT, now=NOW)
    assert alerts.escalate_due(ledger, quick_settings, now=NOW + timedelta(minutes=29)) == 0
    assert alerts.escalate_due(ledger, quick_settings, now=NOW + timedelta(minutes=31)) == 1
    outbox.deliver_due(ledger, quick_settings, now=NOW + timedelta(minutes=31))
    level1 = [r.json() for r in receiver.received if r.path.endswith("ana-escalation")]
    assert [p["escalation_level"] for p in level1] == [1]
    assert alerts.escalate_due(ledger, quick_settings, now=NOW + timedelta(minutes=62)) == 1
    outbox.deliver_due(ledger, quick_settings, now=NOW + timedelta(minutes=62))
    team = [r.json() for r in receiver.received if r.path.endswith("team-hook")]
    assert [p["event"] for p in team] == ["problem.new", "alert.escalated"]
    assert team[-1]["escalation_level"] == 2
    assert alerts.escalate_due(ledger, quick_settings, now=NOW + timedelta(days=1)) == 0

    [alert] = alerts.list_alerts(ledger)
    acked = alerts.acknowledge(ledger, alert.id, actor="ana", via="api", now=NOW)
    assert acked.status == "acknowledged"
    assert acked.acknowledged_by == "ana"
    with ledger.session() as session:
        history = events_of(session, "item", item)
    assert any(e.action == "alert acknowledged" and e.actor == "ana" for e in history)


def test_acknowledged_p1_does_not_escalate(
    ledger: Ledger, quick_settings: Settings, receiver: WebhookReceiver
) -> None:
    channels(ledger, quick_settings, receiver)
    make_item(ledger, "Outage", priority="P1")
    alerts.sync_alerts(ledger, quick_settings, DEPLOYMENT, now=NOW)
    [alert] = alerts.list_alerts(ledger)
    alerts.acknowledge(ledger, alert.id, actor="ana", via="cli", now=NOW)
    assert alerts.escalate_due(ledger, quick_settings, now=NOW + timedelta(hours=2)) == 0


def test_receiver_down_then_slow_then_back_retries_then_delivers_once(
    ledger: Ledger, quick_settings: Settings, receiver: WebhookReceiver
) -> None:
    settings = quick_settings.model_copy(update={"notify_max_attempts": 5})
    service.create_channel(
        ledger,
        ChannelCreate(name="hook", kind="webhook", url=receiver.url, secret=SECRET, timeout_s=0.5),
        server_key=settings.session_key(), actor="t",
    )  # fmt: skip
    service.add_route(ledger, RouteCreate(channel="hook"), actor="t")
    make_item(ledger, "Outage", priority="P1", owner="cards-team")
    alerts.sync_alerts(ledger, settings, DEPLOYMENT)
    receiver.mode = "down"
    assert outbox.deliver_due(ledger, settings).failed == 1
    receiver.mode, receiver.slow_s = "slow", 1.0
    assert outbox.deliver_due(ledger, settings).failed == 0  # not due yet: backing off
    later = datetime.now(UTC) + timedelta(seconds=11)
    assert outbox.deliver_due(ledger, settings, now=later).failed == 1
    receiver.mode = "up"
    # Due 20 s after the slow attempt ended (the pass's clock plus the attempt's own time, a
    # second or more on a loaded machine); 30 s is before the next wait (40 s) would matter.
    assert outbox.deliver_due(ledger, settings, now=later + timedelta(seconds=30)).delivered == 1
    [delivery] = outbox.delivery_log(ledger)
    detail = outbox.delivery_detail(ledger, delivery.id)
    assert [a.ok for a in detail.log] == [False, False, True]
    assert "answered 503" in detail.log[0].error
    assert "no answer" in detail.log[1].error
    keys = {r.idempotency_key for r in receiver.received}
    assert keys == {delivery.idempotency_key}  # the slow answer may have landed: same key


def test_dead_after_max_attempts_then_retried(
    ledger: Ledger, quick_settings: Settings, receiver: WebhookReceiver
) -> None:
    channels(ledger, quick_settings, receiver)
    make_item(ledger, "Outage", priority="P1")
    alerts.sync_alerts(ledger, quick_settings, DEPLOYMENT, now=NOW)
    receiver.mode = "down"
    at = NOW
    for _ in range(quick_settings.notify_max_attempts):
        outbox.deliver_due(ledger, quick_settings, now=at)
        at += timedelta(hours=2)
    dead = outbox.delivery_log(ledger, status="dead")
    assert len(dead) == 2
    assert all(d.attempts == 3 for d in dead)
    receiver.mode = "up"
    outbox.retry(ledger, dead[0].id)
    assert outbox.deliver_due(ledger, quick_settings).delivered == 1
    assert len(outbox.delivery_log(ledger, status="dead")) == 1


def test_a_worker_killed_mid_delivery_is_taken_over_after_its_lease(
    ledger: Ledger, quick_settings: Settings, receiver: WebhookReceiver
) -> None:
    channels(ledger, quick_settings, receiver)
    make_item(ledger, "Outage", priority="P1")
    alerts.sync_alerts(ledger, quick_settings, DEPLOYMENT, now=NOW)
    # A worker claimed both rows and died before recording anything.
    with ledger.session() as session:
        session.execute(
            update(Delivery).values(status="sending", lease_until=NOW + timedelta(seconds=40))
        )
    assert outbox.deliver_due(ledger, quick_settings, now=NOW + timedelta(seconds=5)).delivered == 0
    report = outbox.deliver_due(ledger, quick_settings, now=NOW + timedelta(seconds=41))
    assert report.delivered == 2
    with ledger.session() as session:
        assert set(session.scalars(select(Delivery.status))) == {"delivered"}
