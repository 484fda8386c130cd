"""Business value and ROI: hand-checked cases, and the cost models that are refused."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from daytwo.report.calc import (
    CostModel,
    CostModelError,
    PeriodCounts,
    Stratum,
    agent_time_saved,
    business_value,
    cumulative_roi,
    payback_months,
)

BOT = CostModel("GBP", {"escalation": 6.5, "ai_per_interaction": 0.04}, 10_000.0, 1_000.0)


def test_contained_value_less_ai_cost_and_running_cost() -> None:
    counts = PeriodCounts(days=365.25 / 12, conversations=1_000, contained=600)
    out = business_value(BOT, counts)
    assert out.figure("contained_value").amount == pytest.approx(600 * 6.5)
    assert out.figure("ai_cost").amount == pytest.approx(-40.0)
    assert out.figure("running_cost").amount == pytest.approx(-1_000.0)
    assert out.gross == pytest.approx(3_900.0)
    assert out.costs == pytest.approx(1_040.0)
    assert out.net == pytest.approx(2_860.0)
    assert out.roi == pytest.approx(2_860.0 / 1_040.0)
    assert out.missing == ()
    assert "escalation" in out.figure("contained_value").assumptions[0]


def test_reported_ai_cost_wins_over_the_flat_fee() -> None:
    counts = PeriodCounts(days=7, conversations=1_000, contained=0, ai_cost_reported=12.5)
    assert business_value(BOT, counts).figure("ai_cost").amount == -12.5


def test_escalations_avoided_are_shown_but_not_added() -> None:
    counts = PeriodCounts(
        days=7,
        conversations=1_000,
        contained=600,
        escalation_rate=0.2,
        baseline_escalation_rate=0.3,
    )
    out = business_value(BOT, counts)
    avoided = out.figure("escalations_avoided")
    assert avoided.quantity == pytest.approx(100.0)
    assert not avoided.in_total
    assert out.gross == pytest.approx(600 * 6.5)


def test_agent_time_saved_by_stratum_with_an_interval() -> None:
    strata = [Stratum(100, 300.0, 60.0, 50, 360.0, 60.0), Stratum(10, 200.0, 30.0, 40, 200.0, 30.0)]
    est, lo, hi = agent_time_saved(strata)  # type: ignore[misc]
    assert est == pytest.approx(100 * 60 / 60)
    half = (
        1.959963984540054
        * math.sqrt(100**2 * (60**2 / 50 + 60**2 / 100) + 10**2 * (30**2 / 40 + 30**2 / 10))
        / 60
    )
    assert (lo, hi) == (pytest.approx(est - half), pytest.approx(est + half))
    assist = CostModel("EUR", {"agent_minute": 0.9})
    out = business_value(
        assist, PeriodCounts(days=7, conversations=150, contained=0, strata=strata)
    )
    assert out.figure("agent_time_saved").amount == pytest.approx(100 * 0.9)
    assert out.figure("agent_time_saved").lo == pytest.approx(lo * 0.9)


def test_no_comparable_path_is_no_estimate() -> None:
    assert agent_time_saved([Stratum(10, 300.0, 1.0, 1, 400.0, 0.0)]) is None


def test_what_cannot_be_priced_is_said() -> None:
    out = business_value(CostModel("USD", {}), PeriodCounts(days=7, conversations=10, contained=5))
    assert any("human_contact" in m for m in out.missing)
    assert any("AI cost" in m for m in out.missing)
    assert out.roi is None


@pytest.mark.parametrize(
    ("currency", "costs", "needle"),
    [
        ("", {}, "currency"),
        ("pounds", {}, "currency"),
        ("GBP", {"escalation": -1.0}, "escalation"),
        ("GBP", {"agent_minute": math.nan}, "agent_minute"),
    ],
)
def test_bad_cost_models_are_refused_naming_the_field(
    currency: str, costs: dict[str, float], needle: str
) -> None:
    with pytest.raises(CostModelError, match=needle):
        CostModel(currency, costs)


def test_payback_and_cumulative_roi() -> None:
    assert payback_months(10_000.0, 2_500.0) == pytest.approx(4.0)
    assert payback_months(10_000.0, -1.0) is None
    assert payback_months(0.0, -1.0) == 0.0
    month = business_value(BOT, PeriodCounts(days=365.25 / 12, conversations=1_000, contained=600))
    assert cumulative_roi(10_000.0, [month, month]) == pytest.approx(
        (2 * 2_860.0 - 10_000.0) / (10_000.0 + 2 * 1_040.0)
    )


def test_a_fee_per_conversation_is_added_to_the_model_cost_the_turns_report() -> None:
    model = CostModel("USD", {"escalation": 6.5, "ai_fee_per_interaction": 0.35})
    counts = PeriodCounts(days=7, conversations=1_000, contained=600, ai_cost_reported=0.30)
    value = business_value(model, counts)
    ai = value.figure("ai_cost")
    assert ai.amount == pytest.approx(-(0.30 + 1_000 * 0.35))
    assert "ai_fee_per_interaction" in ai.assumptions[0]
    assert value.roi == pytest.approx((600 * 6.5 - 350.30) / 350.30)
    alone = business_value(model, PeriodCounts(days=7, conversations=10, contained=0))
    assert alone.figure("ai_cost").amount == pytest.approx(-3.5)
    assert alone.missing == ()


def test_escalations_avoided_carry_the_baseline_rate_sampling_interval() -> None:
    model = CostModel("USD", {"escalation": 6.5})
    counts = PeriodCounts(
        days=7, conversations=10_000, contained=6_000, escalation_rate=0.31,
        baseline_escalation_rate=0.29, baseline_escalation_n=20_000,
        baseline_escalation_basis="the baseline window, 2026-03-09 to 2026-03-22",
    )  # fmt: skip
    avoided = business_value(model, counts).figure("escalations_avoided")
    assert avoided.quantity == pytest.approx(-200.0)
    assert avoided.assumptions[0].startswith(
        "the baseline's escalation rate (29.0%: the baseline window, 2026-03-09 to 2026-03-22)"
    )
    half = 1.959963984540054 * 10_000 * math.sqrt(0.29 * 0.71 / 20_000)
    assert avoided.lo == pytest.approx((-200.0 - half) * 6.5)
    assert avoided.hi == pytest.approx((-200.0 + half) * 6.5)
    assert not avoided.in_total
    unsized = business_value(model, replace(counts, baseline_escalation_n=None))
    assert unsized.figure("escalations_avoided").lo is None  # an imported baseline
