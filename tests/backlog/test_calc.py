"""The pure backlog calculations: workflow, priority (golden cases), SLAs, routing, themes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daytwo.backlog.calc import (
    STATUSES,
    TRANSITIONS,
    PriorityParams,
    RuleMatch,
    Signal,
    SlaPolicy,
    check_transition,
    compute_priority,
    cost_per_occurrence,
    first_match,
    level,
    sla_dues,
    sla_status,
    theme_for,
)
from daytwo.errors import ConflictError, InputError

COSTS = {"escalation": 6.5, "agent_minute": 0.9}
PARAMS = PriorityParams()

# (signal, expected score, expected priority), each worked out by hand:
# score = volume × cost × severity factor × trend factor × confidence + 0.05 × population
GOLDEN = [
    # 400 escalations/week × 6.5 × 1.5 (high) × 1.25 (rising) × 1.0 + 0.05 × 380 = 4894
    (
        Signal(400, severity=3, trend="rising", customers_per_week=380, metric="escalation_rate"),
        4894.0,
        "P1",
    ),
    # 100 × 6.5 × 1.0 (medium) × 1.0 × 0.5 + 0 = 325
    (Signal(100, severity=2, confidence=0.5, kind="knowledge_gap"), 325.0, "P2"),
    # 300 agent minutes × 0.9 × 0.5 (low) × 0.8 (falling) × 1 + 0.05 × 40 agents = 110
    (
        Signal(
            300,
            severity=1,
            trend="falling",
            agents_per_week=40,
            metric="suggestion_acceptance_rate",
        ),
        110.0,
        "P3",
    ),
    # unknown kind: default cost 1 → 30 × 1 × 0.25 (info) = 7.5
    (Signal(30, severity=0, kind="something_new"), 7.5, "P4"),
    # lost contact priced as an escalation when the cost model has none: 10 × 6.5 × 2 = 130
    (Signal(10, severity=4, metric="abandonment_rate"), 130.0, "P3"),
    # explicit cost key and units: 50 × (4 × 0.9) × 1 = 180
    (Signal(50, cost_key="agent_minute", units_per_occurrence=4), 180.0, "P3"),
]


@pytest.mark.parametrize(("signal", "score", "priority"), GOLDEN)
def test_priority_golden_cases(signal: Signal, score: float, priority: str) -> None:
    result = compute_priority(signal, COSTS, PARAMS)
    assert result.score == pytest.approx(score)
    assert result.priority == priority
    assert result.formula.endswith(f"= {score:,.1f}")
    names = [t.name for t in result.terms]
    assert names[:5] == [
        "volume per week",
        "cost per occurrence",
        "severity",
        "trend",
        "confidence",
    ]


def test_cost_basis_is_explained() -> None:
    cost, note = cost_per_occurrence(Signal(1, kind="knowledge_gap"), COSTS, PARAMS)
    assert (cost, note) == (6.5, "1 × escalation")
    cost, note = cost_per_occurrence(Signal(1, metric="escalation_rate"), {}, PARAMS)
    assert cost == PARAMS.default_cost
    assert "no 'escalation'" in note


def test_cutoffs_are_configurable_and_inclusive() -> None:
    params = PriorityParams(cutoffs=(100.0, 10.0, 1.0))
    assert [level(s, params) for s in (100, 99.9, 10, 1, 0.99)] == ["P1", "P2", "P2", "P3", "P4"]
    with pytest.raises(InputError):
        PriorityParams(cutoffs=(10.0, 100.0, 1.0))


@pytest.mark.parametrize(
    "bad",
    [
        {"volume_per_week": -1},
        {"volume_per_week": 1, "confidence": 1.5},
        {"volume_per_week": 1, "severity": 5},
        {"volume_per_week": 1, "trend": "sideways"},
    ],
)
def test_bad_signals_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InputError):
        Signal(**bad)  # type: ignore[arg-type]


@given(
    volume=st.floats(0, 1e5),
    extra=st.floats(0.1, 1e4),
    severity=st.integers(0, 4),
    confidence=st.floats(0, 1),
    trend=st.sampled_from(["falling", "stable", "rising"]),
    people=st.floats(0, 1e4),
)
def test_more_volume_never_lowers_the_priority(
    volume: float, extra: float, severity: int, confidence: float, trend: str, people: float
) -> None:
    low = Signal(volume, severity, confidence, trend, people, kind="knowledge_gap")
    high = Signal(volume + extra, severity, confidence, trend, people, kind="knowledge_gap")
    a, b = compute_priority(low, COSTS, PARAMS), compute_priority(high, COSTS, PARAMS)
    assert b.score >= a.score
    assert b.priority <= a.priority  # "P1" < "P2": never a lower priority
    assert a.score >= 0


def test_every_status_has_its_moves_and_the_happy_path_is_allowed() -> None:
    assert set(TRANSITIONS) == set(STATUSES)
    path = ["new", "triaged", "in_progress", "fix_shipped", "verified"]
    for current, target in itertools.pairwise(path):
        check_transition(current, target)
    check_transition("fix_shipped", "reopened")
    check_transition("reopened", "in_progress")


@pytest.mark.parametrize(
    ("current", "target", "error"),
    [
        ("new", "fix_shipped", ConflictError),
        ("new", "verified", ConflictError),
        ("verified", "in_progress", ConflictError),
        ("triaged", "triaged", ConflictError),
        ("new", "done", InputError),
        ("new", "wont_fix", InputError),  # without a reason
    ],
)
def test_illegal_moves_are_refused(current: str, target: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_transition(current, target)


def test_wont_fix_with_reason_is_allowed() -> None:
    check_transition("new", "wont_fix", reason="duplicate of a vendor bug")


def test_sla_dues_and_breaches() -> None:
    policy = SlaPolicy()
    created = datetime(2026, 3, 1, 9, tzinfo=UTC)
    triage_due, fix_due = sla_dues("P1", created, policy)
    assert triage_due == created + timedelta(hours=4)
    assert fix_due == created + timedelta(days=3)
    args = {"triage_due": triage_due, "fix_due": fix_due}
    early = sla_status(status="new", triaged_at=None, fix_shipped_at=None, now=created, **args)
    assert (early.triage, early.fix, early.breached) == ("on_track", "on_track", False)
    late = sla_status(
        status="new", triaged_at=None, fix_shipped_at=None, now=created + timedelta(hours=5), **args
    )
    assert (late.triage, late.fix, late.breached) == ("breached", "on_track", True)
    done = sla_status(
        status="fix_shipped",
        triaged_at=created + timedelta(hours=1),
        fix_shipped_at=created + timedelta(days=4),
        now=created + timedelta(days=9),
        **args,
    )
    assert (done.triage, done.fix) == ("met", "breached")
    dropped = sla_status(
        status="wont_fix",
        triaged_at=created,
        fix_shipped_at=None,
        now=created + timedelta(days=9),
        **args,
    )
    assert dropped.fix == "closed"
    assert not dropped.breached
    with pytest.raises(InputError):
        SlaPolicy(triage_hours={"P1": 1.0})


def test_routing_first_match_wins() -> None:
    rules = [
        RuleMatch(journey="card_lost", finding_kind="knowledge_gap"),
        RuleMatch(segment_key="site", segment_value="porto"),
        RuleMatch(journey="card_lost"),
    ]
    assert first_match(rules, "card_lost", "knowledge_gap", {}) == 0
    assert first_match(rules, "card_lost", "escalation_rise", {"site": "porto"}) == 1
    assert first_match(rules, "card_lost", "escalation_rise", {"site": "leeds"}) == 2
    assert first_match(rules, "billing", None, {}) is None


@pytest.mark.parametrize(
    ("text", "explicit", "theme"),
    [
        ("The bot is so slow today", None, "speed"),
        ("it gave me the wrong fee", None, "wrong answer"),
        ("suggested reply was useless", None, "suggestions"),
        ("thanks!", None, "other"),
        ("anything", "Billing ", "billing"),
    ],
)
def test_themes(text: str, explicit: str | None, theme: str) -> None:
    assert theme_for(text, explicit) == theme


def test_every_cost_basis_is_a_metric_or_a_finding_kind() -> None:
    """A key that names neither prices nothing: the match is on a finding's metric or kind."""
    from pathlib import Path

    from daytwo.backlog.calc import COST_BASIS
    from daytwo.metrics.catalog import REGISTRY

    package = Path(__file__).resolve().parents[2] / "src" / "daytwo"
    calc = package / "backlog" / "calc.py"
    # Finding kinds are string constants of the detectors that emit them.
    source = "\n".join(p.read_text() for p in package.rglob("*.py") if p != calc)
    for key in COST_BASIS:
        assert key in REGISTRY or f'"{key}"' in source, key
