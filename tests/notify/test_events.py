"""Events beyond a problem's own: SLA clocks, plan gates and silent feeds, each told once per
state through the same routes and outbox as problems."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select

from daytwo.backlog.intake import absorb_detected
from daytwo.backlog.models import Item, ItemFinding
from daytwo.backlog.owners import add_rule
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import RuleCreate
from daytwo.detect import service as detect_service
from daytwo.detect.findings import Finding, FindingScope, Measure, Severity
from daytwo.detect.schemas import FindingFilter
from daytwo.detect.service import list_findings
from daytwo.ingest.decode import decode_json
from daytwo.notify import calc, service
from daytwo.notify import events as notify_events
from daytwo.notify.models import Alert
from daytwo.notify.outbox import deliver_due, delivery_log
from daytwo.notify.schemas import PreferenceSet, RouteCreate
from daytwo.notify.traffic import Baselines
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT
from tests.factory import interaction
from tests.notify.conftest import make_item, set_item, webhooks
from tests.notify.receivers import WebhookReceiver

DAY0 = datetime(2026, 11, 2, tzinfo=UTC)


def _hooks(ledger: Ledger, settings: Settings, receiver: WebhookReceiver) -> None:
    """Ana's own channel, and an on-call channel for the given event kinds only."""
    webhooks(ledger, settings, receiver, "ana-hook", "oncall")
    service.set_preference(ledger, "ana", PreferenceSet(channel="ana-hook"))
    service.add_route(
        ledger,
        RouteCreate(
            channel="oncall", max_priority="P2",
            event_kinds=["sla.breached", "feed.silent", "feed.resumed", "gate.stopped_holding"],
        ),
        actor="t",
    )  # fmt: skip


def _sent(receiver: WebhookReceiver) -> list[tuple[str, str]]:
    return [(r.path.rsplit("/", 1)[-1], r.json()["event"]) for r in receiver.received]


@pytest.mark.parametrize(
    ("left", "stage"),
    [(timedelta(hours=3), "on_track"), (timedelta(hours=1), "at_risk"),
     (timedelta(0), "at_risk"), (timedelta(seconds=-1), "breached")],
)  # fmt: skip
def test_sla_stage_of_a_four_hour_clock(left: timedelta, stage: str) -> None:
    due = DAY0 + timedelta(hours=4)
    assert calc.sla_stage(due=due, length=timedelta(hours=4), now=due - left) == stage


def test_the_usual_rate_of_an_hour_is_a_low_quantile_of_its_days() -> None:
    # Five weekdays of 20 an hour at 10:00 and two quiet days of 2: the quiet days set the
    # usual level, so their silence is not news.
    days = [[20 if h == 10 else 0 for h in range(24)] for _ in range(5)]
    days += [[2 if h == 10 else 0 for h in range(24)] for _ in range(2)]
    usual = calc.usual_hourly(days)
    assert usual[10] == pytest.approx(2 + (20 - 2) * 0.2)  # between the 2nd and 3rd lowest
    assert usual[9] == 0.0
    start = DAY0.replace(hour=9, minute=30)
    # half an hour of 9:00 (0) and a quarter of 10:00
    assert calc.expected_arrivals(usual, start, DAY0.replace(hour=10, minute=15)) == pytest.approx(
        usual[10] / 4
    )
    assert not calc.is_silent(9.0)
    assert calc.is_silent(9.3)  # e^-9.3 < 1e-4


