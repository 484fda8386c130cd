"""The fast checks' findings and alerts over time: a continuing alarm, a later alarm of a
problem that already has an alert, and the daily analysis' findings of the same problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select

from daytwo.backlog.calc import problem_of
from daytwo.backlog.intake import absorb_detected
from daytwo.backlog.models import Item, ItemFinding
from daytwo.backlog.policy import BacklogPolicy
from daytwo.detect import service as detect_service
from daytwo.detect.findings import Finding, FindingScope, Impact, Measure, Severity
from daytwo.detect.schemas import FindingFilter
from daytwo.detect.service import list_findings
from daytwo.ingest.decode import decode_json
from daytwo.notify import calc, service
from daytwo.notify import events as notify_events
from daytwo.notify.alerts import list_alerts, sync_alerts
from daytwo.notify.live import FEED_SOURCE, TRAFFIC_SOURCE, record_live
from daytwo.notify.models import Alert
from daytwo.notify.outbox import deliver_due
from daytwo.notify.schemas import RouteCreate
from daytwo.notify.traffic import Baselines, traffic_windows
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT
from tests.factory import interaction
from tests.notify.conftest import set_item, webhooks
from tests.notify.receivers import WebhookReceiver
from tests.notify.test_events import _calm

NOW = datetime(2026, 11, 9, 10, 7, tzinfo=UTC)


def _spike(
    value: float, *, at: datetime, kind: str = "error_spike", metric: str = "error_rate",
    severity: Severity = Severity.critical,
) -> Finding:  # fmt: skip
    return Finding(
        detector=TRAFFIC_SOURCE, kind=kind, title=f"Spike at {value:.0%}",
        scope=FindingScope(DEPLOYMENT, metric=metric), severity=severity,
        first_seen=at - timedelta(minutes=5), last_seen=at, baseline=Measure(0.03, 420),
        current=Measure(value, 40), impact=Impact(interactions_per_week=value * 80_640),
    )  # fmt: skip


def _record(ledger: Ledger, findings: list[Finding]) -> set[str]:
    run = detect_service.start_run(ledger, DEPLOYMENT, ["degradation"])
    at = findings[0].last_seen
    recorded = detect_service.record_findings(
        ledger, run, DEPLOYMENT, ["degradation"], findings, since=None, data_through=at,
        interactions=1000,
    )  # fmt: skip
    absorb_detected(ledger, BacklogPolicy(), deployment=DEPLOYMENT, only=recorded.new_fingerprints)
    return set(recorded.new_fingerprints)


def _items(ledger: Ledger) -> dict[int, list[str]]:
    with ledger.session() as session:
        links = session.execute(select(ItemFinding.item_id, ItemFinding.kind)).all()
    out: dict[int, list[str]] = {}
    for item_id, kind in links:
        out.setdefault(item_id, []).append(kind)
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize(
    ("recorded", "value", "severity", "minutes", "rewritten"),
    [
        (0.30, 0.31, 4, 1, False),  # the same alarm a minute on
        (0.30, 0.20, 4, 14, False),  # a third lower: not half
        (0.30, 0.45, 4, 2, True),  # half again
        (0.30, 0.10, 4, 2, True),  # two thirds lower
        (0.30, 0.30, 3, 2, True),  # its severity changed
        (0.30, 0.30, 4, 15, True),  # a quarter of an hour since it was written
        (None, 0.30, 4, 2, True),
    ],
)
def test_a_continuing_alarm_is_rewritten_on_a_change_or_every_quarter_hour(
    recorded: float | None, value: float, severity: int, minutes: int, rewritten: bool
) -> None:
    then = NOW - timedelta(minutes=minutes)
    judged = calc.worth_recording(
        recorded_value=recorded, recorded_severity=4, recorded_at=then, value=value,
        severity=severity, now=NOW,
    )  # fmt: skip
    assert judged is rewritten


def test_a_continuing_alarm_does_not_rewrite_its_finding_every_minute(
    ledger: Ledger, settings: Settings
) -> None:
    """A spike alarming for 20 minutes at about the same level is written when it starts, when
    it doubles and a quarter of an hour after that; it stays open throughout."""
    written = []
    for minute, value in enumerate([0.30, 0.32, 0.29, 0.31, 0.62, 0.60, *[0.61] * 15]):
        at = NOW + timedelta(minutes=minute)
        record_live(ledger, settings, DEPLOYMENT, TRAFFIC_SOURCE, [_spike(value, at=at)], now=at)
        [f] = list_findings(ledger, FindingFilter(deployment=DEPLOYMENT, detector=TRAFFIC_SOURCE))
        assert f.status == "open"
        written.append((f.last_seen, f.current.value if f.current else None))
    assert sorted(set(written)) == [
        (NOW, 0.30), (NOW + timedelta(minutes=4), 0.62), (NOW + timedelta(minutes=19), 0.61),
    ]  # fmt: skip
    assert written[3] == (NOW, 0.30)  # still the first version after three minutes
    with ledger.session() as session:
        [item] = session.scalars(select(Item)).all()
    assert item.status != "resolved"
    # Once the alarm is over, the finding resolves at once.
    done = NOW + timedelta(minutes=21)
    assert record_live(ledger, settings, DEPLOYMENT, TRAFFIC_SOURCE, [], now=done) == {}
    [f] = list_findings(ledger, FindingFilter(deployment=DEPLOYMENT, detector=TRAFFIC_SOURCE))
    assert f.status == "resolved"


def test_the_daily_freshness_gap_joins_the_item_of_a_silent_feed(
    ledger: Ledger, settings: Settings
) -> None:
    silent = Finding(
        detector=FEED_SOURCE, kind="feed_silent", title="No data from care-bot",
        scope=FindingScope(DEPLOYMENT, metric="contact_volume"), severity=Severity.critical,
        first_seen=NOW - timedelta(hours=3), last_seen=NOW, baseline=Measure(12.0, 0),
        current=Measure(0.0, 0),
    )  # fmt: skip
    owned = record_live(ledger, settings, DEPLOYMENT, FEED_SOURCE, [silent], now=NOW)
    gap = Finding(
        detector="feed_quality", kind="freshness_gap", title="No data for 3 hours",
        scope=FindingScope(DEPLOYMENT), severity=Severity.high,
        first_seen=NOW - timedelta(hours=3), last_seen=NOW, baseline=Measure(300.0, 4),
        current=Measure(0.0, 3), key=("2026-11-09T07",),
    )  # fmt: skip
    _record(ledger, [gap])
    assert _items(ledger) == {owned[silent.fingerprint].item_id: ["feed_silent", "freshness_gap"]}


def test_a_live_latency_alarm_joins_the_daily_latency_finding(
    ledger: Ledger, settings: Settings
) -> None:
    """The daily analysis judges the mean latency; the fast checks its p95: one problem."""
    daily = Finding(
        detector="degradation", kind="degradation", title="Answers slower",
        scope=FindingScope(DEPLOYMENT, metric="latency_mean"), severity=Severity.high,
        first_seen=NOW - timedelta(days=1), last_seen=NOW, baseline=Measure(800.0, 900),
        current=Measure(1900.0, 300),
    )  # fmt: skip
    other = Finding(
        detector="degradation", kind="degradation", title="Errors worse",
        scope=FindingScope(DEPLOYMENT, metric="error_rate"), severity=Severity.high,
        first_seen=NOW - timedelta(days=1), last_seen=NOW, baseline=Measure(0.02, 900),
        current=Measure(0.06, 300),
    )  # fmt: skip
    _record(ledger, [daily, other])
    slow = _spike(2400.0, at=NOW, kind="latency_spike", metric="latency_p95")
    owned = record_live(ledger, settings, DEPLOYMENT, TRAFFIC_SOURCE, [slow], now=NOW)
    items = _items(ledger)
    assert items[owned[slow.fingerprint].item_id] == ["degradation", "latency_spike"]
    assert len(items) == 2  # the error rate's item is another problem


@pytest.mark.parametrize(
    ("kind", "metric", "problem"),
    [
        ("degradation", "latency_mean", "latency"),
        ("latency_spike", "latency_p95", "latency"),
        ("target_breach", "latency_p99", "latency"),
        ("freshness_gap", None, "contact_volume"),
        ("feed_silent", "contact_volume", "contact_volume"),
        ("degradation", "error_rate", "error_rate"),
        ("volume_anomaly", None, None),
    ],
)
def test_the_problem_a_deployment_wide_finding_is_about(
    kind: str, metric: str | None, problem: str | None
) -> None:
    assert problem_of(kind, metric) == problem


def test_a_live_spike_on_a_problem_with_an_alert_is_an_update_of_that_alert(
    ledger: Ledger, settings: Settings, events: EventStore, receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The daily analysis found the error rate worse (a P2 alert went out); an error spike on
    the same deployment is that problem's: its spike, recovery and a second spike are updates
    of the same alert (raised to P1, escalating), never an alert of their own."""
    webhooks(ledger, settings, receiver, "oncall")
    service.add_route(ledger, RouteCreate(channel="oncall", max_priority="P4"), actor="t")
    day0 = NOW.replace(hour=0, minute=0) - timedelta(days=4)
    n = 0
    for day in range(4):  # 240 conversations: enough to know the usual share
        _calm(events, day0 + timedelta(days=day, hours=10), n, 60, monkeypatch, errors=2)
        n += 60
    today = day0 + timedelta(days=4, hours=10)
    daily = Finding(
        detector="degradation", kind="degradation", title="Turn errors worse",
        scope=FindingScope(DEPLOYMENT, metric="error_rate"), severity=Severity.high,
        first_seen=today - timedelta(days=1), last_seen=today, baseline=Measure(0.02, 420),
        current=Measure(0.06, 300),
    )  # fmt: skip
    _record(ledger, [daily])
    with ledger.session() as session:
        [item_id] = session.scalars(select(Item.id)).all()
    set_item(ledger, item_id, priority="P2")
    assert sync_alerts(ledger, settings, DEPLOYMENT, now=today) == 1
    baselines = Baselines()

    def check(at: datetime) -> int:
        return notify_events.check_traffic(ledger, events, settings, now=at, baselines=baselines)

    _calm(events, today + timedelta(minutes=1), n, 40, monkeypatch, errors=12)
    n += 40
    assert check(today + timedelta(minutes=2)) == 1
    _calm(events, today + timedelta(minutes=8), n, 40, monkeypatch, errors=1)
    n += 40
    assert check(today + timedelta(minutes=9)) == 1
    _calm(events, today + timedelta(minutes=20), n, 40, monkeypatch, errors=14)
    assert check(today + timedelta(minutes=21)) == 1
    assert sync_alerts(ledger, settings, DEPLOYMENT, now=today + timedelta(minutes=21)) == 0
    deliver_due(ledger, settings)
    sent = [r.json() for r in receiver.received]
    assert [(m["event"], m["update"]) for m in sent] == [
        ("problem.new", False), ("traffic.error_spike", True), ("traffic.recovered", True),
        ("traffic.error_spike", True),
    ]  # fmt: skip
    assert len({m["alert_id"] for m in sent}) == 1
    assert len({m["idempotency_key"] for m in sent}) == 4
    [alert] = list_alerts(ledger)  # one problem, one alert
    assert (alert.kind, alert.priority, alert.status) == ("problem", "P1", "open")
    assert alert.escalate_at is not None
    with ledger.session() as session:
        live = session.scalar(select(Alert).where(Alert.kind == "traffic"))
        assert live is not None
        assert (live.status, live.state, live.escalate_at) == ("merged", "spike", None)
    assert notify_events.raise_due(ledger, settings, None, now=today + timedelta(minutes=22)) == 0


