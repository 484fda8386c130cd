"""Plans in the ledger (SQLite and PostgreSQL): apply and validate, evaluate and keep, sign off
and override, and the finding raised when a passed gate stops holding."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from daytwo.backlog.models import Item, ItemFinding
from daytwo.clock import frozen_at
from daytwo.detect.models import FindingRecord
from daytwo.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from daytwo.governance import audit
from daytwo.governance.models import AuditEntry, Role
from daytwo.governance.policies import set_policy
from daytwo.pipeline import analyze
from daytwo.plan import ledger as plan_ledger
from daytwo.plan import service, standing
from daytwo.plan.consumer import KIND, evaluate_gates
from daytwo.plan.models import GateSignoff, Plan, PlanPhase
from daytwo.plan.validate import TEMPLATE_KINDS, parse_yaml, template_text
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.plan.conftest import DEPLOYMENT, day_of, register

ERRORS = {
    "id": "errors",
    "metric": "error_rate",
    "comparator": "at_most",
    "threshold": 0.01,
    "window_days": 3,
    "sustained_days": 3,
    "min_sample": 100,
}
P1 = {"id": "no-p1", "check": "no_open_items"}


def plan(**phase_overrides: Any) -> dict[str, Any]:
    stabilise = {
        "key": "stabilise",
        "name": "Stabilise",
        "start_day": 1,
        "end_day": 30,
        "objectives": ["Reliable operations."],
        "gate": [ERRORS, P1],
    }
    stabilise.update(phase_overrides)
    optimise = {
        "key": "optimise",
        "name": "Optimise",
        "start_day": 31,
        "end_day": 60,
        "gate": [
            {
                "metric": "containment_rate",
                "comparator": "at_least",
                "threshold": 0.5,
                "window_days": 7,
            }
        ],
    }
    return {"deployment": DEPLOYMENT, "phases": [stabilise, optimise]}


def sign(ledger: Ledger, events: EventStore, phase: str, **kw: Any) -> Any:
    return service.signoff(ledger, events, DEPLOYMENT, phase, **kw)


def count(ledger: Ledger, model: type) -> int:
    with ledger.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def problems(exc: pytest.ExceptionInfo[InputError]) -> list[tuple[str, str]]:
    return [(e["field"], e["message"]) for e in exc.value.details["errors"]]


def test_apply_and_read_back(ledger: Ledger, events: EventStore) -> None:
    got = service.apply_plan(ledger, events, plan(), actor="user:ana")
    assert [p.key for p in got.phases] == ["stabilise", "optimise"]
    assert got.phases[1].gate[0]["id"] == "containment-rate"  # an id made for it
    assert got.version == 1
    assert got.status.day == 40  # the last day with data is day 39, go-live is day 1
    again = service.apply_plan(ledger, events, plan(name="Stabilise!"), actor="user:ana")
    assert (again.version, again.phases[0].name) == (2, "Stabilise!")
    assert count(ledger, PlanPhase) == 2
    actions = [e.action for e in audit.entries(ledger, deployment=DEPLOYMENT)]
    assert actions == ["plan.apply", "plan.apply"]


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_every_template_is_a_valid_plan(kind: str) -> None:
    spec = parse_yaml(template_text(kind), deployment="any")
    assert [p.key for p in spec.phases] == ["stabilise", "optimise", "scale"]
    assert [(p.start_day, p.end_day) for p in spec.phases] == [(1, 30), (31, 60), (61, 90)]
    assert all(p.gate and p.objectives for p in spec.phases)


def test_a_template_takes_the_deployment_targets(ledger: Ledger, events: EventStore) -> None:
    got = service.apply_template(ledger, events, DEPLOYMENT, actor="t")
    gate = {c["id"]: c for c in got.phases[0].gate}
    assert gate["error-rate"]["threshold"] == 0.01  # the deployment's target
    scale = {c["id"]: c for c in got.phases[2].gate}
    assert scale["containment"]["threshold"] == 0.55  # its containment target, not 0.6
    assert got.template == "virtual_agent"


# -- bad input: every problem named by its field, nothing stored ----------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"gate": [{**ERRORS, "metric": "errors_rate"}]},
            "phases[0].gate[0].metric",
            "unknown metric 'errors_rate'",
        ),
        (
            {"gate": [{**ERRORS, "scope": {"journey": "mortgages"}}]},
            "phases[0].gate[0].scope.journey",
            "unknown journey 'mortgages'",
        ),
        (
            {"gate": [{**P1, "journey": "mortgages"}]},
            "phases[0].gate[0].journey",
            "unknown journey 'mortgages'",
        ),
        (
            {"gate": [{**ERRORS, "threshold": 1.5}]},
            "phases[0].gate[0].threshold",
            "1.5 is outside the range of error_rate (rate: [0, 1])",
        ),
        (
            {"gate": [{**ERRORS, "window_days": 28, "sustained_days": 7}]},
            "phases[0].gate[0].window_days",
            "needs 34 days of data, longer than the data the gate "
            "can have by the phase's last day (day 30)",
        ),
        (
            {"start_day": 40, "end_day": 35},
            "phases[0].end_day",
            "phase 'stabilise' ends (day 35) before it starts (day 40)",
        ),
        (
            {"end_day": 45},
            "phases[1].start_day",
            "phase 'optimise' starts on day 31, inside phase 'stabilise' (which ends on day 45)",
        ),
        (
            {
                "gate": [
                    {
                        "metric": "latency_p95",
                        "window_days": 7,
                        "vs_baseline": {"change": "not_worse", "by": 100},
                    }
                ]
            },
            "phases[0].gate[0].vs_baseline",
            "latency_p95 is a quantile without an interval",
        ),
        (
            {"gate": [ERRORS, {**P1, "id": "errors"}]},
            "phases[0].gate",
            "criterion id 'errors' appears twice",
        ),
    ],
)
def test_bad_plans_are_refused_whole(
    ledger: Ledger, events: EventStore, change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InputError) as exc:
        service.apply_plan(ledger, events, plan(**change), actor="t")
    got = problems(exc)
    assert any(f == field and message in m for f, m in got), got
    assert field in exc.value.message  # the first problem is in the message itself
    assert count(ledger, Plan) == 0
    assert count(ledger, AuditEntry) == 0


def test_a_window_longer_than_the_data_kept(ledger: Ledger, events: EventStore) -> None:
    set_policy(ledger, DEPLOYMENT, interaction_retention_days=10)
    before = count(ledger, AuditEntry)
    with pytest.raises(InputError) as exc:
        service.apply_plan(ledger, events, plan(gate=[{**ERRORS, "window_days": 14}]), actor="t")
    assert problems(exc) == [
        (
            "phases[0].gate[0].window_days",
            "the window needs 16 days of data, longer than the 10 days the deployment keeps",
        )
    ]
    assert (count(ledger, Plan), count(ledger, AuditEntry)) == (0, before)


def test_yaml_errors_name_the_field_and_the_line() -> None:
    with pytest.raises(InputError, match="not valid YAML at line 3"):
        parse_yaml("phases:\n  - key: a\n  bad: [\n", deployment="d")
    text = yaml.safe_dump(plan(gate=[{"metric": "error_rate", "comparator": "at_most"}]))
    with pytest.raises(InputError) as exc:
        parse_yaml(text)
    assert problems(exc) == [
        ("phases[0].gate[0]", "give comparator and threshold (or vs_baseline)")
    ]
    with pytest.raises(InputError) as exc:
        parse_yaml(yaml.safe_dump(plan(gate=[{"threshold": 1}])))
    assert problems(exc)[0][0] == "phases[0].gate[0]"
    assert "either a `metric` or a `check`" in problems(exc)[0][1]
    with pytest.raises(InputError) as exc:
        parse_yaml(yaml.safe_dump(plan(gate=[{**ERRORS, "treshold": 0.01}])))
    assert ("phases[0].gate[0].treshold", "unknown field") in problems(exc)
    with pytest.raises(InputError, match="the plan of 'other', not of 'care-bot'"):
        parse_yaml(yaml.safe_dump({**plan(), "deployment": "other"}), deployment=DEPLOYMENT)


def test_unknown_deployment(ledger: Ledger, events: EventStore) -> None:
    with pytest.raises(NotFoundError):
        service.apply_plan(ledger, events, {**plan(), "deployment": "nobody"}, actor="t")


# -- evaluation, sign-off, override ----------------------------------------------------------


def test_evaluations_are_kept_per_day(ledger: Ledger, events: EventStore) -> None:
    service.apply_plan(ledger, events, plan(), actor="t")
    first = service.evaluate(ledger, events, DEPLOYMENT, through=day_of(15))
    assert [(g.phase, g.ready, g.met, g.total) for g in first] == [
        ("stabilise", False, 1, 2),
        ("optimise", True, 1, 1),
    ]
    service.evaluate(ledger, events, DEPLOYMENT, through=day_of(15))  # same day: replaced
    service.evaluate(ledger, events, DEPLOYMENT, through=day_of(25))
    history = plan_ledger.gate_history(ledger, DEPLOYMENT, "stabilise")
    assert [(d, ready) for d, ready, _, _ in history] == [(day_of(15), False), (day_of(25), True)]
    shown = standing.get_plan(ledger, events, DEPLOYMENT)
    assert shown.phases[0].evaluation is not None
    assert shown.phases[0].evaluation.through == day_of(25)
    assert (
        shown.status.lead == "Day 40 of 60, still in stabilise: all 2 criteria met; the gate "
        "is ready for sign-off."
    )
    assert shown.status.calendar_ahead


def test_a_replay_shares_its_reads_of_the_events_store(
    ledger: Ledger, events: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Evaluations sharing one memo of the events store's reads (a replay of history) answer
    # as each evaluated alone; a read asked again (the span, a window seen before) is answered
    # from the memo, not the store.
    service.apply_plan(ledger, events, plan(), actor="t")
    days = [day_of(15), day_of(16), day_of(25)]

    def answers(gates: list[Any]) -> list[dict[str, Any]]:
        return [g.model_dump(exclude={"evaluated_at"}) for g in gates]

    alone = [answers(service.evaluate(ledger, events, DEPLOYMENT, through=d)) for d in days]
    reads: plan_ledger.EventsMemo = {}
    shared = [
        answers(service.evaluate(ledger, events, DEPLOYMENT, through=d, reads=reads)) for d in days
    ]
    assert shared == alone
    assert ("data_span", DEPLOYMENT) in reads

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read the events store again")

    monkeypatch.setattr("daytwo.plan.evaluate.totals", refused)
    monkeypatch.setattr("daytwo.plan.evaluate.metric_points", refused)
    monkeypatch.setattr("daytwo.plan.ledger._data_span", refused)
    again = [
        answers(service.evaluate(ledger, events, DEPLOYMENT, through=d, reads=reads))
        for d in reversed(days)
    ]
    assert again == alone[::-1]
    with pytest.raises(AssertionError, match="read the events store again"):
        service.evaluate(ledger, events, DEPLOYMENT, through=day_of(20), reads=reads)


def test_sign_off_needs_a_ready_gate_and_an_owner(ledger: Ledger, events: EventStore) -> None:
    service.apply_plan(ledger, events, plan(), actor="t")
    with pytest.raises(
        PermissionDenied, match="viewer: signing off a gate needs the owner or admin"
    ):
        sign(ledger, events, "stabilise", actor="user:vic", role=Role.viewer)
    with pytest.raises(ConflictError, match="Pass the stabilise gate first"):
        sign(ledger, events, "optimise", actor="user:ana", role=Role.owner)
    with pytest.raises(ConflictError, match=r"not ready: 1 of 2 criteria not met \(Error rate"):
        sign(ledger, events, "stabilise", actor="user:ana", role=Role.owner, through=day_of(15))
    assert count(ledger, GateSignoff) == 0
    done = sign(ledger, events, "stabilise", actor="user:ana", role=Role.owner, through=day_of(25))
    assert (done.kind, done.ready, done.unmet) == ("signoff", True, [])
    entry = audit.entries(ledger, action="plan.signoff")[0]
    assert (entry.actor, entry.target) == ("user:ana", f"{DEPLOYMENT}/stabilise")
    with pytest.raises(ConflictError, match="already passed"):
        sign(ledger, events, "stabilise", actor="user:ana", role=Role.owner)
    shown = standing.get_plan(ledger, events, DEPLOYMENT)
    assert [p.status for p in shown.phases] == ["passed", "current"]


def test_an_override_is_an_admins_with_a_reason_and_stays_visible(
    ledger: Ledger, events: EventStore
) -> None:
    service.apply_plan(ledger, events, plan(), actor="t")
    kw: dict[str, Any] = {"through": day_of(15), "override": True}
    with pytest.raises(PermissionDenied, match="only an admin can override"):
        sign(
            ledger,
            events,
            "stabilise",
            actor="user:ana",
            role=Role.owner,
            reason="we accept the incident risk",
            **kw,
        )
    with pytest.raises(InputError, match="reason: an override needs a written reason") as exc:
        sign(ledger, events, "stabilise", actor="user:root", role=Role.admin, reason=" ", **kw)
    assert exc.value.details == {"field": "reason"}
    assert count(ledger, GateSignoff) == 0
    done = sign(
        ledger,
        events,
        "stabilise",
        actor="user:root",
        role=Role.admin,
        reason="incident fixed; waiting on 3 clean days would miss the campaign",
        **kw,
    )
    assert (done.kind, done.ready, done.unmet) == ("override", False, ["errors"])
    shown = standing.get_plan(ledger, events, DEPLOYMENT)
    assert shown.phases[0].status == "overridden"
    assert shown.phases[0].signoff is not None
    assert shown.phases[0].signoff.reason.startswith("incident fixed")
    entry = audit.entries(ledger, action="plan.override")[0]
    assert entry.after is not None
    assert entry.after["unmet"] == ["errors"]


def test_a_passed_gate_that_stops_holding_raises_a_finding(
    ledger: Ledger, events: EventStore
) -> None:
    service.apply_plan(ledger, events, plan(), actor="t")
    sign(ledger, events, "stabilise", actor="user:ana", role=Role.owner, through=day_of(8))
    # Day 12: the incident began on day 10; the error criterion no longer holds.
    outcome = evaluate_gates(ledger, events, DEPLOYMENT, through=day_of(12))
    assert outcome is not None
    assert outcome.raised == 1
    with ledger.session() as s:
        row = s.scalars(select(FindingRecord).where(FindingRecord.kind == KIND)).one()
        assert row.status == "open"
        assert row.title.startswith("Stabilise exit criteria no longer hold: Error rate")
        assert row.details["criteria"] == ["errors"]
        item = s.scalars(select(Item)).one()  # the backlog took it, as any finding
        assert item.title == row.title
    # Day 25: it holds again: the finding resolves.
    outcome = evaluate_gates(ledger, events, DEPLOYMENT, through=day_of(25))
    assert outcome is not None
    assert outcome.resolved == 1
    with ledger.session() as s:
        assert s.scalars(select(FindingRecord.status)).one() == "resolved"
    # Without a plan nothing happens.
    assert evaluate_gates(ledger, events, "someone-else") is None


def test_an_analysis_evaluates_the_gates_after_the_backlog(
    ledger: Ledger, events: EventStore, tmp_path: Path
) -> None:
    register(ledger, baseline_start=day_of(0), baseline_end=day_of(7))  # detectors run by day 14
    service.apply_plan(ledger, events, plan(), actor="t")
    sign(ledger, events, "stabilise", actor="user:ana", role=Role.owner, through=day_of(8))
    settings = Settings(data_dir=tmp_path)
    as_of = datetime.combine(day_of(15), time(), tzinfo=UTC)  # through day 14: the incident
    (outcome,) = analyze(
        settings, ledger, events, trigger="cli", deployment=DEPLOYMENT, as_of=as_of
    )
    assert outcome.run_id is not None
    assert outcome.failed_consumers == ()
    history = plan_ledger.gate_history(ledger, DEPLOYMENT, "stabilise")
    assert [(d, ready) for d, ready, _, _ in history][-1] == (day_of(14), False)
    with ledger.session() as s:
        row = s.scalars(select(FindingRecord).where(FindingRecord.kind == KIND)).one()
        assert row.status == "open"
        assert row.details["criteria"] == ["errors"]
        titles = s.scalars(select(Item.title)).all()
    assert row.title in titles  # handed to the backlog, which ran before the plan


def test_a_gate_broken_by_an_open_problem_is_that_problems_symptom(
    ledger: Ledger, events: EventStore, tmp_path: Path
) -> None:
    # The incident the detectors report (an item of its own) is what broke the error
    # criterion: the gate's finding sits under it, one problem.
    register(ledger, baseline_start=day_of(0), baseline_end=day_of(7))
    service.apply_plan(ledger, events, plan(), actor="t")
    sign(ledger, events, "stabilise", actor="user:ana", role=Role.owner, through=day_of(8))
    as_of = datetime.combine(day_of(15), time(), tzinfo=UTC)
    with frozen_at(as_of):  # the scheduled look of that day opens the incident's item
        analyze(Settings(data_dir=tmp_path), ledger, events, trigger="cli",
                deployment=DEPLOYMENT, as_of=as_of)  # fmt: skip
    # The next day's look: the item was open all day, and blocks the error criterion.
    with frozen_at(as_of + timedelta(days=1)):
        evaluate_gates(ledger, events, DEPLOYMENT, through=day_of(15))
    with ledger.session() as s:
        gate = s.scalars(select(FindingRecord).where(FindingRecord.kind == KIND)).one()
        errors = s.scalars(
            select(FindingRecord).where(
                FindingRecord.metric == "error_rate", FindingRecord.kind != KIND
            )
        ).all()
        held_by = {link.fingerprint: link.item_id for link in s.scalars(select(ItemFinding))}
    assert gate.details["root"] in {f.fingerprint for f in errors}
    # Its item is the incident's: the gate joined it.
    assert held_by[gate.fingerprint] == held_by[gate.details["root"]]