def test_sla_at_risk_then_breached_once_each_then_resolved_silently(
    lite: Ledger, settings: Settings, receiver: WebhookReceiver
) -> None:
    _hooks(lite, settings, receiver)
    item_id = make_item(lite, "Card block fails", priority="P1")
    with lite.session() as session:
        due = session.get(Item, item_id).triage_due  # type: ignore[union-attr]
    due = due if due.tzinfo else due.replace(tzinfo=UTC)
    assert notify_events.sync_slas(lite, settings, now=due - timedelta(hours=2)) == 0
    assert notify_events.sync_slas(lite, settings, now=due - timedelta(minutes=40)) == 1
    assert (
        notify_events.sync_slas(lite, settings, now=due - timedelta(minutes=30)) == 0
    )  # told once
    assert notify_events.sync_slas(lite, settings, now=due + timedelta(minutes=5)) == 2
    deliver_due(lite, settings, now=due + timedelta(minutes=6))
    assert _sent(receiver) == [
        ("ana-hook", "sla.at_risk"), ("ana-hook", "sla.breached"), ("oncall", "sla.breached"),
    ]  # fmt: skip
    at_risk, breached, _ = (r.json() for r in receiver.received)
    assert at_risk["alert_id"] == breached["alert_id"]
    assert (at_risk["update"], breached["update"]) == (False, True)
    assert "Triage of Card block fails is due in 40 min" in at_risk["summary"]
    assert "5 min late" in breached["summary"]
    assert breached["item"]["id"] == item_id
    # The item is triaged: its fix clock (3 days) is on track; then it is closed.
    set_item(lite, item_id, triaged_at=due, status="verified")
    assert notify_events.sync_slas(lite, settings, now=due + timedelta(hours=1)) == 0
    [sla] = [a for a in service_alerts(lite) if a.kind == "sla"]
    assert sla.status == "resolved"


def service_alerts(ledger: Ledger) -> list[Alert]:
    with ledger.session() as session:
        rows = list(session.scalars(select(Alert).order_by(Alert.id)))
        session.expunge_all()
        return rows


def test_a_gate_change_is_told_once_per_state_in_the_plans_transaction(
    lite: Ledger, settings: Settings, receiver: WebhookReceiver
) -> None:
    _hooks(lite, settings, receiver)
    ready = notify_events.GateChange(
        deployment=DEPLOYMENT, gate="day-30-containment", title="Day-30 containment gate",
        state="ready", evidence=("containment 71% ≥ 65% for 14 days",), owner="ana",
        url="http://daytwo.example/plan#day-30-containment",
    )  # fmt: skip
    with lite.session() as session:
        assert notify_events.publish_gate_change(session, settings, ready) == 1
    with lite.session() as session:
        assert notify_events.publish_gate_change(session, settings, ready) == 0  # same state

    def plan_fails() -> None:
        with lite.session() as session:
            broken = dataclasses.replace(ready, state="not_holding")
            notify_events.publish_gate_change(session, settings, broken)
            raise RuntimeError("the plan's transaction fails")  # its message goes with it

    with pytest.raises(RuntimeError):
        plan_fails()
    assert len(delivery_log(lite)) == 1
    stopped = notify_events.GateChange(
        deployment=DEPLOYMENT, gate="day-30-containment", title="Day-30 containment gate",
        state="not_holding", owner="ana",
    )  # fmt: skip
    with lite.session() as session:
        notify_events.publish_gate_change(session, settings, stopped)
    deliver_due(lite, settings)
    assert _sent(receiver) == [
        ("ana-hook", "gate.ready"), ("ana-hook", "gate.stopped_holding"),
        ("oncall", "gate.stopped_holding"),
    ]  # fmt: skip
    first = receiver.received[0].json()
    assert first["item"]["id"] is None
    assert first["item"]["url"] == "http://daytwo.example/plan#day-30-containment"
    assert first["evidence"] == ["containment 71% ≥ 65% for 14 days"]
    assert receiver.received[1].json()["update"] is True


