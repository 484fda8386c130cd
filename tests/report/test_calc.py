"""Business value and ROI: hand-checked cases, and the cost models that are refused."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from daytwo.report.calc import (
    CostModel,
    CostModelError,
    JourneyDays,
    PeriodCounts,
    Stratum,
    agent_time_saved,
    business_value,
    cumulative_roi,
    payback_months,
    pooled_escalation_baseline,
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


def test_the_baseline_rate_pools_each_journey_until_a_change_touches_it() -> None:
    # Two journeys at 20% and 50%; "b" is changed on day 3 of 6, the window is 2 days.
    a = JourneyDays("a", [10] * 6, [2] * 6, unchanged_days=6)
    b = JourneyDays("b", [10] * 6, [5] * 6, unchanged_days=3)
    out = pooled_escalation_baseline([a, b], window_days=2)
    assert out is not None
    assert dict(out.days) == {"a": 6, "b": 3}
    assert out.mix_days == 3  # the days both journeys were unchanged
    assert out.conversations == 60 + 30
    assert out.rate == pytest.approx(0.5 * 0.2 + 0.5 * 0.5)
    # Each journey's rate error at its weight, and the mix's (measured on 60 conversations).
    var = 0.25 * 0.2 * 0.8 / 60 + 0.25 * 0.5 * 0.5 / 30 + (0.5 * 0.15**2 + 0.5 * 0.15**2) / 60
    assert out.se == pytest.approx(math.sqrt(var))
    assert out.moved == ()


def test_the_baseline_rate_is_cut_where_a_journey_moved_before_any_change() -> None:
    # Journey "a" escalates 20% for five days, then 80%: no change recorded, its rate moved.
    a = JourneyDays("a", [10] * 8, [2] * 5 + [8] * 3, unchanged_days=8)
    out = pooled_escalation_baseline([a], window_days=2)
    assert out is not None
    assert (dict(out.days), out.moved, out.rate) == ({"a": 5}, ("a",), pytest.approx(0.2))
    # A change shipped inside the window never shortens it.
    early = pooled_escalation_baseline([replace(a, unchanged_days=1)], window_days=2)
    assert early is not None
    assert dict(early.days) == {"a": 2}


def test_the_baseline_rate_draws_on_the_days_before_the_window() -> None:
    # Days 0-1 come before a 2-day window (days 2-3); nothing changed, nothing moved.
    a = JourneyDays("a", [10] * 6, [2] * 6, unchanged_days=6)
    out = pooled_escalation_baseline([a], window_days=2, window_start=2)
    assert out is not None
    assert (dict(out.first_days), dict(out.days), out.conversations) == ({"a": 0}, {"a": 6}, 60)
    assert (out.mix_first_day, out.mix_days) == (0, 6)
    # A change before the window: the journey's days begin the day after it.
    after = pooled_escalation_baseline([replace(a, first_day=1)], window_days=2, window_start=2)
    assert after is not None
    assert (dict(after.first_days), after.conversations) == ({"a": 1}, 50)


def test_days_before_the_window_whose_rate_differs_are_dropped() -> None:
    # 80% for the first three days after go-live, 20% from the window (day 3) on.
    a = JourneyDays("a", [10] * 10, [8] * 3 + [2] * 7, unchanged_days=10)
    out = pooled_escalation_baseline([a], window_days=2, window_start=3)
    assert out is not None
    assert (dict(out.first_days), out.moved, out.rate) == ({"a": 3}, ("a",), pytest.approx(0.2))


def test_no_pooled_baseline_without_conversations_in_the_window() -> None:
    assert pooled_escalation_baseline([JourneyDays("a", [0, 0, 5], [0, 0, 1], 3)], 2) is None
    assert pooled_escalation_baseline([], 2) is None


def test_escalations_avoided_use_the_pooled_rate_standard_error() -> None:
    model = CostModel("USD", {"escalation": 6.5})
    counts = PeriodCounts(
        days=7, conversations=10_000, contained=6_000, escalation_rate=0.31,
        baseline_escalation_rate=0.29, baseline_escalation_n=60_000, baseline_escalation_se=0.002,
    )  # fmt: skip
    avoided = business_value(model, counts).figure("escalations_avoided")
    half = 1.959963984540054 * 10_000 * 0.002
    assert avoided.lo == pytest.approx((-200.0 - half) * 6.5)
    assert avoided.hi == pytest.approx((-200.0 + half) * 6.5)
    assert not any("KPI table" in a for a in avoided.assumptions)  # no window rate given
    # The window's own rate, the KPI table's baseline, is named beside the estimate.
    labelled = business_value(model, replace(counts, baseline_window_escalation_rate=0.289))
    assert labelled.figure("escalations_avoided").assumptions[1] == (
        "the KPI table's baseline (28.9%) is the rate of the baseline window's days alone; "
        "29.0% estimates the same rate on more days"
    )


def test_a_journey_whose_rate_never_moved_is_seldom_cut() -> None:
    # 400 draws of 60 days at 30%: the cut fires on a few percent of them, never on most.
    rng = np.random.default_rng(7)
    cuts = 0
    for _ in range(400):
        esc = [int(x) for x in rng.binomial(200, 0.3, 60)]
        out = pooled_escalation_baseline([JourneyDays("a", [200] * 60, esc, 60)], 14)
        assert out is not None
        cuts += bool(out.moved)
    assert cuts / 400 < 0.06
    # With a week before the window searched too, a few more (4.4% of 1,000 draws).
    cuts = 0
    for _ in range(400):
        esc = [int(x) for x in rng.binomial(200, 0.3, 67)]
        out = pooled_escalation_baseline([JourneyDays("a", [200] * 67, esc, 67)], 14, 7)
        assert out is not None
        cuts += bool(out.moved)
    assert cuts / 400 < 0.08
