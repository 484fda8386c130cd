"""The demo's receiver: the demo's alerts reach it signed, it shows each once, and it refuses
what it cannot verify."""

from __future__ import annotations

import httpx

from daytwo.demo.receiver import CHANNEL, DemoReceiver, wire
from daytwo.notify import alerts, service
from daytwo.notify.outbox import deliver_due, delivery_log
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT
from tests.notify.conftest import make_item


def test_the_demo_receiver_shows_each_alert_once_and_refuses_a_forgery(
    lite: Ledger, settings: Settings
) -> None:
    shown: list[str] = []
    receiver = DemoReceiver(show=shown.append).start()
    try:
        wire(lite, settings, receiver)
        wire(lite, settings, receiver)  # a second demo run replaces, never duplicates
        assert [c.name for c in service.list_channels(lite)] == [CHANNEL]
        make_item(lite, "Card block outage", priority="P1")
        alerts.sync_alerts(lite, settings, DEPLOYMENT)
        assert deliver_due(lite, settings).delivered == 1
        assert shown == [
            "[alert] P1 problem.new · care-bot · A new P1 problem on care-bot: Card block outage."
        ]
        # The same message again (its answer lost): accepted, not shown twice.
        [attempt] = delivery_log(lite)
        deliver_due(lite, settings, only=attempt.id)
        assert len(shown) == 1
        forged = httpx.post(receiver.url, content=b"{}", headers={"X-Daytwo-Timestamp": "1"})
        assert forged.status_code == 401
        assert receiver.rejected == 1
        assert len(receiver.accepted) == 1
    finally:
        receiver.stop()
