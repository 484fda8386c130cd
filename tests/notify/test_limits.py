"""A channel's rate limit groups an alert storm into one message and never drops an event."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from daytwo.notify import alerts, service
from daytwo.notify.enqueue import enqueue_document
from daytwo.notify.messages import slack_message
from daytwo.notify.outbox import deliver_due, delivery_log
from daytwo.notify.schemas import AlertPayload, ChannelCreate, DocumentPayload, RouteCreate
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT
from tests.notify.conftest import SECRET, make_item
from tests.notify.receivers import SmtpServer, WebhookReceiver


def test_a_storm_beyond_the_limit_is_grouped_and_every_event_arrives(
    ledger: Ledger, settings: Settings, receiver: WebhookReceiver
) -> None:
    service.create_channel(
        ledger,
        ChannelCreate(
            name="hook", kind="webhook", url=receiver.url, secret=SECRET, max_per_hour=3
        ),
        server_key=settings.session_key(), actor="t",
    )  # fmt: skip
    service.add_route(ledger, RouteCreate(channel="hook", max_priority="P2"), actor="t")
    for n in range(10):
        make_item(
            ledger, f"Problem {n}", priority="P1" if n in (4, 7) else "P2", owner="cards-team"
        )
    assert alerts.sync_alerts(ledger, settings, DEPLOYMENT) == 10
    queued = {d.idempotency_key for d in delivery_log(ledger)}

    report = deliver_due(ledger, settings)
    assert report.delivered == 3  # the limit: two alone, the other eight in one message
    bodies = [r.json() for r in receiver.received]
    alone = [b for b in bodies if b["event"] != "grouped"]
    [group] = [b for b in bodies if b["event"] == "grouped"]
    assert sorted(b["item"]["title"] for b in alone) == ["Problem 4", "Problem 7"]  # the P1s
    assert len(group["grouped"]) == 8
    assert group["item"]["priority"] == "P2"
    assert group["acknowledge_url"] is None
    assert "8 alerts arrived beyond this channel's 3 messages an hour" in group["summary"]
    carried = {g["idempotency_key"] for g in group["grouped"]}
    assert carried | {b["idempotency_key"] for b in alone} == queued  # none lost
    assert all(r.signature_ok for r in receiver.received)
    log = delivery_log(ledger)
    assert sorted(d.status for d in log).count("grouped") == 8
    assert [a.kind for a in alerts.list_alerts(ledger)].count("grouped") == 0  # log only
    AlertPayload.model_validate(group)  # the documented schema
    blocks = slack_message(AlertPayload.model_validate(group))["blocks"]
    assert any("Problem 3" in str(b) for b in blocks)

    # The hour is used up: two more wait (not sent, not dropped) until it frees a slot.
    make_item(ledger, "Problem 10", priority="P2", owner="cards-team")
    make_item(ledger, "Problem 11", priority="P2", owner="cards-team")
    alerts.sync_alerts(ledger, settings, DEPLOYMENT)
    assert deliver_due(ledger, settings).delivered == 0
    waiting = [d for d in delivery_log(ledger) if d.status == "pending"]
    assert len(waiting) == 2
    sent_at = max(d.delivered_at for d in log if d.delivered_at)
    for d in waiting:
        assert d.next_attempt_at.astimezone(UTC) >= sent_at.astimezone(UTC)
    later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    assert deliver_due(ledger, settings, now=later).delivered == 2
    assert len(receiver.received) == 5


def test_a_report_is_never_held_or_grouped_by_a_limit(
    lite: Ledger, settings: Settings, smtp: SmtpServer
) -> None:
    """Documents (issued reports) on a limited e-mail channel go out one by one, whole."""
    service.create_channel(
        lite,
        ChannelCreate(
            name="mail", kind="email", smtp_host="127.0.0.1", smtp_port=smtp.port,
            smtp_security="none", smtp_username="daytwo", secret="mail-pass",
            sender="reports@daytwo.example", recipients=["board@bank.example"], max_per_hour=1,
        ),
        server_key=settings.session_key(), actor="t",
    )  # fmt: skip
    now = datetime.now(UTC)
    with lite.session() as session:
        for week in (1, 2, 3):
            doc = DocumentPayload(
                idempotency_key=f"report-{week}", occurred_at=now, deployment=DEPLOYMENT,
                subject=f"Weekly report {week}", text="See the attachment.", html="<p>See</p>",
                attachment_name=f"week-{week}.pdf",
                attachment_b64=base64.b64encode(b"%PDF-1.4").decode(),
            )  # fmt: skip
            enqueue_document(session, "mail", doc, recipients=None, now=now)
    assert deliver_due(lite, settings).delivered == 3
    assert sorted(m["Subject"] for m in smtp.messages) == [
        "Weekly report 1", "Weekly report 2", "Weekly report 3"
    ]  # fmt: skip


def test_a_route_s_limit_lets_p1_through_and_groups_the_rest(
    ledger: Ledger, settings: Settings, receiver: WebhookReceiver
) -> None:
    """The on-call route takes at most 3 messages an hour; the team's route has no limit."""
    for name in ("oncall", "team"):
        service.create_channel(
            ledger,
            ChannelCreate(name=name, kind="webhook", url=f"{receiver.url}/{name}", secret=SECRET),
            server_key=settings.session_key(), actor="t",
        )  # fmt: skip
    limited = service.add_route(
        ledger, RouteCreate(channel="oncall", max_priority="P2", max_per_hour=3), actor="t"
    )
    assert limited.max_per_hour == 3
    service.add_route(ledger, RouteCreate(channel="team", max_priority="P2"), actor="t")
    for n in range(10):
        make_item(
            ledger, f"Problem {n}", priority="P1" if n in (4, 7) else "P2", owner="cards-team"
        )
    assert alerts.sync_alerts(ledger, settings, DEPLOYMENT) == 20
    oncall_keys = {d.idempotency_key for d in delivery_log(ledger) if d.channel == "oncall"}

    assert deliver_due(ledger, settings).delivered == 13  # the team's 10, the on-call's 3
    oncall = [r.json() for r in receiver.received if r.path.endswith("/oncall")]
    alone = sorted(b["item"]["title"] for b in oncall if b["event"] != "grouped")
    assert alone == ["Problem 4", "Problem 7"]  # the P1s broke through, and counted
    [group] = [b for b in oncall if b["event"] == "grouped"]
    assert f"8 alerts arrived beyond route {limited.id}'s 3 messages an hour" in group["summary"]
    carried = {g["idempotency_key"] for g in group["grouped"]}
    assert carried | {b["idempotency_key"] for b in oncall if b["event"] != "grouped"} == (
        oncall_keys
    )  # none lost
    log = [d for d in delivery_log(ledger) if d.channel == "oncall"]
    assert sorted(d.status for d in log).count("grouped") == 8  # visible in the log

    # The hour is used up: a P2 waits for a free slot, a P1 goes at once.
    make_item(ledger, "Problem 10", priority="P2", owner="cards-team")
    make_item(ledger, "Problem 11", priority="P1", owner="cards-team")
    alerts.sync_alerts(ledger, settings, DEPLOYMENT)
    before = len(receiver.received)
    assert deliver_due(ledger, settings).delivered == 3  # the team's 2, the on-call's P1
    titles = [r.json()["item"]["title"] for r in receiver.received[before:]]
    assert sorted(titles) == ["Problem 10", "Problem 11", "Problem 11"]
    [waiting] = [d for d in delivery_log(ledger) if d.status == "pending"]
    assert waiting.channel == "oncall"
    later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    assert deliver_due(ledger, settings, now=later).delivered == 1


@pytest.mark.parametrize("limit", [0, -3, 10_001])
def test_a_route_s_limit_out_of_range_is_refused_at_creation(limit: int) -> None:
    with pytest.raises(ValidationError, match="max_per_hour"):
        RouteCreate(channel="oncall", max_per_hour=limit)
