"""Golden cases for every criterion kind, end to end: a criterion evaluated on the synthetic
deployment (``conftest.py``) or on a ledger set up by hand, against values counted here
directly from the records. A meta-test fails when a check kind, a comparator or a baseline
comparison has no case in :data:`CASES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, get_args

import orjson
import pytest
from sqlalchemy import update

from daytwo.backlog.models import Feedback, Item, Owner, RoutingRule
from daytwo.deployments.service import get_deployment
from daytwo.detect.models import AnalysisRun, FindingRecord
from daytwo.governance import audit
from daytwo.governance.models import AuditEntry
from daytwo.governance.policies import set_policy
from daytwo.ingest.decode import decode_json
from daytwo.plan import checks
from daytwo.plan.evaluate import EvalContext, evaluate_gate
from daytwo.plan.models import PlanRecord
from daytwo.plan.schemas import (
    CheckCriterion,
    CheckKind,
    Comparator,
    CriterionResult,
    MetricCriterion,
)
from daytwo.plan.validate import criterion_ids
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import store_of
from tests.conftest import clickhouse_url, drop_clickhouse
from tests.plan.conftest import DEPLOYMENT, GO_LIVE, JOURNEYS, START, day_of, register

Z = 1.959963984540054


def judge(
    ledger: Ledger, events: EventStore, spec: dict[str, Any], through: date
) -> CriterionResult:
    criterion: MetricCriterion | CheckCriterion = (
        MetricCriterion.model_validate(spec)
        if "metric" in spec
        else CheckCriterion.model_validate(spec)
    )
    ctx = EvalContext(
        ledger,
        events,
        get_deployment(ledger, DEPLOYMENT),
        through,
        datetime.combine(GO_LIVE, time(), tzinfo=UTC),
    )
    result = evaluate_gate(ctx, "g", [criterion], criterion_ids([criterion]))
    return result.criteria[0]


def in_days(records: list[dict[str, Any]], first: date, last: date) -> list[dict[str, Any]]:
    lo, hi = first.isoformat(), (last + timedelta(days=1)).isoformat()
    return [r for r in records if lo <= r["started_at"][:10] < hi]


def error_rate(rows: list[dict[str, Any]]) -> float:
    turns = sum(len(r["turns"]) for r in rows)
    return sum(1 for r in rows for t in r["turns"] if t.get("error")) / turns


def containment(rows: list[dict[str, Any]]) -> float:
    return sum(r["outcome"] == "contained" for r in rows) / len(rows)


# -- metric conditions ---------------------------------------------------------------------


def wilson_lo(k: int, n: int) -> float:
    """The low end of the Wilson 95% interval, in its counts form."""
    root = Z * math.sqrt(k * (n - k) / n + Z * Z / 4)
    return max(0.0, (k + Z * Z / 2 - root) / (n + Z * Z))


def broken_days(records: list[dict[str, Any]], last: date, n: int) -> list[bool]:
    """Whether each of the ``n`` days up to ``last`` clearly broke errors <= 1%: its whole
    Wilson interval above 1% (oldest first)."""
    out = []
    for k in reversed(range(n)):
        rows = in_days(records, last - timedelta(days=k), last - timedelta(days=k))
        turns = sum(len(r["turns"]) for r in rows)
        errors = sum(1 for r in rows for t in r["turns"] if t.get("error"))
        out.append(wilson_lo(errors, turns) > 0.01)
    return out


def test_threshold_over_a_window_sustained(
    sqlite_ledger: Ledger, events: EventStore, records: list[dict[str, Any]]
) -> None:
    # Errors <= 1% over 3 days, sustained 3 days. The incident runs on days 10-15: 6% of
    # answers fail, 3% of turns; other days 0.2% of turns.
    spec = {
        "metric": "error_rate",
        "comparator": "at_most",
        "threshold": 0.01,
        "window_days": 3,
        "sustained_days": 3,
        "min_sample": 100,
    }
    assert broken_days(records, day_of(17), 3) == [True, False, False]  # day 15 clearly broke it
    during = judge(sqlite_ledger, events, spec, day_of(17))
    rows = in_days(records, day_of(15), day_of(17))
    assert during.value == pytest.approx(error_rate(rows))
    assert during.n == sum(len(r["turns"]) for r in rows) == 3 * 240 * 2
    assert during.verdict == "not_met"
    assert during.held_days == 2  # days 16 and 17
    assert (during.window_start, during.window_end) == (day_of(15), day_of(17))
    day15 = error_rate(in_days(records, day_of(15), day_of(15)))
    assert during.summary.endswith(
        f", broken on 1 of the last 3 days ({100 * day15:.1f}% on 16 Mar)"
    )
    # Day 18: days 16-18 are clean and so is their window.
    assert broken_days(records, day_of(18), 3) == [False, False, False]
    after = judge(sqlite_ledger, events, spec, day_of(18))
    assert (after.verdict, after.held_days) == ("met", 3)
    assert after.value == pytest.approx(error_rate(in_days(records, day_of(16), day_of(18))))
    assert after.value < 0.01
    assert after.lo is not None
    assert after.hi is not None
    assert after.lo < after.value < after.hi
    # The first incident day: broken at once, whatever the window's average.
    first = judge(sqlite_ledger, events, spec, day_of(10))
    assert broken_days(records, day_of(10), 3)[-1]
    assert (first.verdict, first.held_days) == ("not_met", 0)
    # Before the data has three days, it is not enough data.
    assert judge(sqlite_ledger, events, spec, day_of(1)).verdict == "no_data"


CARD_LOST_CONTAINS: dict[str, Any] = {
    "metric": "containment_rate",
    "comparator": "at_least",
    "threshold": 0.58,
    "window_days": 7,
    "scope": {"journey": "card_lost"},
}


def test_threshold_on_a_journey(
    sqlite_ledger: Ledger, events: EventStore, records: list[dict[str, Any]]
) -> None:
    # card_lost contains 0.50, then 0.62 from day 20.
    spec = CARD_LOST_CONTAINS
    before = judge(sqlite_ledger, events, spec, day_of(15))
    rows = [r for r in in_days(records, day_of(9), day_of(15)) if r["journey"] == "card_lost"]
    assert before.value == pytest.approx(containment(rows))
    assert before.n == len(rows) == 7 * 80
    assert before.verdict == "not_met"
    after = judge(sqlite_ledger, events, spec, day_of(35))
    rows = [r for r in in_days(records, day_of(29), day_of(35)) if r["journey"] == "card_lost"]
    assert after.value == pytest.approx(containment(rows))
    assert after.verdict == "met"
    assert "journey=card_lost" in after.evidence[0].href


@pytest.mark.parametrize(("comparator", "verdict"), [("below", "met"), ("above", "not_met")])
def test_threshold_on_a_segment(
    sqlite_ledger: Ledger,
    events: EventStore,
    records: list[dict[str, Any]],
    comparator: str,
    verdict: str,
) -> None:
    # Porto's containment over days 30-39 is about 0.64: below 0.9, not above it.
    spec = {
        "metric": "containment_rate",
        "comparator": comparator,
        "threshold": 0.9,
        "window_days": 10,
        "scope": {"segment": {"site": "porto"}},
    }
    got = judge(sqlite_ledger, events, spec, day_of(39))
    rows = [r for r in in_days(records, day_of(30), day_of(39)) if r["segments"]["site"] == "porto"]
    assert got.value == pytest.approx(containment(rows))
    assert got.n == len(rows)
    assert got.verdict == verdict
    assert "segment=site%3Aporto" in got.evidence[0].href


def finding(key: str, title: str, first: datetime, last: datetime, **kw: Any) -> FindingRecord:
    """A finding as a detector records it (a knowledge gap unless ``kw`` says otherwise)."""
    fields: dict[str, Any] = {"detector": "knowledge_gap", "kind": "knowledge_gap", **kw}
    return FindingRecord(
        fingerprint=key,
        title=title,
        deployment=DEPLOYMENT,
        severity=3,
        first_seen=first,
        last_seen=last,
        **fields,
    )


def test_a_finding_of_the_analysis_stops_a_met_criterion(
    sqlite_ledger: Ledger, events: EventStore
) -> None:
    # card_lost contains 0.62 from day 20: ">= 0.58 over 7 days" is met on day 35, until the
    # knowledge-gap detector finds questions about the journey it cannot answer (seen on days
    # 33-34); the window (days 29-35) holds it. By day 41 the window (35-41) has moved past.
    spec = CARD_LOST_CONTAINS
    assert judge(sqlite_ledger, events, spec, day_of(35)).verdict == "met"
    seen = datetime.combine(day_of(33), time(10), tzinfo=UTC)
    with sqlite_ledger.session() as s:
        for key, journey in (("g1", "card_lost"), ("g2", "billing")):
            s.add(
                finding(
                    key,
                    f"Knowledge gap in {journey}",
                    seen,
                    seen + timedelta(days=1),
                    journey=journey,
                )
            )
        # Over the deployment, mostly billing: card_lost holds 20 of 100, under a quarter.
        journeys = {"billing": 80, "card_lost": 20}
        s.add(
            finding(
                "g3",
                "Knowledge gap over the deployment",
                seen,
                seen,
                details={"journeys": journeys},
            )
        )
    got = judge(sqlite_ledger, events, spec, day_of(35))
    assert got.verdict == "not_met"
    assert got.summary.endswith("but an open finding says it got worse: Knowledge gap in card_lost")
    assert [e.label for e in got.evidence][-1] == "Knowledge gap in card_lost"
    # With 30 of 100 the deployment's gap touches card_lost too.
    with sqlite_ledger.session() as s:
        s.execute(
            update(FindingRecord)
            .where(FindingRecord.fingerprint == "g3")
            .values(details={"journeys": {"billing": 70, "card_lost": 30}})
        )
    got = judge(sqlite_ledger, events, spec, day_of(35))
    assert [e.label for e in got.evidence][2:] == [
        "Knowledge gap in card_lost",
        "Knowledge gap over the deployment",
    ]
    # Before it was found, and once the window no longer holds the days it was seen.
    assert judge(sqlite_ledger, events, spec, day_of(32)).verdict == "met"
    assert judge(sqlite_ledger, events, spec, day_of(41)).verdict == "met"
    assert judge(sqlite_ledger, events, spec, day_of(40)).verdict == "not_met"
    assert judge(sqlite_ledger, events, spec, day_of(34)).verdict == "not_met"
    # Last brought up to date by an analysis of the data to the end of day 35, they are
    # hindsight for day 34 evaluated again.
    with sqlite_ledger.session() as s:
        end_of_35 = datetime.combine(day_of(36), time(), tzinfo=UTC)
        run = AnalysisRun(deployment=DEPLOYMENT, data_through=end_of_35)
        s.add(run)
        s.flush()
        s.execute(update(FindingRecord).values(last_run_id=run.id))
    assert judge(sqlite_ledger, events, spec, day_of(34)).verdict == "met"
    assert judge(sqlite_ledger, events, spec, day_of(35)).verdict == "not_met"


def test_minimum_sample(sqlite_ledger: Ledger, events: EventStore) -> None:
    # One day holds 240 conversations: below 1,000 there is not enough data.
    spec = {
        "metric": "containment_rate",
        "comparator": "at_least",
        "threshold": 0.1,
        "window_days": 1,
        "min_sample": 1000,
    }
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert (got.verdict, got.n) == ("no_data", 240)
    assert "below the minimum sample 1000" in got.summary
    # Before the data starts there is nothing at all.
    assert (
        judge(sqlite_ledger, events, {**spec, "min_sample": 1}, GO_LIVE - timedelta(days=3)).verdict
        == "no_data"
    )


@pytest.fixture
def baseline_ledger(sqlite_ledger: Ledger) -> Ledger:
    """The deployment with its baseline on days 0-13 (before the fix on day 20)."""
    register(sqlite_ledger, baseline_start=GO_LIVE, baseline_end=day_of(14))
    return sqlite_ledger


def test_better_than_baseline(
    baseline_ledger: Ledger, events: EventStore, records: list[dict[str, Any]]
) -> None:
    # The fix adds 0.12 to card_lost: better by 0.05 holds, better by 0.2 does not.
    spec = {
        "metric": "containment_rate",
        "window_days": 14,
        "scope": {"journey": "card_lost"},
        "vs_baseline": {"change": "better", "by": 0.05},
    }
    got = judge(baseline_ledger, events, spec, day_of(39))
    base = [r for r in in_days(records, day_of(0), day_of(13)) if r["journey"] == "card_lost"]
    now = [r for r in in_days(records, day_of(26), day_of(39)) if r["journey"] == "card_lost"]
    assert got.baseline == pytest.approx(containment(base))
    assert got.value == pytest.approx(containment(now))
    assert got.verdict == "met"
    strict = judge(
        baseline_ledger,
        events,
        {**spec, "vs_baseline": {"change": "better", "by": 0.2}},
        day_of(39),
    )
    assert strict.verdict == "not_met"


def test_not_worse_than_baseline(baseline_ledger: Ledger, events: EventStore) -> None:
    # billing keeps 0.70: not worse by 0.05 holds; errors during the incident are worse.
    holds = {
        "metric": "containment_rate",
        "window_days": 14,
        "scope": {"journey": "billing"},
        "vs_baseline": {"change": "not_worse", "by": 0.05},
    }
    assert judge(baseline_ledger, events, holds, day_of(39)).verdict == "met"
    errors = {
        "metric": "error_rate",
        "window_days": 3,
        "vs_baseline": {"change": "not_worse", "by": 0.001},
    }
    assert judge(baseline_ledger, events, errors, day_of(15)).verdict == "not_met"


def test_an_imported_baseline(sqlite_ledger: Ledger, events: EventStore) -> None:
    register(sqlite_ledger, baseline_values={"containment_rate": 0.5})
    spec = {
        "metric": "containment_rate",
        "window_days": 14,
        "vs_baseline": {"change": "better", "by": 0.05},
    }
    got = judge(sqlite_ledger, events, spec, day_of(39))
    assert got.baseline == 0.5
    assert got.verdict == "met"  # about 0.64 on 3,360 conversations


# -- checks on the operation -----------------------------------------------------------------

AT = datetime.combine(day_of(30), time(12), tzinfo=UTC)


def add_owner(session: Any, handle: str) -> Owner:
    owner = Owner(handle=handle, name=handle, kind="person", active=True)
    session.add(owner)
    session.flush()
    return owner


def add_item(session: Any, **kw: Any) -> Item:
    fields: dict[str, Any] = {
        "deployment": DEPLOYMENT,
        "title": "a problem",
        "source": "manual",
        "status": "new",
        "priority": "P2",
        "score": 1.0,
        "created_by": "t",
        "created_at": AT - timedelta(days=5),
        "triage_due": AT + timedelta(days=30),
        "fix_due": AT + timedelta(days=60),
    }
    fields.update(kw)
    item = Item(**fields)
    session.add(item)
    session.flush()
    return item


def test_no_open_items(sqlite_ledger: Ledger, events: EventStore) -> None:
    spec = {"check": "no_open_items", "priority": "P1"}
    with sqlite_ledger.session() as s:
        add_item(s, priority="P1", title="outage", journey="billing")
        add_item(
            s,
            priority="P1",
            title="closed before",
            status="verified",
            closed_at=AT - timedelta(days=1),
        )
        add_item(s, priority="P1", title="opened later", created_at=AT + timedelta(days=5))
        add_item(s, priority="P2", title="not a P1")
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert (got.verdict, got.value) == ("not_met", 1.0)
    assert [b.title for b in got.blocking] == ["outage"]
    assert got.summary == "1 P1 item open"
    # Only payments: none open there.
    assert (
        judge(sqlite_ledger, events, {**spec, "journey": "payments"}, day_of(30)).verdict == "met"
    )
    # Before the outage item was opened (day 25), none was open.
    assert judge(sqlite_ledger, events, spec, day_of(23)).verdict == "met"


def test_journeys_owned(sqlite_ledger: Ledger, events: EventStore) -> None:
    spec = {"check": "journeys_owned"}
    with sqlite_ledger.session() as s:
        ana = add_owner(s, "ana")
        for pos, journey in enumerate(JOURNEYS[:2]):
            s.add(
                RoutingRule(
                    deployment=DEPLOYMENT,
                    position=pos,
                    owner_id=ana.id,
                    journey=journey,
                    created_at=AT - timedelta(days=10),
                )
            )
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert got.verdict == "not_met"
    assert got.summary == "1 of 3 journeys without an owner: payments"
    assert got.value == pytest.approx(2 / 3)
    with sqlite_ledger.session() as s:
        s.add(
            RoutingRule(
                deployment=DEPLOYMENT,
                position=5,
                owner_id=ana.id,
                journey="payments",
                created_at=AT - timedelta(days=1),
            )
        )
    assert judge(sqlite_ledger, events, spec, day_of(30)).verdict == "met"


def test_items_owned(sqlite_ledger: Ledger, events: EventStore) -> None:
    with sqlite_ledger.session() as s:
        ana = add_owner(s, "ana")
        add_item(s, owner_id=ana.id)
        add_item(s, owner_id=None, title="nobody's")
    got = judge(sqlite_ledger, events, {"check": "items_owned"}, day_of(30))
    assert (got.verdict, [b.title for b in got.blocking]) == ("not_met", ["nobody's"])
    with sqlite_ledger.session() as s:
        s.execute(update(Item).where(Item.owner_id.is_(None)).values(owner_id=ana.id))
    assert judge(sqlite_ledger, events, {"check": "items_owned"}, day_of(30)).verdict == "met"


def test_sla_compliance(sqlite_ledger: Ledger, events: EventStore) -> None:
    # Four clocks came due in the 30 days before the end of day 30: three met, one missed.
    due = AT - timedelta(days=3)
    with sqlite_ledger.session() as s:
        add_item(s, triage_due=due, triaged_at=due - timedelta(hours=1))  # met
        add_item(s, triage_due=due, triaged_at=due + timedelta(hours=1), title="late")  # missed
        add_item(
            s,
            fix_due=due,
            fix_shipped_at=due - timedelta(days=1),
            triage_due=due - timedelta(days=2),
            triaged_at=due - timedelta(days=3),
        )  # 2 met
        add_item(s, triage_due=AT - timedelta(days=60), triaged_at=AT - timedelta(days=61))  # old
    spec = {"check": "sla_compliance", "at_least": 0.75, "window_days": 30}
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert (got.value, got.n, got.verdict) == (0.75, 4, "met")
    assert [b.title for b in got.blocking] == ["late"]
    assert judge(sqlite_ledger, events, {**spec, "at_least": 0.8}, day_of(30)).verdict == "not_met"
    # Nothing came due in a window long before: not enough data.
    assert judge(sqlite_ledger, events, {**spec, "window_days": 1}, day_of(10)).verdict == "no_data"


def test_feedback_action_window(sqlite_ledger: Ledger, events: EventStore) -> None:
    due = AT - timedelta(days=2)

    def feedback(n: int, closed: datetime | None) -> Feedback:
        return Feedback(
            deployment=DEPLOYMENT,
            source="agent",
            kind="friction",
            source_key=f"k{n}",
            theme="other",
            status="closed" if closed else "acknowledged",
            received_at=due - timedelta(days=14),
            ack_due=due - timedelta(days=13),
            action_due=due,
            closed_at=closed,
            recorded_by="t",
        )

    with sqlite_ledger.session() as s:
        s.add_all(
            [
                feedback(1, due - timedelta(days=1)),
                feedback(2, due + timedelta(days=1)),
                feedback(3, None),
                feedback(4, due),
            ]
        )
    spec = {"check": "feedback_action_window", "at_least": 0.5, "window_days": 14}
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert (got.value, got.n, got.verdict) == (0.5, 4, "met")  # 1 and 4 in time
    assert judge(sqlite_ledger, events, {**spec, "at_least": 0.6}, day_of(30)).verdict == "not_met"


@pytest.fixture
def alert_routes() -> Iterator[Callable[[dict[str, list[str]] | None], None]]:
    providers: list[Any] = []

    def provide(answer: dict[str, list[str]] | None) -> None:
        def provider(ledger: Ledger, deployment: str) -> dict[str, list[str]] | None:
            return answer

        providers.append(provider)
        checks.register_alert_routes(provider)

    yield provide
    for p in providers:
        checks.unregister_alert_routes(p)


def test_alert_routes(
    sqlite_ledger: Ledger,
    events: EventStore,
    alert_routes: Callable[[dict[str, list[str]] | None], None],
) -> None:
    spec = {"check": "alert_routes"}
    with sqlite_ledger.session() as s:
        ana, ben = add_owner(s, "ana"), add_owner(s, "ben")
        add_item(s, owner_id=ana.id)
        s.add(RoutingRule(deployment=DEPLOYMENT, position=0, owner_id=ben.id, journey="billing"))
    # No notifications domain: not configured, never met.
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert (got.verdict, got.summary) == (
        "no_data",
        "alert routes not configured: no notification routes exist yet",
    )
    alert_routes(None)  # installed, but not set up for this deployment
    assert judge(sqlite_ledger, events, spec, day_of(30)).verdict == "no_data"
    alert_routes({"ana": ["slack #care-bot"]})
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert (got.verdict, got.summary) == ("not_met", "1 of 2 owners without an alert route: ben")
    alert_routes({"ben": ["email ben@example.com"]})
    assert judge(sqlite_ledger, events, spec, day_of(30)).verdict == "met"


def test_data_feed_healthy(sqlite_ledger: Ledger, events: EventStore) -> None:
    spec = {"check": "data_feed_healthy", "window_days": 5}
    outage = datetime.combine(day_of(24), time(9), tzinfo=UTC)
    with sqlite_ledger.session() as s:
        feed = {"detector": "feed_quality", "kind": "freshness_gap"}
        s.add(finding("f1", "No data for 5 hours", outage, outage + timedelta(hours=5), **feed))
        s.add(finding("f2", "other", outage, outage, detector="slo", kind="slo_breach"))
    # Day 28: the window (days 24-28) holds the outage.
    got = judge(sqlite_ledger, events, spec, day_of(28))
    assert (got.verdict, got.value) == ("not_met", 1.0)
    assert got.evidence[0].label == "No data for 5 hours"
    # Day 29: the window is days 25-29.
    assert judge(sqlite_ledger, events, spec, day_of(29)).verdict == "met"
    # Before the outage it was not known yet.
    assert judge(sqlite_ledger, events, spec, day_of(23)).verdict == "met"


# -- no emerging gap: care-bot's own store, 30 days of 20 payments and 20 billing conversations
# a day, one question each; every fifth payments question falls back, in words drawn from a
# fixed set of four. From day 27 three payments conversations a day ask about direct deposit,
# and fall back. The baseline window is days 7-20.

DAYS, PER_DAY, NEW_FROM, NEW_PER_DAY = 30, 20, 27, 3
USUAL = ("why was my card charged twice", "cancel a payment", "payment is pending", "refund")


def _record(n: int, day: int, k: int, journey: str, text: str, fallback: bool) -> dict[str, Any]:
    at = START + timedelta(days=day, minutes=10 * k + 1)
    return {
        "id": f"g-{n:06d}",
        "deployment": DEPLOYMENT,
        "started_at": at.isoformat().replace("+00:00", "Z"),
        "journey": journey,
        "outcome": "escalated" if fallback else "contained",
        "turns": [
            {"seq": 0, "role": "user", "text": text},
            {
                "seq": 1,
                "role": "assistant",
                "text": "Sorry?" if fallback else "Done.",
                "fallback": fallback,
            },
        ],
    }


def gap_records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for day in range(DAYS):
        for k in range(PER_DAY):
            fell = k % 5 == 0
            out.append(_record(len(out), day, k, "payments", USUAL[(day + k) % 4], fell))
            out.append(_record(len(out), day, k, "billing", "show my bill", False))
        if day >= NEW_FROM:
            for k in range(NEW_PER_DAY):
                text = "how do I set up direct deposit for my salary"
                out.append(_record(len(out), day, PER_DAY + k, "payments", text, True))
    return out


@pytest.fixture(scope="module")
def gap_events() -> Iterator[EventStore]:
    store = store_of(gap_records())
    yield store
    store.close()


GAP_SPEC = {"check": "no_emerging_gap", "journey": "payments", "window_days": 7}


def test_no_emerging_gap(sqlite_ledger: Ledger, gap_events: EventStore) -> None:
    # Day 26: the window (days 20-26) uses the journey's usual words only.
    calm = judge(sqlite_ledger, gap_events, GAP_SPEC, day_of(26))
    assert calm.verdict == "met"
    assert calm.n == 7 * PER_DAY
    assert calm.label == "No new subject in the unanswered questions over 7 days in payments"
    # Day 28: 6 conversations used "deposit" in the last 2 days, none before. Days 7-21 before
    # the window hold 15 x 20 = 300 conversations; the last two days 2 x 23 = 46, a share of
    # 46 / 346, so 6 of 6 there has p = (46 / 346) ** 6.
    got = judge(sqlite_ledger, gap_events, GAP_SPEC, day_of(28))
    assert got.verdict == "not_met"
    assert got.value == 4.0  # deposit, direct, salary, set (how/for/my are function words)
    assert "“deposit”" in got.summary
    assert "“set”" in got.summary
    assert "6 conversations over the last 2 days against 0.0" in got.summary
    assert f"p = {(46 / 346) ** 6:.1e}" in got.summary
    assert got.evidence[0].href.startswith("/conversations?deployment=care-bot&q=")
    assert "journey=payments" in got.evidence[0].href
    # The other journey heard nothing new.
    other = judge(sqlite_ledger, gap_events, {**GAP_SPEC, "journey": "billing"}, day_of(28))
    assert other.verdict == "met"
    # Before the window clears the baseline there is nothing to compare with.
    early = judge(sqlite_ledger, gap_events, GAP_SPEC, day_of(10))
    assert early.verdict == "no_data"


def test_no_emerging_gap_splits_only_the_days_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each day's words are kept with its fingerprint: a second read counts no day's words
    # again, and a late question on a past day has that day alone counted again.
    from daytwo.plan import gap_check

    counted: list[set[date]] = []
    words_per_day = gap_check._words_per_day

    def spy(events: EventStore, where: str, params: list[object], days: set[date]) -> Any:
        counted.append(set(days))
        return words_per_day(events, where, params, days)

    monkeypatch.setattr(gap_check, "_words_per_day", spy)
    records = [r for r in gap_records() if r["started_at"] < f"{day_of(10).isoformat()}T"]
    store = store_of(records)
    try:
        start, end = day_of(0), day_of(10)
        first = gap_check.read_counts(store, DEPLOYMENT, "payments", start, end)
        assert counted == [{day_of(d) for d in range(10)}]
        counted.clear()
        assert gap_check.read_counts(store, DEPLOYMENT, "payments", start, end) == first
        assert counted == []
        late = _record(len(records), 4, PER_DAY, "payments", "direct deposit missing", True)
        store.write(decode_json(orjson.dumps([late])).batch, source="t", batch_id="2")
        again = gap_check.read_counts(store, DEPLOYMENT, "payments", start, end)
        assert counted == [{day_of(4)}]  # day 4's questions, the late one included
        assert again[1][day_of(4)]["deposit"] == 1
        assert again[0][day_of(4)] == first[0][day_of(4)] + 1
        assert {d: c for d, c in again[1].items() if d != day_of(4)} == {
            d: c for d, c in first[1].items() if d != day_of(4)
        }
    finally:
        store.close()


def test_no_baseline_means_no_data(sqlite_ledger: Ledger, gap_events: EventStore) -> None:
    got = judge(sqlite_ledger, gap_events, {**GAP_SPEC, "window_days": 25}, day_of(26))
    assert (got.verdict, got.summary) == ("no_data", "no history before the last 25 days")


def test_data_policies(sqlite_ledger: Ledger, events: EventStore) -> None:
    spec = {"check": "data_policies"}
    assert judge(sqlite_ledger, events, spec, day_of(30)).verdict == "not_met"
    set_policy(sqlite_ledger, DEPLOYMENT, text_retention_days=30)
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert (got.verdict, got.summary) == ("not_met", "policy set, but no interaction retention")
    set_policy(sqlite_ledger, DEPLOYMENT, interaction_retention_days=365)
    assert judge(sqlite_ledger, events, spec, day_of(30)).verdict == "met"


def test_audit_chain(sqlite_ledger: Ledger, events: EventStore) -> None:
    spec = {"check": "audit_chain"}
    with sqlite_ledger.session() as s:
        audit.record(s, actor="t", action="x.one")
        audit.record(s, actor="t", action="x.two")
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert (got.verdict, got.n) == ("met", 2)
    with sqlite_ledger.session() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 1).values(actor="someone else"))
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert got.verdict == "not_met"
    assert "entry 1 was changed after it was written" in got.summary


def test_journey_records(sqlite_ledger: Ledger, events: EventStore) -> None:
    spec = {"check": "journey_records", "record": "handover"}
    with sqlite_ledger.session() as s:
        for journey in JOURNEYS:
            s.add(
                PlanRecord(
                    deployment=DEPLOYMENT,
                    journey=journey,
                    kind="runbook",
                    title="rb",
                    recorded_by="t",
                    recorded_at=AT - timedelta(days=3),
                )
            )
        s.add(
            PlanRecord(
                deployment=DEPLOYMENT,
                journey="billing",
                kind="handover",
                title="h",
                location="https://wiki.example/billing",
                recorded_by="t",
                recorded_at=AT - timedelta(days=3),
            )
        )
    got = judge(sqlite_ledger, events, spec, day_of(30))
    assert got.summary == "2 of 3 journeys without a handover: card_lost, payments"
    assert got.evidence[0].href == "https://wiki.example/billing"
    assert judge(sqlite_ledger, events, {"check": "journey_records"}, day_of(30)).verdict == "met"
    # Recorded on day 27: not there yet on day 25.
    assert (
        judge(sqlite_ledger, events, {"check": "journey_records"}, day_of(25)).verdict == "not_met"
    )


# Which test holds the golden case of each kind of criterion.
CASES: dict[str, Callable[..., None]] = {
    "at_most": test_threshold_over_a_window_sustained,
    "sustained": test_threshold_over_a_window_sustained,
    "at_least": test_threshold_on_a_journey,
    "scope:journey": test_threshold_on_a_journey,
    "below": test_threshold_on_a_segment,
    "above": test_threshold_on_a_segment,
    "scope:segment": test_threshold_on_a_segment,
    "min_sample": test_minimum_sample,
    "vs_baseline:better": test_better_than_baseline,
    "vs_baseline:not_worse": test_not_worse_than_baseline,
    "vs_baseline:imported": test_an_imported_baseline,
    CheckKind.no_open_items.value: test_no_open_items,
    CheckKind.journeys_owned.value: test_journeys_owned,
    CheckKind.items_owned.value: test_items_owned,
    CheckKind.sla_compliance.value: test_sla_compliance,
    CheckKind.feedback_action_window.value: test_feedback_action_window,
    CheckKind.alert_routes.value: test_alert_routes,
    CheckKind.data_feed_healthy.value: test_data_feed_healthy,
    CheckKind.data_policies.value: test_data_policies,
    CheckKind.audit_chain.value: test_audit_chain,
    CheckKind.journey_records.value: test_journey_records,
    CheckKind.no_emerging_gap.value: test_no_emerging_gap,
}


def test_every_kind_has_golden_cases() -> None:
    """Every check kind, comparator and baseline comparison has its golden case above."""
    wanted = {k.value for k in CheckKind} | set(get_args(Comparator))
    wanted |= {
        "vs_baseline:better",
        "vs_baseline:not_worse",
        "scope:journey",
        "scope:segment",
        "sustained",
        "min_sample",
    }
    assert wanted - set(CASES) == set()


def test_no_emerging_gap_reads_the_same_on_clickhouse(
    gap_events: EventStore, chdb_dir: Path
) -> None:
    # The check's own events query (window functions, day truncation) through the ClickHouse
    # translation: the same conversations per day and the same words per day as on DuckDB.
    from daytwo.plan.gap_check import read_counts

    url = clickhouse_url(chdb_dir)
    chdb = open_event_store(url)
    try:
        decoded = decode_json(orjson.dumps(gap_records()))
        chdb.write(decoded.batch, source="t", batch_id="1")
        start, end = day_of(0), day_of(DAYS)
        want = read_counts(gap_events, DEPLOYMENT, "payments", start, end)
        got = read_counts(chdb, DEPLOYMENT, "payments", start, end)
    finally:
        chdb.close()
        drop_clickhouse(url)
    assert sum(want[0].values()) == DAYS * PER_DAY + NEW_PER_DAY * (DAYS - NEW_FROM)
    assert sum(c["deposit"] for c in want[1].values()) == NEW_PER_DAY * (DAYS - NEW_FROM)
    assert got == want


def test_open_items_about_a_metric_include_those_holding_its_findings(
    sqlite_ledger: Ledger,
) -> None:
    # A model change's item, led by its latency rise, holds its turn errors too: it is open
    # about the error rate and about the p95 latency (the same problem as the mean's). An
    # item whose error finding resolved is not, nor one about something else.
    from daytwo.backlog.models import ItemFinding
    from daytwo.plan.ledger import open_items

    with sqlite_ledger.session() as s:
        model = add_item(s, title="model change", signal={"metric": "latency_mean"})
        gone = add_item(s, title="errors gone", signal={"metric": "containment_rate"})
        other = add_item(s, title="containment", signal={"metric": "containment_rate"})
        for item, fp, status in ((model, "e1", "open"), (gone, "e2", "resolved")):
            s.add(
                ItemFinding(
                    item_id=item.id, finding_id=fp, fingerprint=fp, kind="degradation",
                    snapshot={"metric": "error_rate", "status": status},
                )
            )  # fmt: skip
        s.flush()
        assert [i.title for i in open_items(s, DEPLOYMENT, AT, metric="error_rate")] == [
            "model change"
        ]
        assert [i.title for i in open_items(s, DEPLOYMENT, AT, metric="latency_p95")] == [
            "model change"
        ]
        assert {i.title for i in open_items(s, DEPLOYMENT, AT, metric="containment_rate")} == {
            other.title,
            gone.title,
        }


def test_open_items_read_once_answer_as_each_read_alone(sqlite_ledger: Ledger) -> None:
    # One evaluation's criteria share one read of the open items and their links (``memo``):
    # every filter answers the same items, in the same order, as its own query; an item
    # closed before, created after or of another deployment is in neither.
    from daytwo.backlog.models import ItemFinding
    from daytwo.plan.ledger import OpenMemo, open_items

    with sqlite_ledger.session() as s:
        rows = [
            add_item(s, title="p1 pay", priority="P1", journey="payments", score=5.0,
                     signal={"metric": "containment_rate"}),
            add_item(s, title="p2 pay", journey="payments", score=5.0,
                     signal={"metric": "latency_mean"}),
            add_item(s, title="p2 cards", journey="cards", score=3.0, signal={}),
            add_item(s, title="p1 none", priority="P1", score=9.0, signal={}),
            add_item(s, title="reopened", status="reopened", score=2.0, signal={}),
            add_item(s, title="closed", status="verified", closed_at=AT - timedelta(days=1),
                     signal={}),
            add_item(s, title="later", created_at=AT + timedelta(hours=1), signal={}),
            add_item(s, title="elsewhere", deployment="other", signal={}),
        ]  # fmt: skip
        s.add(
            ItemFinding(
                item_id=rows[2].id, finding_id="e1", fingerprint="e1", kind="degradation",
                snapshot={"metric": "error_rate", "status": "open"},
            )
        )  # fmt: skip
        s.flush()
        memo: OpenMemo = {}
        asks: list[dict[str, Any]] = [
            {}, {"priority": "P1"}, {"priority": "P2", "journey": "payments"},
            {"journey": "cards"}, {"metric": "error_rate"}, {"metric": "latency_p95"},
            {"metric": "containment_rate", "journey": "payments"}, {"priority": "P3"},
        ]  # fmt: skip
        for ask in asks:
            alone = [i.title for i in open_items(s, DEPLOYMENT, AT, **ask)]
            shared = [i.title for i in open_items(s, DEPLOYMENT, AT, memo=memo, **ask)]
            assert shared == alone, ask
        assert [i.title for i in open_items(s, DEPLOYMENT, AT, memo=memo)] == [
            "p1 none", "p1 pay", "p2 pay", "p2 cards", "reopened",
        ]  # fmt: skip
        assert [i.title for i in open_items(s, DEPLOYMENT, AT, memo=memo, metric="error_rate")] == [
            "p2 cards"
        ]
        # Read once: the open items and their links, whatever was asked.
        assert len(memo) == 2
