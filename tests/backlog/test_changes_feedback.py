"""Changes and their measured impact, and the feedback loop, on the ledger and events."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from daytwo.backlog import changes, feedback, owners, service
from daytwo.backlog.intake import absorb_finding
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.raised import raised_findings
from daytwo.backlog.schemas import ChangeCreate, FeedbackCreate, OwnerCreate
from daytwo.errors import ConflictError, InputError, NotFoundError
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT, EFFECT, SHIP_DAY, START, store_of, synthetic_records
from tests.backlog.test_items import finding


def _change(**kw: object) -> ChangeCreate:
    base: dict[str, object] = {
        "deployment": DEPLOYMENT,
        "kind": "knowledge",
        "title": "Article on lost cards",
        "author": "dana",
        "shipped_at": START + timedelta(days=SHIP_DAY),
        "journeys": ["card_lost"],
        "window_days": 14,
    }
    base.update(kw)
    return ChangeCreate.model_validate(base)


def _owned_item(ledger: Ledger, policy: BacklogPolicy) -> int:
    owners.create_owner(ledger, OwnerCreate(handle="cards", name="Cards"), actor="a")
    owners.set_default_owner(ledger, DEPLOYMENT, "cards", actor="a")
    item, _ = absorb_finding(ledger, finding(1, journey="card_lost"), policy)
    return item.id


def test_a_real_fix_is_measured_and_verifies_its_item(
    ledger: Ledger, events: EventStore, policy: BacklogPolicy
) -> None:
    item_id = _owned_item(ledger, policy)
    change = changes.record_change(ledger, events, _change(items=[item_id]), policy, actor="ci")
    assert change.verdict == "pending"
    assert service.get_item(ledger, item_id).status == "fix_shipped"  # walked, each step kept
    out = changes.measure_impact(ledger, events, change.id, policy, actor="ci")
    im = out.impact
    assert im is not None
    assert out.verdict == "improved"
    assert im.lo is not None
    assert im.hi is not None
    assert im.lo <= EFFECT <= im.hi
    assert im.estimate == pytest.approx(EFFECT, abs=0.04)
    assert im.control == ["address_change", "billing", "payments"]
    assert (im.days_before, im.days_after) == (14, 14)
    assert {d["window"] for d in im.daily} == {"before", "after"}
    item = service.get_item(ledger, item_id)
    assert item.status == "verified"
    steps = [(e.after, e.actor) for e in item.history if e.action == "status"]
    assert steps[-1] == ("verified", "ci")
    assert item.changes == [change.id]


def test_no_effect_is_inconclusive_and_a_regression_reopens(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    item_id = _owned_item(ledger, policy)
    flat = store_of(synthetic_records(effect=0.0, seed=11))
    worse = store_of(synthetic_records(effect=-0.15, seed=12))
    try:
        null = changes.record_change(ledger, flat, _change(items=[item_id]), policy, actor="ci")
        assert changes.measure_impact(ledger, flat, null.id, policy).verdict == "inconclusive"
        assert service.get_item(ledger, item_id).status == "fix_shipped"
        bad = changes.record_change(ledger, worse, _change(), policy, actor="ci")
        changes.link_items(ledger, bad.id, [item_id], policy, actor="ci")
        out = changes.measure_impact(ledger, worse, bad.id, policy)
        assert out.verdict == "regressed"
        assert service.get_item(ledger, item_id).status == "reopened"
        kinds = [f.kind for f in raised_findings(ledger, DEPLOYMENT)]
        assert "change_regression" in kinds
    finally:
        flat.close()
        worse.close()


def test_impact_waits_for_data_and_needs_a_control(
    ledger: Ledger, events: EventStore, policy: BacklogPolicy
) -> None:
    late = changes.record_change(
        ledger, events, _change(shipped_at=START + timedelta(days=38)), policy, actor="ci"
    )
    pending = changes.measure_impact(ledger, events, late.id, policy)
    assert pending.verdict == "pending"
    assert pending.impact is not None
    assert "full days" in pending.impact.reason
    whole = changes.record_change(
        ledger,
        events,
        _change(journeys=[], shipped_at=START + timedelta(days=38)),
        policy,
        actor="ci",
    )
    assert changes.measure_impact(ledger, events, whole.id, policy).verdict == "inconclusive"
    # Another change in the same windows takes its journeys out of the default control.
    changes.record_change(
        ledger, events, _change(journeys=["payments"], shipped_at=START + timedelta(days=25)),
        policy, actor="ci",
    )  # fmt: skip
    third = changes.record_change(ledger, events, _change(), policy, actor="ci")
    measured = changes.measure_impact(ledger, events, third.id, policy)
    assert measured.impact is not None
    assert measured.impact.control == ["address_change", "billing"]


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"journeys": ["mortgages"]}, InputError),
        ({"control_journeys": ["nowhere"]}, InputError),
        ({"control_journeys": ["card_lost"]}, InputError),
        ({"metric": "contact_volume"}, InputError),
        ({"metric": "no_such_metric"}, NotFoundError),
        ({"deployment": "ghost-bot"}, NotFoundError),
        ({"items": [999]}, NotFoundError),
    ],
)
def test_bad_changes_store_nothing(
    ledger: Ledger,
    events: EventStore,
    policy: BacklogPolicy,
    override: dict[str, object],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        changes.record_change(ledger, events, _change(**override), policy, actor="ci")
    assert changes.list_changes(ledger) == []


def test_customer_feedback_arrives_with_interactions(
    ledger: Ledger, events: EventStore, policy: BacklogPolicy
) -> None:
    first = feedback.sync_customer_feedback(ledger, events, DEPLOYMENT, policy)
    assert first.added > 0
    assert first.added == first.scanned
    again = feedback.sync_customer_feedback(ledger, events, DEPLOYMENT, policy)
    assert again.added == 0  # idempotent
    rows = feedback.list_feedback(ledger, deployment=DEPLOYMENT, source="customer")
    assert len(rows) == first.added
    assert {r.kind for r in rows} == {"thumbs_down"}
    assert {r.theme for r in rows} == {"speed"}
    assert all(r.interaction_id and r.journey for r in rows)
    # Due dates run from when the feedback was given (3 and 14 days by default).
    r = rows[0]
    assert r.ack_due - r.received_at == timedelta(days=3)
    assert r.action_due - r.received_at == timedelta(days=14)
    assert r.overdue  # the synthetic data is from March 2026


def test_agent_feedback_loop(ledger: Ledger, events: EventStore, policy: BacklogPolicy) -> None:
    item_id = _owned_item(ledger, policy)
    spec = FeedbackCreate(
        deployment=DEPLOYMENT,
        text="The suggested reply for lost cards is wrong about delivery times",
        author="a-17",
        interaction_id="i-000001",
    )
    fb = feedback.add_feedback(ledger, events, spec, policy, actor="user:a17")
    assert (fb.status, fb.theme, fb.journey, fb.overdue) == (
        "new",
        "wrong answer",
        "billing",
        False,
    )
    linked = feedback.link_to_item(ledger, fb.id, item_id, actor="user:lead")
    assert (linked.status, linked.item_id) == ("acknowledged", item_id)
    with pytest.raises(ConflictError):
        feedback.acknowledge(ledger, fb.id, actor="x")
    with pytest.raises(InputError):
        feedback.close_feedback(ledger, fb.id, "  ", actor="x")
    closed = feedback.close_feedback(ledger, fb.id, "Article corrected to 5 days", actor="lead")
    assert closed.status == "closed"
    assert closed.closed_at is not None
    assert closed.closed_at.tzinfo is UTC or closed.closed_at.utcoffset() == timedelta(0)
    said = feedback.you_said_we_did(ledger, DEPLOYMENT)
    assert [(r["feedback"].id, r["item_title"]) for r in said] == [(fb.id, "Problem 1")]
    assert service.get_item(ledger, item_id).feedback == [fb.id]
    themes = feedback.themes(ledger, DEPLOYMENT)
    assert [(t.theme, t.open, t.closed) for t in themes] == [("wrong answer", 0, 1)]


def test_bad_feedback_stores_nothing(
    ledger: Ledger, events: EventStore, policy: BacklogPolicy
) -> None:
    with pytest.raises(NotFoundError, match="No interaction"):
        feedback.add_feedback(
            ledger,
            events,
            FeedbackCreate(deployment=DEPLOYMENT, text="slow", interaction_id="nope"),
            policy,
            actor="a",
        )
    with pytest.raises(InputError):
        feedback.add_feedback(
            ledger, events, FeedbackCreate(deployment=DEPLOYMENT, text=" "), policy, actor="a"
        )
    with pytest.raises(NotFoundError):
        feedback.add_feedback(
            ledger, events, FeedbackCreate(deployment="ghost", text="slow"), policy, actor="a"
        )
    assert feedback.list_feedback(ledger) == []
