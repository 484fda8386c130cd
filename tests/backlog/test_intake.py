"""Recorded findings of the detectors become items: the volume, confidence and scope read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daytwo.backlog import owners, service
from daytwo.backlog.intake import _bad_share_excess, absorb_detected, after_analysis
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import OwnerCreate, RuleCreate
from daytwo.detect import service as detect_service
from daytwo.detect.findings import Finding, FindingScope, Impact, Measure, Severity
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT

AT = datetime(2026, 3, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("metric", "base", "cur", "good", "share"),
    [
        # escalations 20% → 30%: a third of today's escalations are the problem's
        ("escalation_rate", 0.2, 0.3, None, 1 / 3),
        # containment 60% → 50% (good is up): bad 40% → 50%, a fifth is new
        ("containment_rate", 0.6, 0.5, None, 0.2),
        ("containment_rate", 0.5, 0.6, None, 0.0),  # better, not worse: nothing added
        ("latency_p95", 700.0, 1500.0, None, 1.0),  # not a rate: every occurrence counts
        ("escalation_rate", None, 0.3, None, 1.0),
    ],
)
def test_excess_share_golden(
    metric: str, base: float | None, cur: float | None, good: str | None, share: float
) -> None:
    assert _bad_share_excess(metric, base, cur, good) == pytest.approx(share)


def _finding(journey: str, p_value: float) -> Finding:
    return Finding(
        detector="degradation",
        kind="degradation",
        title=f"Escalation worse in {journey}",
        scope=FindingScope(DEPLOYMENT, journey=journey, metric="escalation_rate"),
        severity=Severity.high,
        first_seen=AT,
        last_seen=AT,
        baseline=Measure(0.2, 1000),
        current=Measure(0.3, 1000),
        impact=Impact(interactions_per_week=300, customers_per_week=280, agents_per_week=0),
        details={"p_value": p_value, "good": "down"},
    )


def test_recorded_findings_open_routed_items_once(ledger: Ledger, policy: BacklogPolicy) -> None:
    owners.create_owner(ledger, OwnerCreate(handle="cards", name="Cards"), actor="a")
    owners.add_rule(
        ledger, RuleCreate(deployment=DEPLOYMENT, owner="cards", journey="card_lost"), actor="a"
    )
    run = detect_service.start_run(ledger, DEPLOYMENT, ["degradation"])
    detect_service.record_findings(
        ledger, run, DEPLOYMENT, ["degradation"],
        [_finding("card_lost", 0.01), _finding("billing", 0.2)],
        since=None, data_through=AT, interactions=2000,
    )  # fmt: skip
    first = absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    assert (first.created, first.updated) == (2, 0)
    again = after_analysis(ledger, DEPLOYMENT)  # the runner's hook: nothing new
    assert (again.created, again.updated) == (0, 2)
    items = {i.journey: i for i in service.list_items(ledger)}
    cards = items["card_lost"]
    assert cards.owner == "cards"
    assert items["billing"].owner is None  # no rule, no default: raised as a finding
    # volume = 300 bad/week × 1/3 excess = 100; 100 × 6.5 × 1.5 × 1 × 0.99 + 0.5 × 280 = 1105.25
    assert cards.score == pytest.approx(1105.25)
    assert cards.priority == "P1"
    terms = {t["name"]: t["value"] for t in cards.breakdown["terms"]}
    assert terms["volume per week"] == pytest.approx(100.0)
    assert terms["confidence"] == pytest.approx(0.99)
