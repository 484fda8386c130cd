"""Delivery runs only where the server serves: an app built for a test sends nothing on its
own, `daytwo serve`'s app delivers in the background and stops cleanly with the server."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from daytwo.notify import service
from daytwo.notify.outbox import delivery_log
from daytwo.notify.schemas import ChannelCreate, RouteCreate
from daytwo.notify.worker import DeliveryWorker
from daytwo.server import create_app
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger
from tests.notify.conftest import SECRET, make_item
from tests.notify.receivers import WebhookReceiver


def _hook(ledger: Ledger, settings: Settings, receiver: WebhookReceiver) -> None:
    service.create_channel(
        ledger,
        ChannelCreate(name="hook", kind="webhook", url=receiver.url, secret=SECRET),
        server_key=settings.session_key(),
        actor="t",
    )
    service.add_route(ledger, RouteCreate(channel="hook", max_priority="P2"), actor="t")


def _wait(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_an_app_built_without_serving_sends_nothing_on_its_own(
    settings: Settings, lite: Ledger, receiver: WebhookReceiver
) -> None:
    fast = settings.model_copy(update={"notify_deliver_seconds": 0.05})
    _hook(lite, settings, receiver)
    make_item(lite, "Outage on card_lost", priority="P1")
    with TestClient(create_app(fast, ledger=lite)) as client:
        assert client.app.state.delivery is None  # type: ignore[attr-defined]
        time.sleep(0.5)  # ten intervals: a worker would have raised and sent the alert
    assert receiver.received == []
    assert delivery_log(lite) == []


def test_the_serving_app_delivers_in_the_background_and_stops_with_the_server(
    settings: Settings, lite: Ledger, receiver: WebhookReceiver
) -> None:
    fast = settings.model_copy(update={"notify_deliver_seconds": 0.05})
    _hook(lite, settings, receiver)
    make_item(lite, "Outage on card_lost", priority="P1")
    with TestClient(create_app(fast, ledger=lite, serving=True)) as client:
        worker: DeliveryWorker = client.app.state.delivery  # type: ignore[attr-defined]
        assert worker.running
        assert _wait(lambda: len(receiver.received) == 1, 10)
        assert receiver.received[0].json()["event"] == "problem.new"
    assert not worker.running  # the lifespan's end stopped it
    [row] = delivery_log(lite)
    assert row.status == "delivered"


def test_stop_ends_the_pass_after_the_send_in_flight(
    settings: Settings, lite: Ledger, receiver: WebhookReceiver
) -> None:
    """Three alerts to a slow receiver: a stop during the first send ends the pass after it;
    the other two stay pending for the next server, none is half-sent."""
    _hook(lite, settings, receiver)
    for n in range(3):
        make_item(lite, f"Outage {n}", priority="P1")
    receiver.mode, receiver.slow_s = "slow", 0.6
    worker = DeliveryWorker(lite, settings, interval_s=60)
    worker.start()
    assert _wait(lambda: len(delivery_log(lite)) == 3, 10)
    time.sleep(0.2)  # the first send is in flight
    started = time.monotonic()
    assert worker.stop(timeout=10)
    assert time.monotonic() - started < 2.5  # one send, not three
    statuses = sorted(d.status for d in delivery_log(lite))
    assert statuses == ["delivered", "pending", "pending"]
    assert len(receiver.received) == 1
