"""Notify as a pipeline consumer: an analysis that finds a degradation tells its owner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from daytwo.backlog.service import list_items
from daytwo.notify import alerts, outbox, service
from daytwo.notify.schemas import AlertPayload, ChannelCreate, RouteCreate
from daytwo.pipeline import DEFAULT_CONSUMERS, analyze
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import store_of, synthetic_records
from tests.notify.conftest import SECRET
from tests.notify.receivers import WebhookReceiver


@pytest.fixture
def events() -> Iterator[EventStore]:
    # card_lost contains 0.50, then 0.25 from day 20: a degradation the detectors find.
    store = store_of(synthetic_records(effect=-0.25))
    yield store
    store.close()


def test_notify_runs_after_the_backlog() -> None:
    assert DEFAULT_CONSUMERS.index("daytwo.notify.consumer") > DEFAULT_CONSUMERS.index(
        "daytwo.backlog.consumer"
    )


def test_an_analysis_alerts_once_and_a_rerun_sends_nothing_new(
    lite: Ledger, settings: Settings, events: EventStore, receiver: WebhookReceiver
) -> None:
    service.create_channel(
        lite, ChannelCreate(name="hook", kind="webhook", url=receiver.url, secret=SECRET),
        server_key=settings.session_key(), actor="t",
    )  # fmt: skip
    service.add_route(lite, RouteCreate(channel="hook", max_priority="P4"), actor="t")
    (outcome,) = analyze(settings, lite, events, trigger="api", deployment="care-bot")
    assert outcome.failed_consumers == ()
    urgent = [i for i in list_items(lite) if i.priority in ("P1", "P2")]
    raised = alerts.list_alerts(lite)
    assert {a.item_id for a in raised} == {i.id for i in urgent}
    assert urgent, "the degradation should be a P1 or P2 problem"
    # Delivered by the consumer itself (an API-triggered analysis sends at once).
    payloads = [AlertPayload.model_validate(r.json()) for r in receiver.received]
    assert {p.item.id for p in payloads} == {i.id for i in urgent}
    assert all(p.event == "problem.new" for p in payloads)
    assert all(r.signature_ok for r in receiver.received)
    assert all(p.evidence for p in payloads)
    (again,) = analyze(settings, lite, events, trigger="api", deployment="care-bot", force=True)
    assert again.failed_consumers == ()
    assert len(receiver.received) == len(payloads)
    assert len(outbox.delivery_log(lite)) == len(payloads)
