"""Owners, routing, items and their workflow on the ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from daytwo.backlog import owners, service
from daytwo.backlog.intake import FindingFacts, absorb_finding, link_finding
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.raised import raised_findings
from daytwo.backlog.schemas import ItemCreate, OwnerCreate, OwnerUpdate, RuleCreate, SignalIn
from daytwo.errors import ConflictError, InputError, NotFoundError
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT


def _owners(ledger: Ledger) -> None:
    for handle, name in (("cards", "Cards team"), ("conv", "Conversation design"), ("ops", "Ops")):
        owners.create_owner(
            ledger, OwnerCreate(handle=handle, name=name, kind="team"), actor="alice"
        )
    owners.add_rule(
        ledger, RuleCreate(deployment=DEPLOYMENT, owner="cards", journey="card_lost"), actor="a"
    )
    owners.add_rule(
        ledger,
        RuleCreate(deployment=DEPLOYMENT, owner="conv", finding_kind="knowledge_gap"),
        actor="a",
    )
    owners.set_default_owner(ledger, DEPLOYMENT, "ops", actor="a")


def finding(n: int = 1, **kw: object) -> FindingFacts:
    base: dict[str, object] = {
        "id": str(n),
        "fingerprint": f"fp-{n}",
        "kind": "escalation_rise",
        "deployment": DEPLOYMENT,
        "title": f"Problem {n}",
        "severity": 3,
        "volume_per_week": 100.0,
        "journey": "billing",
        "metric": "escalation_rate",
    }
    base.update(kw)
    return FindingFacts(**base)  # type: ignore[arg-type]


def test_owners_are_unique_and_editable(ledger: Ledger) -> None:
    _owners(ledger)
    with pytest.raises(ConflictError):
        owners.create_owner(ledger, OwnerCreate(handle="cards", name="again"), actor="a")
    changed = owners.update_owner(ledger, "cards", OwnerUpdate(contact="#cards"), actor="bob")
    assert changed.contact == "#cards"
    assert [o.handle for o in owners.list_owners(ledger)] == ["cards", "conv", "ops"]
    with pytest.raises(NotFoundError):
        owners.get_owner(ledger, "nobody")


def test_routing_first_match_then_default(ledger: Ledger) -> None:
    _owners(ledger)
    route = owners.route(ledger, DEPLOYMENT, "card_lost", "knowledge_gap")
    assert (route.owner, route.reason.startswith("rule")) == ("cards", True)
    assert owners.route(ledger, DEPLOYMENT, "billing", "knowledge_gap").owner == "conv"
    fallback = owners.route(ledger, DEPLOYMENT, "billing", "escalation_rise")
    assert (fallback.owner, fallback.rule_id) == ("ops", None)
    # A rule put first takes precedence; deleting it restores the order.
    first = owners.add_rule(
        ledger,
        RuleCreate(deployment=DEPLOYMENT, owner="ops", segment="site:porto", position=0),
        actor="a",
    )
    assert owners.route(ledger, DEPLOYMENT, "card_lost", None, {"site": "porto"}).owner == "ops"
    assert [r.position for r in owners.list_rules(ledger, DEPLOYMENT)] == [0, 1, 2]
    owners.delete_rule(ledger, first.id, actor="a")
    assert [r.owner for r in owners.list_rules(ledger, DEPLOYMENT)] == ["cards", "conv"]


def test_rules_that_cannot_match_are_refused(ledger: Ledger) -> None:
    _owners(ledger)
    with pytest.raises(InputError, match="no journey"):
        owners.add_rule(
            ledger, RuleCreate(deployment=DEPLOYMENT, owner="cards", journey="mortgages"), actor="a"
        )
    # Shadowed by the earlier card_lost rule: it would never win.
    with pytest.raises(InputError, match="never match"):
        owners.add_rule(
            ledger,
            RuleCreate(deployment=DEPLOYMENT, owner="ops", journey="card_lost", finding_kind="x"),
            actor="a",
        )
    with pytest.raises(NotFoundError):
        owners.add_rule(
            ledger, RuleCreate(deployment=DEPLOYMENT, owner="ghost", journey="billing"), actor="a"
        )
    with pytest.raises(NotFoundError):
        owners.add_rule(ledger, RuleCreate(deployment="nope", owner="cards"), actor="a")
    assert len(owners.list_rules(ledger, DEPLOYMENT)) == 2  # nothing stored


def test_a_finding_opens_one_item_and_updates_it(ledger: Ledger, policy: BacklogPolicy) -> None:
    _owners(ledger)
    item, created = absorb_finding(ledger, finding(1, journey="card_lost"), policy)
    assert created
    assert (item.owner, item.status, item.source) == ("cards", "new", "finding")
    # 100 × 6.5 × 1.5 × 1 × 1 = 975 → P2
    assert (item.score, item.priority) == (975.0, "P2")
    again, created = absorb_finding(
        ledger, finding(1, journey="card_lost", volume_per_week=300.0, trend="rising"), policy
    )
    assert not created
    assert again.id == item.id
    assert again.priority == "P1"  # 300 × 6.5 × 1.5 × 1.25 = 3656.25
    assert again.triage_due < item.triage_due  # a tighter SLA from the same start
    assert len(service.list_items(ledger)) == 1
    detail = service.get_item(ledger, item.id)
    actions = [(e.action, e.before, e.after) for e in detail.history]
    assert ("priority", "P2", "P1") in actions
    assert detail.findings[0].snapshot["volume_per_week"] == 300.0


def test_unowned_item_raises_its_own_finding(ledger: Ledger, policy: BacklogPolicy) -> None:
    item, _ = absorb_finding(ledger, finding(7), policy)  # no owners, no default
    assert item.owner is None
    raised = raised_findings(ledger, DEPLOYMENT)
    assert [f.kind for f in raised] == ["unowned_item"]
    assert raised[0].details["item_id"] == item.id
    assert raised_findings(ledger, DEPLOYMENT)[0].fingerprint == raised[0].fingerprint
    owners.create_owner(ledger, OwnerCreate(handle="ops", name="Ops"), actor="a")
    service.assign_item(ledger, item.id, "ops", actor="bob")
    assert raised_findings(ledger, DEPLOYMENT) == []


def test_workflow_records_who_and_when(ledger: Ledger, policy: BacklogPolicy) -> None:
    _owners(ledger)
    item, _ = absorb_finding(ledger, finding(2), policy)
    service.move_item(ledger, item.id, "triaged", policy, actor="alice")
    service.move_item(ledger, item.id, "in_progress", policy, actor="bob")
    with pytest.raises(ConflictError, match="cannot move from in_progress to verified"):
        service.move_item(ledger, item.id, "verified", policy, actor="bob")
    with pytest.raises(ConflictError):
        service.move_item(ledger, item.id, "new", policy, actor="bob")
    with pytest.raises(InputError):
        service.move_item(ledger, item.id, "wont_fix", policy, actor="bob")
    service.move_item(ledger, item.id, "fix_shipped", policy, actor="bob")
    with pytest.raises(ConflictError, match="evidence"):
        service.move_item(ledger, item.id, "verified", policy, actor="bob")
    service.comment_item(ledger, item.id, "waiting for the release", actor="carol")
    moved = service.assign_item(ledger, item.id, "cards", actor="dave", note="card flow")
    assert moved.owner == "cards"
    detail = service.get_item(ledger, item.id)
    assert detail.triaged_at is not None
    assert detail.fix_shipped_at is not None
    steps = [(e.actor, e.action, e.after) for e in detail.history if e.action == "status"]
    assert steps == [
        ("alice", "status", "triaged"),
        ("bob", "status", "in_progress"),
        ("bob", "status", "fix_shipped"),
    ]
    assert any(e.action == "comment" and e.actor == "carol" for e in detail.history)
    assert all(e.at is not None for e in detail.history)
    with pytest.raises(ConflictError):
        service.assign_item(ledger, item.id, "cards", actor="dave")


def test_manual_items_need_an_owner(ledger: Ledger, policy: BacklogPolicy) -> None:
    spec = ItemCreate(
        deployment=DEPLOYMENT,
        title="Agents retype addresses",
        journey="address_change",
        signal=SignalIn(volume_per_week=200, cost_key="agent_minute", units_per_occurrence=2),
    )
    with pytest.raises(InputError, match="No owner"):
        service.create_item(ledger, spec, policy, actor="a")
    assert service.list_items(ledger) == []
    _owners(ledger)
    item = service.create_item(ledger, spec, policy, actor="alice")
    assert (item.owner, item.source, item.score) == ("ops", "manual", 360.0)
    with pytest.raises(InputError, match="no journey"):
        service.create_item(
            ledger, spec.model_copy(update={"journey": "mortgage"}), policy, actor="a"
        )
    with pytest.raises(NotFoundError):
        service.create_item(ledger, spec.model_copy(update={"owner": "ghost"}), policy, actor="a")


def test_sla_breach_and_overdue_view(ledger: Ledger, policy: BacklogPolicy) -> None:
    _owners(ledger)
    p1, _ = absorb_finding(ledger, finding(3, volume_per_week=5000.0), policy)
    p4, _ = absorb_finding(
        ledger, finding(4, journey="payments", volume_per_week=1.0, severity=0), policy
    )
    assert (p1.priority, p4.priority) == ("P1", "P4")
    later = datetime.now(UTC) + timedelta(hours=5)
    late = service.list_items(ledger, overdue=True, now=later)
    assert [i.id for i in late] == [p1.id]
    assert late[0].sla.triage == "breached"
    rows = service.overdue_by_owner(ledger, now=later)
    assert [(r.owner, [i.id for i in r.items]) for r in rows] == [("ops", [p1.id])]
    assert service.list_items(ledger, overdue=True) == []
    kinds = {f.kind for f in raised_findings(ledger, now=later)}
    assert kinds == {"missed_sla"}


def test_a_verified_item_reopens_when_its_finding_comes_back(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    _owners(ledger)
    item, _ = absorb_finding(ledger, finding(5), policy)
    with ledger.session() as session:  # verified by a change, as measure_impact does it
        row = service.get_row(session, item.id)
        for step in ("triaged", "in_progress", "fix_shipped", "verified"):
            service.transition(session, row, step, policy, actor="system")
    back, _ = absorb_finding(ledger, finding(5, status="regressed"), policy)
    assert back.status == "reopened"
    assert back.closed_at is None


def test_findings_join_an_existing_item_by_hand(ledger: Ledger, policy: BacklogPolicy) -> None:
    _owners(ledger)
    item, _ = absorb_finding(ledger, finding(8), policy)
    joined = link_finding(
        ledger, item.id, finding(9, volume_per_week=1000.0, kind="knowledge_gap"), policy, actor="a"
    )
    assert joined.priority == "P1"  # the strongest finding drives the item
    with pytest.raises(InputError, match="already belongs"):
        link_finding(ledger, item.id, finding(9), policy, actor="a")
    # Seen by a detector later: it updates the same item, no second one.
    _, created = absorb_finding(ledger, finding(9, kind="knowledge_gap"), policy)
    assert not created
    assert len(service.list_items(ledger)) == 1


def test_findings_of_the_same_place_join_one_item(ledger: Ledger, policy: BacklogPolicy) -> None:
    _owners(ledger)
    first, _ = absorb_finding(ledger, finding(20, journey="card_lost"), policy)
    other_view, created = absorb_finding(
        ledger, finding(21, journey="card_lost", kind="silent_failure", metric="rephrase_rate"),
        policy,
    )  # fmt: skip
    assert not created
    assert other_view.id == first.id
    elsewhere, created = absorb_finding(ledger, finding(22, journey="payments"), policy)
    assert created
    segment, created = absorb_finding(
        ledger, finding(23, journey="card_lost", segment=("site", "porto")), policy
    )
    assert created  # a narrower place is its own problem
    wide, created = absorb_finding(ledger, finding(24, journey=None), policy)
    assert created
    same_metric, created = absorb_finding(ledger, finding(25, journey=None), policy)
    assert (same_metric.id, created) == (wide.id, False)
    other_metric, created = absorb_finding(
        ledger, finding(26, journey=None, metric="error_rate"), policy
    )
    assert created
    assert len(service.get_item(ledger, first.id).findings) == 2
    assert len(service.list_items(ledger)) == 5
    assert elsewhere.id != first.id
    assert other_metric.id != wide.id
    assert segment.id != first.id


def test_filters(ledger: Ledger, policy: BacklogPolicy) -> None:
    _owners(ledger)
    absorb_finding(ledger, finding(10, journey="card_lost"), policy)
    absorb_finding(ledger, finding(11, journey="billing", volume_per_week=1.0), policy)
    assert [i.journey for i in service.list_items(ledger, owner="cards")] == ["card_lost"]
    assert [i.priority for i in service.list_items(ledger, priority="P4")] == ["P4"]
    assert len(service.list_items(ledger, status="new")) == 2
    with pytest.raises(InputError):
        service.list_items(ledger, priority="P9")
    with pytest.raises(InputError):
        service.list_items(ledger, status="done")
