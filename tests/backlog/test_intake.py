"""Recorded findings of the detectors become items: the volume, confidence and scope read."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy

from daytwo.backlog import owners, service
from daytwo.backlog.facts import _bad_share_excess
from daytwo.backlog.gap_family import journey_overlap
from daytwo.backlog.intake import absorb_detected, head_of
from daytwo.backlog.models import ItemFinding
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import ItemUpdate, OwnerCreate, RuleCreate
from daytwo.detect import service as detect_service
from daytwo.detect.findings import Finding, FindingScope, Impact, Measure, Severity
from daytwo.detect.schemas import FindingFilter
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
    again = absorb_detected(ledger, policy, deployment=DEPLOYMENT)  # seen again: nothing new
    assert (again.created, again.updated) == (0, 2)
    items = {i.journey: i for i in service.list_items(ledger)}
    cards = items["card_lost"]
    assert cards.owner == "cards"
    assert items["billing"].owner is None  # no rule, no default: raised as a finding
    # volume = 300 bad/week × 1/3 excess = 100; 100 × 6.5 × 1.5 × 1 × 0.99 + 0.05 × 280 = 979.25
    assert cards.score == pytest.approx(979.25)
    assert cards.priority == "P2"
    terms = {t["name"]: t["value"] for t in cards.breakdown["terms"]}
    assert terms["volume per week"] == pytest.approx(100.0)
    assert terms["confidence"] == pytest.approx(0.99)


def _acceptance(segment: tuple[str, str], per_week: float, root: str | None = None) -> Finding:
    details: dict[str, object] = {"p_value": 0.0, "good": "up"}
    if root is not None:
        details["root"] = root
    return Finding(
        detector="degradation",
        kind="degradation",
        title=f"Suggestion acceptance worse in {segment[0]}={segment[1]}",
        scope=FindingScope(DEPLOYMENT, segment=segment, metric="suggestion_acceptance_rate"),
        severity=Severity.high,
        first_seen=AT,
        last_seen=AT,
        baseline=Measure(0.5, 1000),
        current=Measure(0.2, 1000),
        impact=Impact(interactions_per_week=per_week, agents_per_week=40),
        details=details,
    )


def _record(ledger: Ledger, detector: str, findings: list[Finding], day: int) -> None:
    run = detect_service.start_run(ledger, DEPLOYMENT, [detector])
    detect_service.record_findings(
        ledger, run, DEPLOYMENT, [detector], findings, since=None,
        data_through=AT.replace(day=day), interactions=2000,
    )  # fmt: skip


def test_findings_a_broader_one_explains_join_its_item(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    owners.create_owner(ledger, OwnerCreate(handle="maria", name="Maria"), actor="a")
    owners.add_rule(
        ledger, RuleCreate(deployment=DEPLOYMENT, owner="maria", segment="site:porto"), actor="a"
    )
    site = _acceptance(("site", "porto"), 1000)
    # The teams come first: intake takes roots before the findings they explain.
    teams = [
        _acceptance(("team", "porto-1"), 300, root=site.fingerprint),
        _acceptance(("team", "porto-2"), 250, root=site.fingerprint),
    ]
    other = _finding("billing", 0.01)
    _record(ledger, "degradation", [*teams, site, other], 30)
    first = absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    assert (first.created, first.updated) == (2, 2)
    again = absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    assert (again.created, again.updated) == (0, 4)
    items = service.list_items(ledger)
    assert len(items) == 2
    porto = next(i for i in items if i.segments == {"site": "porto"})
    assert porto.owner == "maria"  # routed by the root's segment, not a team's
    detail = service.get_item(ledger, porto.id)
    assert {f.fingerprint for f in detail.findings} == {
        site.fingerprint,
        *(t.fingerprint for t in teams),
    }
    assert [e.note for e in detail.history if e.action == "finding linked"] == [
        f"explained by finding {site.fingerprint}"
    ] * 2
    # The site drives the priority: bad share 50% → 80%, 3/8 of it new: 375 a week
    # × 0.9 (agent minute) × 1.5 (high) × 1 × 1 (p = 0) + 0.05 × 40 agents = 508.25.
    assert porto.score == pytest.approx(508.25)


def test_an_item_whose_finding_a_later_root_explains_merges_into_the_roots_item(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    # Day 1: only team porto-1 is seen: it opens its own item. Day 2: the site is seen too and
    # explains the team (its root): the team's item, still new, merges into the site's.
    team = _acceptance(("team", "porto-1"), 300)
    _record(ledger, "degradation", [team], 29)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (early,) = service.list_items(ledger)
    site = _acceptance(("site", "porto"), 1000)
    explained = _acceptance(("team", "porto-1"), 300, root=site.fingerprint)
    # The site is a new segment finding on a repeated look: held on day 30, raised on day 31.
    _record(ledger, "degradation", [explained, site], 30)
    _record(ledger, "degradation", [explained, site], 31)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    # The backlog lists one item, the problem; the merged one only when asked for.
    (root,) = service.list_items(ledger)
    assert root.id != early.id
    merged = service.get_item(ledger, early.id)
    assert merged.status == "wont_fix"
    assert merged.merged_into == root.id
    assert merged.findings == []
    assert "merged into item" in merged.resolution
    assert [i.id for i in service.list_items(ledger, include_merged=True)] == [root.id, early.id]
    detail = service.get_item(ledger, root.id)
    assert detail.merged == [early.id]
    assert {f.fingerprint for f in detail.findings} == {site.fingerprint, team.fingerprint}
    assert any(
        e.action == "finding linked" and f"merged from item {early.id}" in (e.note or "")
        for e in detail.history
    )
    # Repeating the intake changes nothing.
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    assert len(service.list_items(ledger, include_merged=True)) == 2
    again = service.get_item(ledger, root.id)
    assert {f.fingerprint for f in again.findings} == {site.fingerprint, team.fingerprint}


def test_an_item_someone_works_on_is_not_merged(ledger: Ledger, policy: BacklogPolicy) -> None:
    team = _acceptance(("team", "porto-1"), 300)
    _record(ledger, "degradation", [team], 29)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (early,) = service.list_items(ledger)
    service.move_item(ledger, early.id, "triaged", policy, actor="maria")
    site = _acceptance(("site", "porto"), 1000)
    for day in (30, 31):  # held on day 30, raised on day 31
        _record(
            ledger, "degradation",
            [_acceptance(("team", "porto-1"), 300, root=site.fingerprint), site], day,
        )  # fmt: skip
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    kept = service.get_item(ledger, early.id)
    assert kept.status == "triaged"
    assert [f.fingerprint for f in kept.findings] == [team.fingerprint]
    assert len(service.list_items(ledger)) == 2


def test_a_symptom_whose_root_moved_moves_alone(ledger: Ledger, policy: BacklogPolicy) -> None:
    # Day 29: the site's drop opens an item and its team joins it as a symptom. Days 30-31: a
    # tenure band's drop, another problem, opens its own item, and that look names the band
    # as the team's root. The site's item stays the site's (the team is not what it was opened
    # from), the team's finding moves to the band's item on its own, and nothing else follows.
    site = _acceptance(("site", "porto"), 1000)
    band = _acceptance(("tenure", "2y+"), 800)
    _record(
        ledger, "degradation", [site, _acceptance(("team", "porto-1"), 300, root=site.fingerprint)],
        29,
    )  # fmt: skip
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (first,) = service.list_items(ledger)
    moved = _acceptance(("team", "porto-1"), 300, root=band.fingerprint)
    for day in (30, 31):  # the band: held on day 30, raised on day 31
        _record(ledger, "degradation", [site, moved, band], day)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    items = {i.id: i for i in service.list_items(ledger, include_merged=True)}
    assert len(items) == 2
    assert items[first.id].merged_into is None
    kept = service.get_item(ledger, first.id)
    assert [f.fingerprint for f in kept.findings] == [site.fingerprint]
    (other,) = [i for i in items if i != first.id]
    gained = service.get_item(ledger, other)
    assert {f.fingerprint for f in gained.findings} == {band.fingerprint, moved.fingerprint}
    assert any(
        e.action == "finding moved" and f"to item {other}" in (e.note or "") for e in kept.history
    )
    # Seen again with the same root, it stays where it went.
    _record(ledger, "degradation", [site, moved, band], 31)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    assert {f.fingerprint for f in service.get_item(ledger, other).findings} == {
        band.fingerprint,
        moved.fingerprint,
    }


def test_a_root_about_the_items_own_place_still_gathers_its_symptoms(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    # Day 29: a team's acceptance drop opens an item, its latency rise there joins it (same
    # place). Days 30-31: a tenure band's drop that the latency rise explains joins that item.
    team = _acceptance(("team", "porto-1"), 300)
    slow = dataclasses.replace(team, scope=dataclasses.replace(team.scope, metric="latency_p95"))
    _record(ledger, "degradation", [team, slow], 29)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (item,) = service.list_items(ledger)
    band = _acceptance(("tenure", "0-6m"), 200, root=slow.fingerprint)
    for day in (30, 31):
        _record(ledger, "degradation", [team, slow, band], day)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    assert [i.id for i in service.list_items(ledger)] == [item.id]
    linked = {f.fingerprint for f in service.get_item(ledger, item.id).findings}
    assert linked == {team.fingerprint, slow.fingerprint, band.fingerprint}


@pytest.mark.parametrize(("status", "merged"), [("triaged", True), ("in_progress", False)])
def test_an_item_its_owner_only_triaged_merges_into_the_same_owners_root(
    ledger: Ledger, policy: BacklogPolicy, status: str, merged: bool
) -> None:
    # A cause seen days after its symptom (a knowledge gap is clustered weekly): the symptom's
    # item was triaged meanwhile by the owner who owns the cause's item too. Only triaged, it
    # joins the problem; once work started on it, it keeps its findings.
    owners.create_owner(ledger, OwnerCreate(handle="maria", name="Maria"), actor="a")
    owners.set_default_owner(ledger, DEPLOYMENT, "maria", actor="a")
    team = _acceptance(("team", "porto-1"), 300)
    _record(ledger, "degradation", [team], 29)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (early,) = service.list_items(ledger)
    service.move_item(ledger, early.id, "triaged", policy, actor="maria", reason="ours")
    if status == "in_progress":
        service.move_item(ledger, early.id, status, policy, actor="maria")
    site = _acceptance(("site", "porto"), 1000)
    for day in (30, 31):  # held on day 30, raised on day 31
        _record(
            ledger, "degradation",
            [_acceptance(("team", "porto-1"), 300, root=site.fingerprint), site], day,
        )  # fmt: skip
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    after = service.get_item(ledger, early.id)
    assert (after.merged_into is not None) is merged
    assert after.status == ("wont_fix" if merged else status)
    assert len(service.list_items(ledger)) == (1 if merged else 2)


def test_an_item_merged_after_another_of_its_findings_changed_in_the_same_intake(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    # Day 1: team porto-1 is seen by two metrics: one item. Day 3 (the site confirmed): the
    # acceptance finding is explained by the site and merges the item, after the latency
    # finding of the same item changed earlier in the same intake.
    team = _acceptance(("team", "porto-1"), 300)
    slow = dataclasses.replace(team, scope=dataclasses.replace(team.scope, metric="latency_p95"))
    _record(ledger, "degradation", [team, slow], 29)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (early,) = service.list_items(ledger)
    site = _acceptance(("site", "porto"), 1000)
    explained = _acceptance(("team", "porto-1"), 300, root=site.fingerprint)
    for day in (30, 31):
        _record(ledger, "degradation", [explained, slow, site], day)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    merged = service.get_item(ledger, early.id)
    assert merged.status == "wont_fix"
    assert merged.findings == []


def test_a_resolved_finding_keeps_its_item_and_weighs_nothing(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    owners.create_owner(ledger, OwnerCreate(handle="platform", name="Platform"), actor="a")
    owners.add_rule(
        ledger,
        RuleCreate(deployment=DEPLOYMENT, owner="platform", finding_kind="freshness_gap"),
        actor="a",
    )
    gap = Finding(
        detector="feed_quality",
        kind="freshness_gap",
        title="No data for 5 hours",
        scope=FindingScope(DEPLOYMENT),
        severity=Severity.high,
        first_seen=AT,
        last_seen=AT,
        impact=Impact(interactions_per_week=120, customers_per_week=110),
    )
    _record(ledger, "feed_quality", [gap], 10)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (item,) = service.list_items(ledger)
    # Open: 120 × 1 (no price for a gap: default) × 1.5 × 1 × 1 + 0.05 × 110 = 185.5.
    assert item.score == pytest.approx(185.5)
    _record(ledger, "feed_quality", [], 17)  # the next week's run does not see it
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    detail = service.get_item(ledger, item.id)
    assert detail.owner == "platform"
    assert detail.status == "new"  # still its owner's to triage: what caused it, will it recur
    assert detail.score == 0.0
    assert detail.priority == "P4"
    assert detail.findings[0].snapshot["status"] == "resolved"
    moves = [(e.before, e.after) for e in detail.history if e.action == "finding status"]
    assert moves == [("open", "resolved")]


def test_a_problem_resolved_before_intake_still_opens_one_owned_item(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    owners.create_owner(ledger, OwnerCreate(handle="platform", name="Platform"), actor="a")
    owners.add_rule(
        ledger,
        RuleCreate(deployment=DEPLOYMENT, owner="platform", finding_kind="duplicate_deliveries"),
        actor="a",
    )
    dupes = Finding(
        detector="feed_quality",
        kind="duplicate_deliveries",
        title="3% of a day's conversations delivered twice",
        scope=FindingScope(DEPLOYMENT),
        severity=Severity.medium,
        first_seen=AT,
        last_seen=AT,
        impact=Impact(interactions_per_week=60),
        key=("2026-03-30",),
    )
    _record(ledger, "feed_quality", [dupes], 10)
    _record(ledger, "feed_quality", [], 17)  # resolved before the backlog saw it
    first = absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    assert (first.created, first.updated) == (1, 0)
    again = absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    assert (again.created, again.updated) == (0, 1)
    (item,) = service.list_items(ledger)
    assert item.owner == "platform"
    assert item.status == "new"
    assert (item.score, item.priority) == (0.0, "P4")
    assert "already resolved" in item.description


def _gap(words: str, first_day: int, journeys: dict[str, int]) -> Finding:
    first = AT.replace(day=first_day)
    return Finding(
        detector="knowledge_gap",
        kind="knowledge_gap",
        title=f"Knowledge gap: {words} (new intent)",
        scope=FindingScope(DEPLOYMENT),
        severity=Severity.medium,
        first_seen=first,
        last_seen=AT,
        baseline=Measure(0.0, 0),
        current=Measure(float(sum(journeys.values())), sum(journeys.values())),
        impact=Impact(interactions_per_week=float(sum(journeys.values()))),
        key=(words,),
        details={"journeys": journeys, "p_value": 0.0},
    )


def test_gaps_growing_together_in_the_same_journeys_are_one_item(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    taxes = _gap("taxes", 10, {"payments": 60, "balance": 40})
    payday = _gap("payday", 13, {"balance": 55, "payments": 45})
    fraud = _gap("venmo charge", 12, {"fraud": 30})  # growing too, in other journeys
    _record(ledger, "knowledge_gap", [taxes, payday, fraud], 20)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    # Weeks later the first two have stopped growing (their findings resolved) and a new gap
    # grows in the same journeys: another problem.
    later = _gap("w-2 form", 25, {"payments": 50, "balance": 50})
    _record(ledger, "knowledge_gap", [later, fraud], 30)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    items = service.list_items(ledger)
    by_finding = {
        f.fingerprint: item.id for item in items for f in service.get_item(ledger, item.id).findings
    }
    assert len(items) == 3
    assert by_finding[taxes.fingerprint] == by_finding[payday.fingerprint]
    assert by_finding[fraud.fingerprint] != by_finding[taxes.fingerprint]
    assert by_finding[later.fingerprint] not in (
        by_finding[taxes.fingerprint],
        by_finding[fraud.fingerprint],
    )
    joined = service.get_item(ledger, by_finding[taxes.fingerprint])
    assert [e.note for e in joined.history if e.action == "finding linked"] == [
        "a knowledge gap growing alongside the item's others"
    ]


def test_an_items_growing_gaps_add_up(ledger: Ledger, policy: BacklogPolicy) -> None:
    taxes = _gap("taxes", 10, {"payments": 60, "balance": 40})
    payday = _gap("payday", 13, {"balance": 30, "payments": 20})
    _record(ledger, "knowledge_gap", [taxes, payday], 20)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (item,) = service.list_items(ledger)
    terms = {t["name"]: t["value"] for t in item.breakdown["terms"]}
    # Each question is in one gap only: 100 + 50 questions a week.
    assert terms["volume per week"] == pytest.approx(150.0)


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ({"payments": 60, "balance": 40}, {"balance": 55, "payments": 45}, 0.85),
        ({"payments": 10}, {"payments": 3}, 1.0),
        ({"payments": 10}, {"fraud": 3}, 0.0),
        ({}, {"fraud": 3}, 0.0),
    ],
)
def test_journey_overlap_golden(a: dict[str, int], b: dict[str, int], overlap: float) -> None:
    assert journey_overlap(a, b) == pytest.approx(overlap)


def _escalation_breach(root: str | None) -> Finding:
    """The deployment's escalations over their 28% target: every conversation counts, so its
    score is far above one journey's."""
    details: dict[str, object] = {"target": 0.28, "good": "down"}
    if root is not None:
        details["root"] = root
    return Finding(
        detector="slo_breach",
        kind="slo_breach",
        title="Escalation breaches its target",
        scope=FindingScope(DEPLOYMENT, metric="escalation_rate"),
        severity=Severity.medium,
        first_seen=AT,
        last_seen=AT,
        baseline=Measure(0.26, 20000),
        current=Measure(0.33, 20000),
        impact=Impact(interactions_per_week=6600, customers_per_week=6000),
        details=details,
    )