def _arrive(
    store: EventStore, at: datetime, first: int, mp: pytest.MonkeyPatch,
    journeys: dict[str, tuple[int, int]],
) -> int:  # fmt: skip
    """Conversations arriving at ``at``: per journey, (how many, how many with an error
    turn). Returns the next free id."""
    mp.setattr("daytwo.store.events.duckdb.utc_now", lambda: at)
    records = []
    k = first
    for journey, (n, errors) in journeys.items():
        for j in range(n):
            rec = interaction(k, turns=2)
            rec["journey"] = journey
            rec["turns"][1]["latency_ms"] = 400 + (k * 37) % 600
            rec["turns"][1]["fallback"] = False
            if j < errors:
                rec["turns"][1]["error"] = "upstream timeout"
            records.append(rec)
            k += 1
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    store.write(decoded.batch, source="t", batch_id=f"j{first}")
    return k


def test_a_journey_s_spike_alarms_where_its_volume_allows(
    ledger: Ledger, settings: Settings, events: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four days of 10:00s: card_lost 60 conversations (2 with errors), billing 400 (12), a
    rare journey 20 (none). Today card_lost has 12 errors in 40 and the rare journey 6 in 20:
    the deployment as a whole (7.5% against 2.9%) is within chance, card_lost is not; the
    rare journey is not judged (80 conversations do not say what is usual for it)."""
    day0 = NOW.replace(hour=10, minute=0) - timedelta(days=4)
    n = 0
    usual = {"card_lost": (60, 2), "billing": (400, 12), "rare": (20, 0)}
    for day in range(4):
        n = _arrive(events, day0 + timedelta(days=day), n, monkeypatch, usual)
    today = day0 + timedelta(days=4)
    n = _arrive(events, today, n, monkeypatch,
                {"card_lost": (40, 12), "billing": (300, 9), "rare": (20, 6)})  # fmt: skip
    at = today + timedelta(minutes=1)
    windows = traffic_windows(events, now=at, baselines=Baselines())
    assert set(windows) == {
        (DEPLOYMENT, None), (DEPLOYMENT, "billing"), (DEPLOYMENT, "card_lost"),
    }  # fmt: skip
    errors = {scope: next(s for s in w.signals if s.name == "errors") for scope, w in
              windows.items()}  # fmt: skip
    assert errors[(DEPLOYMENT, "card_lost")].alarm == "spike"
    assert errors[(DEPLOYMENT, None)].alarm is None
    assert errors[(DEPLOYMENT, "billing")].alarm is None
    # A journey's volume is judged from 10 conversations a window, usually: billing's 400 an
    # hour make 16.7 a window, card_lost's 60 only 2.5.
    volume = {scope for scope, w in windows.items() for s in w.signals if s.name == "volume"}
    assert volume == {(DEPLOYMENT, None), (DEPLOYMENT, "billing")}
    assert notify_events.check_traffic(ledger, events, settings, now=at) == 0  # no route
    [finding] = list_findings(ledger, FindingFilter(deployment=DEPLOYMENT, detector=TRAFFIC_SOURCE))
    assert (finding.kind, finding.scope.journey, finding.scope.metric) == (
        "error_spike", "card_lost", "error_rate",
    )  # fmt: skip
    with ledger.session() as session:
        [alert] = session.scalars(select(Alert)).all()
        [item] = session.scalars(select(Item)).all()
    assert alert.dedupe_key == f"errors:{DEPLOYMENT}:card_lost"
    assert alert.title == f"Error spike on {DEPLOYMENT} · card_lost"
    assert (alert.item_id, item.journey) == (item.id, "card_lost")


def test_a_journey_s_window_is_not_told_again_when_the_deployment_alarms(
    ledger: Ledger, settings: Settings, events: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every journey fails at once: one alarm, the deployment's."""
    day0 = NOW.replace(hour=10, minute=0) - timedelta(days=4)
    n = 0
    for day in range(4):
        n = _arrive(events, day0 + timedelta(days=day), n, monkeypatch,
                    {"card_lost": (60, 2), "billing": (200, 6)})  # fmt: skip
    today = day0 + timedelta(days=4)
    _arrive(events, today, n, monkeypatch, {"card_lost": (40, 12), "billing": (100, 30)})
    assert (
        notify_events.check_traffic(ledger, events, settings, now=today + timedelta(minutes=1)) == 0
    )
    keys = [f.scope.journey for f in list_findings(
        ledger, FindingFilter(deployment=DEPLOYMENT, detector=TRAFFIC_SOURCE))]  # fmt: skip
    assert keys == [None]