def test_a_feed_that_stops_while_data_is_due_is_silent_then_resumes(
    lite: Ledger, settings: Settings, events: EventStore, receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Eight days of a batch every 10 minutes from 09:00 to 12:00 (6 deliveries an hour)."""
    _hooks(lite, settings, receiver)
    n = 0
    for day in range(8):
        for hour in (9, 10, 11):
            for minute in range(0, 60, 10):
                at = DAY0 + timedelta(days=day, hours=hour, minutes=minute)
                _calm(events, at, n, 2, monkeypatch)
                n += 2
    day8 = DAY0 + timedelta(days=8)
    # The night is quiet as usual; at 09:15, 2.5 deliveries were due since 11:50: not news.
    assert notify_events.check_feeds(lite, events, settings, now=day8.replace(hour=3)) == 0
    quiet = day8.replace(hour=9, minute=15)
    assert notify_events.check_feeds(lite, events, settings, now=quiet) == 0
    # At 10:40, 11 were due: silent (e^-11 < 1e-4), told once, to the on-call route.
    silent_at = day8.replace(hour=10, minute=40)
    # A server listening for 5 minutes only has heard too little to tell (0.5 were due).
    restarted = silent_at - timedelta(minutes=5)
    assert notify_events.check_feeds(lite, events, settings, now=silent_at, since=restarted) == 0
    assert notify_events.check_feeds(lite, events, settings, now=silent_at) == 1
    assert notify_events.check_feeds(lite, events, settings, now=silent_at) == 0
    _calm(events, day8.replace(hour=10, minute=45), n, 2, monkeypatch)
    back = day8.replace(hour=10, minute=46)
    assert notify_events.check_feeds(lite, events, settings, now=back) == 1
    deliver_due(lite, settings)
    assert _sent(receiver) == [("oncall", "feed.silent"), ("oncall", "feed.resumed")]
    silent, resumed = (r.json() for r in receiver.received)
    assert silent["item"]["priority"] == "P1"
    assert "care-bot has sent nothing for 23 h; about 11 deliveries" in silent["summary"]
    assert any("7 days of arrivals" in e for e in silent["evidence"])
    assert resumed["alert_id"] == silent["alert_id"]
    assert resumed["update"] is True
    [feed] = [a for a in service_alerts(lite) if a.kind == "feed"]
    assert (feed.status, feed.escalate_at) == ("resolved", None)
    # The silence is a finding in the ledger, open while it lasted, and an item in the backlog.
    [finding] = list_findings(lite, FindingFilter(deployment=DEPLOYMENT, detector="live_feed"))
    assert (finding.kind, finding.scope.metric, finding.status) == (
        "feed_silent", "contact_volume", "resolved",
    )  # fmt: skip
    assert finding.first_seen == DAY0 + timedelta(days=7, hours=11, minutes=50)
    assert silent["item"]["id"] == feed.item_id
    assert silent["item"]["url"].endswith(f"/backlog/{feed.item_id}")
    assert silent["item"]["finding_kind"] == "feed_silent"


def test_an_error_spike_on_live_traffic_is_an_alert_within_the_minute(
    lite: Ledger, settings: Settings, events: EventStore, receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A week of 10:00s with 2 errors in 60 conversations; then 10:00 today: a calm window,
    a spike (12 of 40), and the recovery. Ana owns the deployment's error spikes: the spike's
    item is hers, and so is its alert."""
    _hooks(lite, settings, receiver)
    kinds = ["traffic.error_spike", "traffic.recovered"]
    route = RouteCreate(channel="oncall", event_kinds=kinds, max_priority="P1")
    service.add_route(lite, route, actor="t")
    rule = RuleCreate(deployment=DEPLOYMENT, owner="ana", finding_kind="error_spike")
    add_rule(lite, rule, actor="t")
    n = 0
    for day in range(7):
        _calm(events, DAY0 + timedelta(days=day, hours=10), n, 60, monkeypatch, errors=2)
        n += 60
    today = DAY0 + timedelta(days=7, hours=10)
    _calm(events, today, n, 40, monkeypatch, errors=2)  # calm: 5%, usual 3.3%
    n += 40
    assert (
        notify_events.check_traffic(lite, events, settings, now=today + timedelta(minutes=1)) == 0
    )
    _calm(events, today + timedelta(minutes=6), n, 40, monkeypatch, errors=12)  # 30%
    n += 40
    spike_at = today + timedelta(minutes=7)
    # To the item's owner and the on-call route.
    assert notify_events.check_traffic(lite, events, settings, now=spike_at) == 2
    assert notify_events.check_traffic(lite, events, settings, now=spike_at) == 0  # told once
    _calm(events, today + timedelta(minutes=13), n, 40, monkeypatch, errors=1)
    assert (
        notify_events.check_traffic(lite, events, settings, now=today + timedelta(minutes=14)) == 2
    )
    deliver_due(lite, settings)
    assert sorted(_sent(receiver)) == [
        ("ana-hook", "traffic.error_spike"), ("ana-hook", "traffic.recovered"),
        ("oncall", "traffic.error_spike"), ("oncall", "traffic.recovered"),
    ]  # fmt: skip
    spike = next(r.json() for r in receiver.received if r.path.endswith("/oncall"))
    assert spike["item"]["owner"] == "ana"
    assert spike["item"]["priority"] == "P1"
    assert (
        spike["summary"]
        == "30% of care-bot's conversations in the last 5 min had an error; usually 3.3%."
    )
    assert spike["evidence"][0].startswith("12 of 40 conversations")
    # The spike is a finding kept in the ledger (open while it lasted, with the conversations
    # behind it) and an item of the backlog the alert points at.
    [finding] = list_findings(lite, FindingFilter(deployment=DEPLOYMENT, detector="live_traffic"))
    assert (finding.kind, finding.scope.metric, finding.status) == (
        "error_spike", "error_rate", "resolved",
    )  # fmt: skip
    assert finding.baseline.value == pytest.approx(2 / 60)
    assert (finding.current.value, finding.current.n) == (0.3, 40)
    assert len(finding.evidence) == 12
    with lite.session() as session:
        [item] = session.scalars(select(Item)).all()
        assert (item.finding_kind, item.source) == ("error_spike", "finding")
    assert spike["item"]["id"] == item.id
    # One problem, one alert: the item the spike opened raises no problem alert of its own.
    assert notify_events.raise_due(lite, settings, None, now=spike_at) == 0


def test_a_live_spike_and_the_daily_analysis_s_finding_of_it_are_one_item(
    lite: Ledger, settings: Settings, events: EventStore, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The error spike opens an item; the daily analysis then finds the error rate worse on
    the same deployment: its finding joins the spike's item, as any two findings of one
    problem do."""
    n = 0
    for day in range(7):
        _calm(events, DAY0 + timedelta(days=day, hours=10), n, 60, monkeypatch, errors=2)
        n += 60
    today = DAY0 + timedelta(days=7, hours=10)
    _calm(events, today, n, 40, monkeypatch, errors=12)
    spike_at = today + timedelta(minutes=1)
    assert notify_events.check_traffic(lite, events, settings, now=spike_at) == 0  # no route
    daily = Finding(
        detector="degradation", kind="degradation", title="Turn errors worse",
        scope=FindingScope(DEPLOYMENT, metric="error_rate"), severity=Severity.high,
        first_seen=today, last_seen=spike_at, baseline=Measure(0.02, 420),
        current=Measure(0.15, 40),
    )  # fmt: skip
    run = detect_service.start_run(lite, DEPLOYMENT, ["degradation"])
    recorded = detect_service.record_findings(
        lite, run, DEPLOYMENT, ["degradation"], [daily], since=None, data_through=spike_at,
        interactions=460,
    )  # fmt: skip
    absorb_detected(lite, BacklogPolicy(), deployment=DEPLOYMENT, only=recorded.new_fingerprints)
    with lite.session() as session:
        [item] = session.scalars(select(Item)).all()
        kinds = sorted(
            session.scalars(select(ItemFinding.kind).where(ItemFinding.item_id == item.id))
        )
    assert kinds == ["degradation", "error_spike"]
    [alert] = [a for a in service_alerts(lite) if a.kind == "traffic"]
    assert alert.item_id == item.id


def _calm(
    store: EventStore, at: datetime, first: int, n: int, mp: pytest.MonkeyPatch, *,
    errors: int = 0, fallback_every: int = 10, slow_ms: float | None = None,
) -> None:  # fmt: skip
    """``n`` conversations arriving at ``at``: the first ``errors`` with a failed turn, one in
    ``fallback_every`` with a fallback answer, answers taking 400-1,000 ms (or ``slow_ms``)."""
    mp.setattr("daytwo.store.events.duckdb.utc_now", lambda: at)
    records = []
    for k in range(first, first + n):
        rec = interaction(k, turns=2)
        answer = rec["turns"][1]
        answer["fallback"] = k % fallback_every == 0
        answer["latency_ms"] = slow_ms if slow_ms is not None else 400 + (k * 37) % 600
        if k - first < errors:
            answer["error"] = "upstream timeout"
        records.append(rec)
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    store.write(decoded.batch, source="t", batch_id=f"c{first}")


def test_fallback_latency_and_volume_are_judged_against_the_same_hours(
    lite: Ledger, settings: Settings, events: EventStore, receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A week of about 100 conversations every 5 minutes from 08:40 to 11:15 (10% fallbacks, answers
    in 400-1,000 ms); then today: calm, a burst of slow fallbacks, calm again, a trickle."""
    _hooks(lite, settings, receiver)
    service.add_route(
        lite, RouteCreate(channel="oncall", event_kinds=["traffic.fallback_spike",
                          "traffic.latency_spike", "traffic.volume_drop",
                          "traffic.volume_surge", "traffic.recovered"], max_priority="P1"),
        actor="t",
    )  # fmt: skip
    n = 0
    for day in range(7):
        for slot in range(-16, 16):
            size = 90 + (day * 7 + slot * 3) % 21  # 90-110
            _calm(events, DAY0 + timedelta(days=day, hours=10, minutes=5 * slot), n, size,
                  monkeypatch)  # fmt: skip
            n += size
    today = DAY0 + timedelta(days=7, hours=10)
    baselines = Baselines()

    def check(at: datetime) -> int:
        return notify_events.check_traffic(lite, events, settings, now=at, baselines=baselines)

    _calm(events, today, n, 100, monkeypatch)
    n += 100
    assert check(today + timedelta(minutes=1)) == 0
    # 300 conversations, half of them falling back, every answer 5 s: three alarms at once.
    _calm(events, today + timedelta(minutes=6), n, 300, monkeypatch, fallback_every=2,
          slow_ms=5000)  # fmt: skip
    n += 300
    assert check(today + timedelta(minutes=7)) == 3
    assert check(today + timedelta(minutes=7, seconds=30)) == 0  # each told once
    _calm(events, today + timedelta(minutes=12), n, 100, monkeypatch)
    n += 100
    assert check(today + timedelta(minutes=13)) == 3  # each recovered
    _calm(events, today + timedelta(minutes=18), n, 15, monkeypatch)  # a trickle, not silence
    assert check(today + timedelta(minutes=19)) == 1
    deliver_due(lite, settings)
    sent = [e for _, e in _sent(receiver)]
    assert sorted(sent[:3]) == [
        "traffic.fallback_spike",
        "traffic.latency_spike",
        "traffic.volume_surge",
    ]
    assert sent[3:] == ["traffic.recovered"] * 3 + ["traffic.volume_drop"]
    by_event = {r.json()["event"]: r.json() for r in receiver.received}
    assert by_event["traffic.fallback_spike"]["summary"] == (
        "50% of care-bot's conversations in the last 5 min had a fallback answer; usually 10.0%."
    )
    latency = by_event["traffic.latency_spike"]
    assert latency["summary"].startswith("care-bot's answers in the last 5 min: p95 5,000 ms")
    assert latency["evidence"][0].startswith("300 of 300 answers")
    assert by_event["traffic.volume_surge"]["item"]["priority"] == "P1"
    assert by_event["traffic.volume_drop"]["summary"].startswith(
        "15 conversations reached care-bot in the last 5 min; usually 100"
    )


@pytest.mark.parametrize(
    ("count", "mean", "var", "shift"),
    [
        (100, 100.0, 100.0, None),
        (15, 100.0, 100.0, "drop"),
        (0, 100.0, 100.0, None),  # none at all is the silent feed's to tell
        (250, 100.0, 100.0, "surge"),
        (250, 100.0, 10_000.0, None),  # a bursty feed: 2.5x is within its usual spread
        (15, 100.0, 100.0 * 40, None),
    ],
)
def test_a_volume_shift_allows_for_the_feed_s_own_burstiness(
    count: int, mean: float, var: float, shift: str | None
) -> None:
    assert calc.volume_shift(count, mean, var, buckets=168) == shift
    assert calc.volume_shift(count, mean, var, buckets=24) is None  # too little history


def test_a_latency_spike_needs_a_material_rise_and_a_tail_chance() -> None:
    assert calc.is_latency_spike(60, 100, 1600.0, 1000.0)
    assert not calc.is_latency_spike(60, 100, 1400.0, 1000.0)  # under 1.5x the usual p95
    assert not calc.is_latency_spike(9, 100, 1600.0, 1000.0)  # 9% slow: chance explains it
    assert not calc.is_latency_spike(10, 10, 5000.0, 1000.0)  # too few answers


def _gate(lite: Ledger, phase: str, day: int, verdicts: dict[str, str]) -> None:
    """Keep an evaluation of ``phase``'s gate through ``day``, one verdict per criterion."""
    from daytwo.plan.ledger import store_evaluation
    from daytwo.plan.schemas import CriterionResult, GateResult

    criteria = [
        CriterionResult(id=c, kind="metric", label=c, verdict=v, summary=f"{c} {v}")  # type: ignore[arg-type]
        for c, v in verdicts.items()
    ]
    met = sum(v == "met" for v in verdicts.values())
    result = GateResult(
        phase=phase, through=(DAY0 + timedelta(days=day)).date(), evaluated_at=DAY0,
        ready=met == len(verdicts), met=met, total=len(verdicts), criteria=criteria,
    )  # fmt: skip
    with lite.session() as session:
        store_evaluation(session, DEPLOYMENT, result, "analysis")


def test_the_plan_s_gates_are_published_after_each_analysis(
    lite: Ledger, settings: Settings, receiver: WebhookReceiver
) -> None:
    """The plan keeps its evaluations; notify reads them after the analysis: the current gate
    ready once, then (signed off) holding, then a criterion met at sign-off no longer is."""
    from daytwo.plan.models import GateSignoff, Plan, PlanPhase

    _hooks(lite, settings, receiver)
    service.add_route(
        lite, RouteCreate(channel="oncall", event_kinds=["gate.ready"], max_priority="P4"),
        actor="t",
    )  # fmt: skip
    with lite.session() as session:
        plan = Plan(deployment=DEPLOYMENT, updated_by="t")
        session.add(plan)
        session.flush()
        for k, (key, name) in enumerate((("stabilise", "Stabilise"), ("optimise", "Optimise"))):
            session.add(PlanPhase(plan_id=plan.id, position=k, key=key, name=name,
                                  start_day=30 * k, end_day=30 * k + 30))  # fmt: skip

    def sync() -> int:
        return notify_events.sync_gates(lite, settings, DEPLOYMENT, now=DAY0)

    _gate(lite, "stabilise", 1, {"containment": "not_met", "csat": "met"})
    _gate(lite, "optimise", 1, {"cost": "met"})  # ready, but not the current gate
    assert sync() == 0
    _gate(lite, "stabilise", 2, {"containment": "met", "csat": "met"})
    assert sync() == 1
    assert sync() == 0  # told once
    with lite.session() as session:
        session.add(GateSignoff(
            deployment=DEPLOYMENT, phase="stabilise", kind="signoff", actor="ana", role="owner",
            ready=True, snapshot={"criteria": [{"id": "containment", "verdict": "met"},
                                               {"id": "csat", "verdict": "met"}]},
        ))  # fmt: skip
    _gate(lite, "stabilise", 3, {"containment": "met", "csat": "met"})
    _gate(lite, "optimise", 3, {"cost": "not_met"})
    assert sync() == 0  # signed off and holding: the ready alert resolves quietly
    _gate(lite, "stabilise", 4, {"containment": "not_met", "csat": "met"})
    assert sync() == 1
    assert sync() == 0
    deliver_due(lite, settings)
    assert _sent(receiver) == [("oncall", "gate.ready"), ("oncall", "gate.stopped_holding")]
    ready, stopped = (r.json() for r in receiver.received)
    assert ready["item"]["title"] == "The Stabilise gate"
    assert ready["evidence"] == ["2 of 2 criteria met through 2026-11-04"]
    assert ready["item"]["url"].endswith("/plan?deployment=care-bot")
    assert stopped["evidence"] == [
        "1 of 2 criteria met through 2026-11-06",
        "containment: containment not_met",
    ]
    assert stopped["alert_id"] == ready["alert_id"]


def test_a_share_that_varies_between_hours_needs_more_to_alarm() -> None:
    steady = [(500, 40), (480, 38), (520, 42), (500, 40)]  # 8% every hour
    drifting = [(500, 20), (480, 58), (520, 31), (500, 52)]  # 4% to 12%
    assert calc.overdispersion(steady) == 0.0
    rho = calc.overdispersion(drifting)
    assert 0.005 < rho < 0.05
    # 16% of 500 against a usual 8%: beyond binomial chance, not beyond the hours' own drift.
    assert calc.is_spike(80, 500, 0.08)
    assert not calc.is_spike(80, 500, 0.08, rho)
    assert calc.is_spike(250, 500, 0.08, rho)  # half of them: a spike whatever the drift