def test_a_breach_its_regression_drives_ranks_as_the_regression(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    # The breach alone is an item weighed on the whole deployment's escalations. A look that
    # finds the journey's regression driving it puts it under the regression's item, which
    # is weighed on the regression alone (its cost counted once), and stays so when a later
    # look no longer finds the regression enough to explain the breach alone.
    regression = _finding("card_declined", 0.01)
    run = detect_service.start_run(ledger, DEPLOYMENT, ["degradation"])
    detect_service.record_findings(
        ledger, run, DEPLOYMENT, ["degradation"], [regression], since=None,
        data_through=AT, interactions=2000,
    )  # fmt: skip
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (alone,) = service.list_items(ledger)
    _record(ledger, "slo_breach", [_escalation_breach(root=regression.fingerprint)], 30)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (item,) = service.list_items(ledger)
    assert item.id == alone.id
    assert {f.kind for f in service.get_item(ledger, item.id).findings} == {
        "degradation",
        "slo_breach",
    }
    assert item.score == pytest.approx(alone.score)
    _record(ledger, "slo_breach", [_escalation_breach(root=None)], 31)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (later,) = service.list_items(ledger)
    assert later.score == pytest.approx(alone.score)


def test_an_items_title_follows_the_finding_that_leads_its_problem(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    # Day 20: the smaller gap of a launch is found first and opens the item. Day 27: the
    # launch's larger gap is found; it leads the family (the smaller one is rooted at it), so
    # the findings page shows the problem by the larger gap, and the item takes its name.
    deposit = _gap("direct deposit", 16, {"payments": 60, "balance": 40})
    _record(ledger, "knowledge_gap", [deposit], 20)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (item,) = service.list_items(ledger)
    assert item.title == deposit.title
    tax = _gap("how much tax do i pay", 17, {"payments": 70, "balance": 60})
    rooted = dataclasses.replace(deposit, details={**deposit.details, "root": tax.fingerprint})
    _record(ledger, "knowledge_gap", [rooted, tax], 27)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    (item,) = service.list_items(ledger)
    shown = detect_service.list_findings(ledger, FindingFilter(status=["open", "regressed"]))
    top, symptoms = detect_service.problems_of(shown)
    assert [f.title for f in top] == [tax.title] == [item.title]
    assert symptoms == {tax.fingerprint: 1}
    detail = service.get_item(ledger, item.id)
    led = [e for e in detail.history if e.action == "lead finding"]
    assert [(e.before, e.after, e.note) for e in led] == [
        (str(f.id), str(t.id), tax.title)
        for f in shown
        if f.fingerprint == deposit.fingerprint
        for t in top
    ]
    # Seen again with the same lead: no more history. A name a person gives it is kept.
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    history = service.get_item(ledger, item.id).history
    assert [e.action for e in history].count("lead finding") == 1
    named = ItemUpdate(title="Payroll launch questions")
    service.update_item(ledger, item.id, named, actor="maria")
    _record(ledger, "knowledge_gap", [rooted, tax], 28)
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    assert service.get_item(ledger, item.id).title == "Payroll launch questions"


def test_an_items_title_keeps_up_with_its_lead_finding() -> None:
    # The head is what the findings page shows: an open finding no other open one of the item
    # explains, the most severe first; a resolved root does not hide its open symptom.
    def link(fp: str, fid: str, severity: int, status: str, root: str | None = None) -> ItemFinding:
        return ItemFinding(
            item_id=1, finding_id=fid, fingerprint=fp, kind="degradation",
            snapshot={"title": fp, "severity": severity, "status": status, "root": root,
                      "last_seen": "2026-03-30T00:00:00+00:00"},
        )  # fmt: skip

    site = link("site", "1", 3, "resolved")
    team = link("team", "2", 3, "open", root="site")
    other = link("other", "3", 2, "open")
    assert head_of([site, team, other]) is team
    assert head_of([link("site", "1", 3, "open"), team, other]).fingerprint == "site"
    assert head_of([site]) is site  # a problem that stopped is shown by what it was
    assert head_of([]) is None
    # One that leads keeps leading while it stands; another takes over once it does not.
    assert head_of([site, team, other], current="3") is other
    assert head_of([site, team, link("other", "3", 2, "open", root="team")], "3") is team
    # A finding rooted outside the item stands under its root on the page: one with no root
    # names the item before it, however severe.
    elsewhere = link("gate", "4", 4, "open", root="another-items-finding")
    assert head_of([elsewhere, other]) is other
    assert head_of([elsewhere]) is elsewhere


def test_a_lead_that_pauses_keeps_its_item_named() -> None:
    # Findings of one problem that resolve and regress day by day: the lead, resolved a day
    # ago, keeps leading while it stands and no open finding clearly outranks it.
    def link(
        fp: str, fid: str, severity: int, status: str, seen: int, root: str | None = None
    ) -> ItemFinding:
        return ItemFinding(
            item_id=1, finding_id=fid, fingerprint=fp, kind="degradation",
            snapshot={"title": fp, "severity": severity, "status": status, "root": root,
                      "last_seen": f"2026-10-{seen:02d}T00:00:00+00:00"},
        )  # fmt: skip

    lead = link("voice", "58", 2, "resolved", seen=20)
    other = link("chat", "51", 2, "open", seen=21)
    assert head_of([lead, other]) is other  # with no lead so far, the page's row
    assert head_of([lead, other], current="58") is lead  # paused a day: still the name
    assert head_of([lead, link("chat", "51", 2, "open", seen=23)], "58") is lead  # 3 days
    # Seen more than three days after the lead was last seen: the lead stopped.
    assert head_of([lead, link("chat", "51", 2, "open", seen=24)], "58").finding_id == "51"
    # More severe: it leads at once.
    assert head_of([lead, link("chat", "51", 3, "open", seen=21)], "58").finding_id == "51"
    # The lead does not stand: an open finding of the item explains it, or its chain of roots
    # goes on outside the item.
    explained = link("voice", "58", 2, "resolved", seen=20, root="chat")
    assert head_of([explained, other], "58") is other
    elsewhere = link("voice", "58", 2, "resolved", seen=20, root="another-items-finding")
    assert head_of([elsewhere, other], "58") is other
    # Once it is open again it leads as before; an open lead is never displaced by severity.
    back = link("voice", "58", 2, "regressed", seen=22)
    assert head_of([back, link("chat", "51", 3, "open", seen=22)], "58") is back


def _statements_of_intake(ledger: Ledger, policy: BacklogPolicy, journeys: int) -> list[str]:
    """The statements a run's intake sends when ``journeys`` findings, each with its own item,
    are seen again."""
    run = detect_service.start_run(ledger, DEPLOYMENT, ["degradation"])
    detect_service.record_findings(
        ledger, run, DEPLOYMENT, ["degradation"],
        [_finding(f"journey_{j}", 0.01) for j in range(journeys)],
        since=None, data_through=AT, interactions=2000,
    )  # fmt: skip
    assert absorb_detected(ledger, policy, deployment=DEPLOYMENT).created == journeys
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement.split(None, 1)[0].upper())

    sqlalchemy.event.listen(ledger.engine, "before_cursor_execute", count)
    try:
        again = absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    finally:
        sqlalchemy.event.remove(ledger.engine, "before_cursor_execute", count)
    assert (again.created, again.updated) == (0, journeys)
    return sent


@pytest.mark.parametrize("journeys", [3, 12])
def test_a_runs_intake_reads_the_backlog_a_few_times_not_once_per_finding(
    ledger: Ledger, policy: BacklogPolicy, journeys: int
) -> None:
    """The findings' links, their items, the items' naming events and the cost model are read
    once for the whole run: the reads of seeing 12 findings again are those of seeing 3."""
    reads = _statements_of_intake(ledger, policy, journeys).count("SELECT")
    assert reads <= 10, reads
    items = service.list_items(ledger)
    assert len(items) == journeys
    # Seen again with nothing changed: no priority moved, every item still names its finding.
    assert all(i.title.startswith("Escalation worse in journey_") for i in items)
