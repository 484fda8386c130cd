"""The plan's pure calculations on hand-checked numbers (the arithmetic is in each comment)."""

from __future__ import annotations

import math
from datetime import date

import pytest

from daytwo.errors import InputError
from daytwo.metrics.calc import Estimate
from daytwo.metrics.catalog import REGISTRY
from daytwo.plan import calc, rollout_calc
from daytwo.plan.schemas import RolloutState, VsBaseline

D = date(2026, 3, 20)
ERRORS = REGISTRY["error_rate"]  # a ratio, good down
CONTAINMENT = REGISTRY["containment_rate"]  # a ratio, good up
CSAT = REGISTRY["csat"]  # a mean score, good up
P95 = REGISTRY["latency_p95"]  # a quantile: no interval


def window(est: Estimate, metric=ERRORS, min_sample: int = 100, **kw):  # type: ignore[no-untyped-def]
    return calc.check_window(est, D, metric, calc.Condition(**kw), min_sample=min_sample)


# -- thresholds: every comparator, with its edge -------------------------------------------


@pytest.mark.parametrize(
    ("value", "comparator", "threshold", "verdict"),
    [
        (0.010, "at_most", 0.010, "met"),  # equal is at most
        (0.011, "at_most", 0.010, "not_met"),
        (0.010, "below", 0.010, "not_met"),  # equal is not below
        (0.009, "below", 0.010, "met"),
        (0.600, "at_least", 0.600, "met"),
        (0.599, "at_least", 0.600, "not_met"),
        (0.600, "above", 0.600, "not_met"),
        (0.601, "above", 0.600, "met"),
    ],
)
def test_threshold_comparators(
    value: float, comparator: str, threshold: float, verdict: str
) -> None:
    got = window(Estimate(value, 1000), comparator=comparator, threshold=threshold)
    assert got.verdict == verdict


def test_minimum_sample_is_not_enough_data_whatever_the_value() -> None:
    # 99 conversations < 100: the value (0%, clearly "met") does not count.
    assert window(Estimate(0.0, 99), comparator="at_most", threshold=0.01).verdict == "no_data"
    assert window(Estimate(0.0, 100), comparator="at_most", threshold=0.01).verdict == "met"
    assert window(Estimate(None, 0), comparator="at_most", threshold=0.01).verdict == "no_data"


def test_a_metric_without_a_sample_counts_as_one_value() -> None:
    # A count has no n: with min_sample 1 its value is judged, with 2 it is not enough.
    volume = REGISTRY["contact_volume"]
    est = Estimate(500.0, None)
    assert window(est, volume, min_sample=1, comparator="at_least", threshold=400).verdict == "met"
    assert (
        window(est, volume, min_sample=2, comparator="at_least", threshold=400).verdict == "no_data"
    )


# -- against the baseline --------------------------------------------------------------------


def test_better_than_baseline_by_a_margin_with_significance() -> None:
    # Containment 0.62 on 2,000 vs baseline 0.58 on 2,000: change +0.04.
    # se = sqrt(.62*.38/2000 + .58*.42/2000) = sqrt(1.178e-4 + 1.218e-4) = 0.015479
    # one-sided 95%: z = 1.644854; bound = 0.04 - 1.644854 * 0.015479 = 0.014539.
    now, base = Estimate(0.62, 2000), Estimate(0.58, 2000)
    spec = VsBaseline(change="better", by=0.01, significance=0.05)
    got = calc.baseline_change(now, base, CONTAINMENT, spec)
    assert got is not None
    assert got.change == pytest.approx(0.04)
    assert got.bound == pytest.approx(0.014539, abs=1e-6)
    assert got.holds  # 0.0145 >= 0.01
    strict = VsBaseline(change="better", by=0.02, significance=0.05)
    assert not calc.baseline_change(now, base, CONTAINMENT, strict).holds  # type: ignore[union-attr]


def test_not_worse_than_baseline_for_a_rate_that_should_go_down() -> None:
    # Errors 0.012 on 10,000 vs baseline 0.010 on 10,000: worse by 0.002, change = -0.002.
    # se = sqrt(.012*.988/1e4 + .01*.99/1e4) = sqrt(1.1856e-6 + 9.9e-7) = 0.0014750
    # bound = -0.002 - 1.644854 * 0.0014750 = -0.0044262; not worse by 0.005: -0.0044 >= -0.005.
    now, base = Estimate(0.012, 10_000), Estimate(0.010, 10_000)
    ok = calc.baseline_change(now, base, ERRORS, VsBaseline(change="not_worse", by=0.005))
    assert ok is not None
    assert ok.change == pytest.approx(-0.002)
    assert ok.bound == pytest.approx(-0.0044262, abs=1e-6)
    assert ok.holds
    tight = calc.baseline_change(now, base, ERRORS, VsBaseline(change="not_worse", by=0.004))
    assert tight is not None
    assert not tight.holds


def test_a_mean_reads_its_standard_error_from_its_interval() -> None:
    # CSAT 4.10 ± 0.0392 (se 0.02) vs baseline 4.00 ± 0.0392 (se 0.02): change +0.10,
    # se = sqrt(2) * 0.02 = 0.028284; bound = 0.10 - 1.644854 * 0.028284 = 0.053477.
    half = 1.959963984540054 * 0.02
    now = Estimate(4.10, 400, 4.10 - half, 4.10 + half)
    base = Estimate(4.00, 400, 4.00 - half, 4.00 + half)
    got = calc.baseline_change(now, base, CSAT, VsBaseline(change="better", by=0.05))
    assert got is not None
    assert got.bound == pytest.approx(0.053477, abs=1e-6)
    assert got.holds


def test_an_imported_baseline_is_exact() -> None:
    # Baseline 0.58 imported (no sample): only the current sampling error counts.
    # se = sqrt(.62*.38/2000) = 0.010854; bound = 0.04 - 1.644854 * 0.010854 = 0.022147.
    got = calc.baseline_change(
        Estimate(0.62, 2000),
        Estimate(0.58, None),
        CONTAINMENT,
        VsBaseline(change="better", by=0.02),
    )
    assert got is not None
    assert got.bound == pytest.approx(0.022147, abs=1e-6)
    assert got.holds


def test_no_interval_means_no_test() -> None:
    # A quantile has no interval: its change cannot be tested, so the window has no verdict.
    got = window(
        Estimate(900.0, 5000),
        P95,
        vs_baseline=VsBaseline(change="not_worse", by=100),
        baseline=Estimate(800.0, 5000),
    )
    assert got.verdict == "no_data"
    assert not calc.has_interval(P95)
    assert calc.has_interval(CONTAINMENT)
    assert calc.has_interval(CSAT)


def test_vs_baseline_without_a_baseline_is_not_enough_data() -> None:
    spec = VsBaseline(change="better", by=0.0)
    assert window(Estimate(0.6, 500), CONTAINMENT, vs_baseline=spec).verdict == "no_data"


# -- sustained: every day of the last N, and the window ---------------------------------------

AT_MOST_1PCT = calc.Condition("at_most", 0.01)


@pytest.mark.parametrize(
    ("est", "broken"),
    [
        # 30 errors in 1,000 turns: Wilson [0.0211, 0.0425], wholly above 1%: broken.
        (Estimate(0.030, 1000, 0.0211, 0.0425), True),
        # 12 in 1,000: 1.2%, but its interval [0.0069, 0.0208] reaches 1%: noise, not broken.
        (Estimate(0.012, 1000, 0.0069, 0.0208), False),
        (Estimate(0.004, 1000, 0.0016, 0.0102), False),
        (Estimate(None, 0), None),  # no data that day
    ],
)
def test_a_day_breaks_a_threshold_only_clearly(est: Estimate, broken: bool | None) -> None:
    assert calc.day_fails(est, ERRORS, AT_MOST_1PCT) is broken


def test_a_day_without_an_interval_breaks_on_its_value() -> None:
    p95_ok = calc.Condition("at_most", 2500)
    assert calc.day_fails(Estimate(2501.0, 900), P95, p95_ok) is True
    assert calc.day_fails(Estimate(2500.0, 900), P95, p95_ok) is False


def test_a_day_breaks_a_baseline_margin_only_clearly() -> None:
    # Containment 0.50 on 400 vs baseline 0.60 on 4,000: change -0.10, se = sqrt(.25/400 +
    # .24/4000) = 0.026173; optimistic = -0.10 + 1.644854 * 0.026173 = -0.056950 < -0.05.
    cond = calc.Condition(
        vs_baseline=VsBaseline(change="not_worse", by=0.05), baseline=Estimate(0.60, 4000)
    )
    assert calc.day_fails(Estimate(0.50, 400), CONTAINMENT, cond) is True
    # 0.53: optimistic = -0.07 + 0.043117 = -0.026883 >= -0.05: not clearly worse.
    assert calc.day_fails(Estimate(0.53, 400), CONTAINMENT, cond) is False


def met_window() -> calc.DayCheck:
    return calc.DayCheck(D, "met", Estimate(0.005, 5000))


@pytest.mark.parametrize(
    ("window_verdict", "days", "verdict", "held"),
    [
        ("met", [False] * 7, "met", 7),
        ("met", [True] + [False] * 6, "not_met", 6),  # the oldest day broke it: held 6 of 7
        ("met", [False] * 6 + [True], "not_met", 0),  # the latest broke it
        ("met", [None] * 3 + [False] * 4, "no_data", 4),  # not enough history yet
        ("met", [None, True, False], "not_met", 1),  # a broken day wins over missing data
        ("not_met", [False] * 7, "not_met", 7),  # every day fine, the window is not
        ("no_data", [False] * 7, "no_data", 7),
        ("met", [], "met", 1),  # not sustained: the window alone
        ("not_met", [], "not_met", 0),
    ],
)
def test_sustained(window_verdict: str, days: list[bool | None], verdict: str, held: int) -> None:
    win = calc.DayCheck(D, window_verdict, Estimate(0.005, 5000))  # type: ignore[arg-type]
    got = calc.sustained(win, days)
    assert (got.verdict, got.held) == (verdict, held)
    assert got.latest is win


NOT_WORSE_5 = calc.Condition(
    vs_baseline=VsBaseline(change="not_worse", by=0.05), baseline=Estimate(0.60, 4000)
)


def test_a_drift_reads_on_its_latest_level_not_its_window() -> None:
    # Containment 60%, 59%, ... 54% on 400 a day: the 7 days pool to 57% on 2,800, whose
    # change -0.03 has se sqrt(.2451/2800 + .24/4000) = 0.012146 and bound -0.03 - 1.644854 ×
    # 0.012146 = -0.049979 >= -0.05: the window is met.
    days = [Estimate(0.60 - 0.01 * k, 400) for k in range(7)]
    win = calc.check_window(Estimate(0.57, 2800), D, CONTAINMENT, NOT_WORSE_5, min_sample=100)
    assert win.verdict == "met"
    # The line through the days ends at 0.57 - 0.01 × 3 = 0.54: -0.06 from the baseline, past
    # the margin of -0.05. Equal weights 400 / .2451 = 1631.99 (the pooled rate 0.57):
    # se = sqrt(1 / 11423.9 + 3² / (1631.99 × 28)) = 0.016867.
    level = calc.latest_level(days, CONTAINMENT, NOT_WORSE_5)
    assert level is not None
    assert level.value == pytest.approx(0.54)
    assert level.se == pytest.approx(0.016867, abs=1e-6)
    assert level.holds is False
    got = calc.sustained(win, [False] * 7, level)
    assert (got.verdict, got.held) == ("not_met", 7)  # no day clearly broke it; the drift did


def test_a_steady_series_keeps_its_level() -> None:
    # 60% every day: level 0.60, no change from the baseline; se = sqrt(1/11666.7 +
    # 9/46666.7) = 0.016690.
    level = calc.latest_level([Estimate(0.60, 400)] * 7, CONTAINMENT, NOT_WORSE_5)
    assert level is not None
    assert (level.value, level.holds) == (pytest.approx(0.60), True)
    assert level.se == pytest.approx(0.016690, abs=1e-6)
    win = calc.DayCheck(D, "met", Estimate(0.60, 2800))
    assert calc.sustained(win, [False] * 7, level).verdict == "met"


def test_the_latest_level_is_judged_on_its_value() -> None:
    # 60% then 59.2%, 58.4%, ... 55.2%: the line ends at 0.552, -0.048 from the baseline:
    # within the margin of 0.05 although its bound would not be.
    days = [Estimate(0.60 - 0.008 * k, 400) for k in range(7)]
    level = calc.latest_level(days, CONTAINMENT, NOT_WORSE_5)
    assert level is not None
    assert (level.value, level.holds) == (pytest.approx(0.552), True)


def test_the_latest_level_against_a_threshold_is_its_value() -> None:
    # Errors 0.5%, 0.6%, ... 1.1%: the window pools to 0.8% (met), the line ends at 1.1%.
    days = [Estimate(0.005 + 0.001 * k, 1000) for k in range(7)]
    level = calc.latest_level(days, ERRORS, AT_MOST_1PCT)
    assert level is not None
    assert (level.value, level.holds) == (pytest.approx(0.011), False)


FALLBACK = REGISTRY["fallback_rate_conversation"]  # a ratio, good down


@pytest.mark.parametrize(
    ("seen", "journey", "segment", "covered"),
    [
        # A knowledge gap in the journey covers the journey's fallback rate...
        (calc.Seen(1, "knowledge_gap", "gap", journey="payments"), "payments", {}, True),
        # ...not another journey's, nor the deployment's, nor a segment's.
        (calc.Seen(1, "knowledge_gap", "gap", journey="payments"), "travel", {}, False),
        (calc.Seen(1, "knowledge_gap", "gap", journey="payments"), None, {}, False),
        (calc.Seen(1, "knowledge_gap", "gap"), None, {"channel": "chat"}, False),
        # A gap spread over the deployment covers the deployment's fallback rate, and that of
        # each journey holding a quarter of its questions or more.
        (calc.Seen(1, "knowledge_gap", "gap"), None, {}, True),
        (calc.Seen(1, "knowledge_gap", "gap", journeys=("payments",)), "payments", {}, True),
        (calc.Seen(1, "knowledge_gap", "gap", journeys=("payments",)), "travel", {}, False),
        # A finding on the metric itself, worse than its baseline (fallback up)...
        (
            calc.Seen(2, "degradation", "d", metric=FALLBACK.id, baseline=0.1, current=0.2),
            None,
            {},
            True,
        ),
        # ...better (fallback down) covers nothing; no values: taken as found.
        (
            calc.Seen(2, "degradation", "d", metric=FALLBACK.id, baseline=0.2, current=0.1),
            None,
            {},
            False,
        ),
        (calc.Seen(2, "degradation", "d", metric=FALLBACK.id), None, {}, True),
        # The same segment only; another metric never.
        (
            calc.Seen(3, "slo", "s", segment=("channel", "chat"), metric=FALLBACK.id),
            None,
            {"channel": "chat"},
            True,
        ),
        (
            calc.Seen(3, "slo", "s", segment=("channel", "voice"), metric=FALLBACK.id),
            None,
            {"channel": "chat"},
            False,
        ),
        (calc.Seen(4, "degradation", "d", metric="error_rate"), None, {}, False),
        # A kind that names no metric covers none (the plan's own "no longer holds").
        (calc.Seen(5, "gate_no_longer_holds", "g"), None, {}, False),
    ],
)
def test_which_findings_cover_a_criterion(
    seen: calc.Seen, journey: str | None, segment: dict[str, str], covered: bool
) -> None:
    assert calc.covers(seen, FALLBACK, journey, segment) is covered


def test_the_journeys_a_finding_touches() -> None:
    # 65 of 100 in payments, 25 in balance (exactly a quarter), 10 in fraud.
    counts = {"payments": 65, "balance": 25, "fraud": 10}
    assert calc.touched_journeys(counts) == ("balance", "payments")
    assert calc.touched_journeys({}) == ()


def test_a_covering_finding_stops_a_met_criterion_not_a_window_without_data() -> None:
    gap = calc.Seen(7, "knowledge_gap", "Knowledge gap: “payroll tax”", journey="payments")
    met = calc.DayCheck(D, "met", Estimate(0.12, 2000))
    got = calc.sustained(met, [False] * 7, None, [gap])
    assert (got.verdict, got.held, got.found) == ("not_met", 7, (gap,))
    text = calc.metric_summary(
        FALLBACK,
        got,
        condition="≤ 15%",
        window_days=7,
        sustained_days=7,
        min_sample=100,
        baseline=None,
    )
    assert text.endswith("but an open finding says it got worse: Knowledge gap: “payroll tax”")
    empty = calc.DayCheck(D, "no_data", Estimate(0.12, 20))
    assert calc.sustained(empty, [False] * 7, None, [gap]).verdict == "no_data"


def test_no_latest_level_without_an_interval_or_three_days() -> None:
    p95 = [Estimate(2000.0 + 100 * k, 900) for k in range(7)]
    assert calc.latest_level(p95, P95, calc.Condition("at_most", 2500)) is None
    two = [Estimate(None, 0)] * 5 + [Estimate(0.004, 1000)] * 2
    assert calc.latest_level(two, ERRORS, AT_MOST_1PCT) is None
    # Not enough data in the window stays not enough data, whatever the level says.
    drift = calc.latest_level(
        [Estimate(0.60 - 0.01 * k, 400) for k in range(7)], CONTAINMENT, NOT_WORSE_5
    )
    win = calc.DayCheck(D, "no_data", Estimate(0.57, 50))
    assert calc.sustained(win, [False] * 7, drift).verdict == "no_data"


# -- checks ------------------------------------------------------------------------------------


def test_share_and_count_verdicts() -> None:
    assert calc.share_verdict(9, 10, 0.9) == "met"  # 90% >= 90%
    assert calc.share_verdict(8, 10, 0.9) == "not_met"
    assert calc.share_verdict(0, 0, 0.9) == "no_data"  # nothing fell due
    assert calc.count_verdict(0) == "met"
    assert calc.count_verdict(3) == "not_met"


def test_metric_ranges() -> None:
    assert calc.metric_range(ERRORS) == (0.0, 1.0)
    assert calc.metric_range(REGISTRY["nps"]) == (-100.0, 100.0)
    assert calc.metric_range(REGISTRY["sentiment"]) == (-1.0, 1.0)
    assert calc.metric_range(CSAT) == (0.0, 10.0)
    assert calc.metric_range(P95) == (0.0, math.inf)


# -- phases and where the plan stands -----------------------------------------------------------


def test_phase_ranges_reversed_and_overlapping() -> None:
    assert calc.check_phases([("a", 1, 30), ("b", 31, 60)]) == []
    assert calc.check_phases([("a", 1, 30), ("b", 45, 60)]) == []  # a gap is allowed
    problems = calc.check_phases([("a", 1, 30), ("b", 25, 60), ("c", 90, 61)])
    assert [(i, f) for i, f, _ in problems] == [(1, "start_day"), (2, "end_day")]
    assert "inside phase 'a'" in problems[0][2]
    assert "ends (day 61) before it starts (day 90)" in problems[1][2]


PHASES = (
    ("stabilise", "Stabilise", 1, 30),
    ("optimise", "Optimise", 31, 60),
    ("scale", "Scale", 61, 90),
)


def facts(
    passed: dict[str, str], current_met: int = 5, unmet: tuple[str, ...] = ()
) -> list[calc.PhaseFacts]:
    out = []
    for key, name, a, b in PHASES:
        out.append(
            calc.PhaseFacts(
                key,
                name,
                a,
                b,
                passed=passed.get(key),  # type: ignore[arg-type]
                ready=current_met == 7,
                met=current_met,
                total=7,
                unmet=unmet,
            )
        )
    return out


def test_calendar_ahead_of_evidence() -> None:
    # Day 47: the calendar says optimise; stabilise was never passed.
    unmet = ("Error rate 1.4% vs ≤ 1.0% over 7 days", "3 P1 items open")
    pos = calc.position(facts({}, 5, unmet), 47)
    assert (pos.current, pos.calendar, pos.calendar_ahead) == ("stabilise", "optimise", True)
    assert pos.lead == "Day 47 of 90, still in stabilise: 2 of 7 criteria not met."
    assert pos.headline == (
        "Day 47 of 90, still in stabilise: 2 of 7 criteria not met: Error rate 1.4% vs ≤ 1.0% "
        "over 7 days; 3 P1 items open."
    )
    assert pos.statuses == {"stabilise": "current", "optimise": "upcoming", "scale": "upcoming"}


def test_evidence_on_time_and_an_override() -> None:
    pos = calc.position(facts({"stabilise": "signoff"}, 7), 40)
    assert (pos.current, pos.calendar, pos.calendar_ahead) == ("optimise", "optimise", False)
    assert (
        pos.lead == "Day 40 of 90, in optimise: all 7 criteria met; the gate is ready for sign-off."
    )
    over = calc.position(facts({"stabilise": "override", "optimise": "signoff"}), 65)
    assert over.statuses["stabilise"] == "overridden"
    assert over.current == "scale"
    # Late in a phase is ahead too: day 35 is past stabilise's last day (30).
    assert calc.position(facts({}), 35).calendar_ahead
    done = calc.position(facts(dict.fromkeys(["stabilise", "optimise", "scale"], "signoff")), 95)
    assert done.lead == "Day 95 of 90: every phase passed."


def test_day_numbers() -> None:
    assert calc.day_number(date(2026, 3, 1), date(2026, 3, 1)) == 1  # go-live is day 1
    assert calc.day_number(date(2026, 3, 1), date(2026, 4, 16)) == 47
    assert calc.day_number(None, D) is None
    assert calc.phase_dates(date(2026, 3, 1), 31, 60) == (date(2026, 3, 31), date(2026, 4, 29))


# -- rollout -------------------------------------------------------------------------------------

S = RolloutState


@pytest.mark.parametrize(
    ("current", "target", "resume", "reason"),
    [
        (S.not_started, S.pilot, None, ""),
        (S.pilot, S.live, None, ""),
        (S.live, S.expanding, None, ""),
        (S.expanding, S.live, None, ""),  # the expansion is done
        (S.live, S.paused, None, "incident"),
        (S.paused, S.live, S.live, ""),  # resume where it paused
        (S.pilot, S.rolled_back, None, "pilot failed"),
        (S.rolled_back, S.pilot, None, ""),
    ],
)
def test_allowed_rollout_changes(current: S, target: S, resume: S | None, reason: str) -> None:
    rollout_calc.check_rollout_transition(current, target, resume=resume, reason=reason)


@pytest.mark.parametrize(
    ("current", "target", "resume", "reason", "field"),
    [
        (S.not_started, S.live, None, "", "state"),  # skips the pilot
        (S.not_started, S.expanding, None, "", "state"),
        (S.pilot, S.expanding, None, "", "state"),  # skips live
        (S.live, S.pilot, None, "", "state"),  # backwards without a roll-back
        (S.live, S.paused, None, "  ", "reason"),  # a pause needs a reason
        (S.live, S.rolled_back, None, "", "reason"),
        (S.paused, S.expanding, S.live, "", "state"),  # resumes to live, not further
        (S.rolled_back, S.live, None, "", "state"),  # starts again with a pilot
        (S.pilot, S.pilot, None, "", "state"),
    ],
)
def test_refused_rollout_changes(
    current: S, target: S, resume: S | None, reason: str, field: str
) -> None:
    with pytest.raises(InputError) as exc:
        rollout_calc.check_rollout_transition(current, target, resume=resume, reason=reason)
    assert exc.value.details["field"] == field
    assert exc.value.message.startswith(f"{field}:")


def test_value_per_interaction_from_the_cost_model() -> None:
    # A contained conversation saves a hand-over: 0.6 × 6.5 − 0.04 = 3.86.
    value, how = rollout_calc.value_per_interaction(
        "virtual_agent", {"escalation": 6.5, "ai_per_interaction": 0.04}, 0.6
    )
    assert value == pytest.approx(3.86)
    assert "containment 60%" in how
    # Agent assist: 1.5 minutes saved × 0.9 − 0.02 = 1.33.
    value, _ = rollout_calc.value_per_interaction(
        "agent_assist",
        {"agent_minute": 0.9, "assist_minutes_saved": 1.5, "ai_per_interaction": 0.02},
        None,
    )
    assert value == pytest.approx(1.33)
    assert (
        rollout_calc.value_per_interaction("agent_assist", {"agent_minute": 0.9}, None)[0] is None
    )
    assert rollout_calc.value_per_interaction("virtual_agent", {}, 0.6)[0] is None


def test_ranking_by_expected_value_times_readiness() -> None:
    # a: 1000 × 1.0 = 1000; b: 3000 × 0.5 = 1500; c: 800 × 1.0 = 800.
    ranked = rollout_calc.rank(
        [
            rollout_calc.Candidate("a", 1.0, True, 1000.0, 100.0),
            rollout_calc.Candidate("b", 0.5, False, 3000.0, 400.0),
            rollout_calc.Candidate("c", 1.0, True, 800.0, 900.0),
        ]
    )
    assert [(c.name, s) for c, s in ranked] == [("b", 1500.0), ("a", 1000.0), ("c", 800.0)]
    # With no value priced at all, volume stands in: c 900, b 200, a 100.
    unpriced = rollout_calc.rank(
        [
            rollout_calc.Candidate(n, r, True, None, v)
            for n, r, v in (("a", 1.0, 100.0), ("b", 0.5, 400.0), ("c", 1.0, 900.0))
        ]
    )
    assert [c.name for c, _ in unpriced] == ["c", "b", "a"]


def test_coefficient_of_variation() -> None:
    # Mean 0.5, sample sd of (0.4, 0.5, 0.6) = 0.1: cv 0.2.
    assert rollout_calc.coefficient_of_variation([0.4, 0.5, 0.6]) == pytest.approx(0.2)
    assert rollout_calc.coefficient_of_variation([0.5, 0.5]) is None


@pytest.mark.parametrize(
    ("components", "ok"),
    [
        ([("volume", "met"), ("owner", "met"), ("no_p1", "met"), ("steady", "met")], True),
        # One soft check unmet: still recommended, with it as a caveat.
        ([("volume", "met"), ("owner", "met"), ("no_p1", "met"), ("performance", "not_met")], True),
        # Two: not.
        (
            [("owner", "met"), ("no_p1", "met"), ("performance", "not_met"), ("steady", "no_data")],
            False,
        ),
        # A blocking check is never made up for.
        ([("volume", "met"), ("owner", "not_met"), ("no_p1", "met")], False),
        ([("volume", "met"), ("owner", "met"), ("no_p1", "not_met")], False),
        ([("volume", "no_data"), ("owner", "met"), ("no_p1", "met")], False),
    ],
)
def test_what_may_be_recommended(components: list[tuple[str, str]], ok: bool) -> None:
    assert rollout_calc.recommendable(components) is ok


# -- a rising trend inside the margin --------------------------------------------------------

NOT_WORSE_3 = calc.Condition(
    vs_baseline=VsBaseline(change="not_worse", by=0.03), baseline=Estimate(0.10, 4000)
)


def test_a_rising_series_within_its_margin_is_not_ready() -> None:
    # Fallback 10.0%, 10.4%, ... 12.4% on 2,000 a day against a baseline of 10% (n 4,000),
    # not worse by 3 pts. The window pools to 11.2% on 14,000: change -0.012, se sqrt(.112 ×
    # .888 / 14000 + .1 × .9 / 4000) = 0.005441, bound -0.012 - 1.644854 × 0.005441 = -0.02095
    # >= -0.03: met. No day breaks it (the last, 12.4%: -0.024 + 1.644854 × sqrt(.124 × .876
    # / 2000 + .0000225) = -0.0096 > -0.03). The line ends at 12.4%: -0.024, inside the margin.
    days = [Estimate(0.100 + 0.004 * k, 2000) for k in range(7)]
    win = calc.check_window(Estimate(0.112, 14000), D, FALLBACK, NOT_WORSE_3, min_sample=200)
    assert win.verdict == "met"
    assert [calc.day_fails(d, FALLBACK, NOT_WORSE_3) for d in days] == [False] * 7
    # But it climbs 0.4 pts a day. Equal weights 2000 / (.112 × .888) = 20109.4, sxx = 28 ×
    # 20109.4 = 563063: slope se sqrt(1 / 563063) = 0.0013327, z = 0.004 / 0.0013327 = 3.00
    # >= 2.326 (one-sided 1%): rising.
    level = calc.latest_level(days, FALLBACK, NOT_WORSE_3)
    assert level is not None
    assert (level.value, level.holds) == (pytest.approx(0.124), True)
    assert level.slope == pytest.approx(0.004)
    assert level.slope_se == pytest.approx(0.0013327, abs=1e-7)
    assert level.rising is True
    got = calc.sustained(win, [False] * 7, level)
    assert (got.verdict, got.held) == ("not_met", 7)
    text = calc.metric_summary(
        FALLBACK,
        got,
        condition="not worse than baseline by 3.0 pts (95% confidence)",
        window_days=7,
        sustained_days=7,
        min_sample=200,
        baseline=0.10,
    )
    assert text.endswith(
        "but getting worse: +0.4 pts a day over the last 7 days (3.0 standard errors), "
        "12.4% on its latest day"
    )


def test_a_flat_noisy_series_is_ready() -> None:
    # 9%, 12%, 10%, 11%, 8%, 12%, 11% on 280 a day: pooled 10.4714%, slope sum((x - 3) × y) /
    # 28 = 0.04 / 28 = 0.001429 a day; weights 280 / (.104714 × .895286) = 2986.9, slope se
    # sqrt(1 / (28 × 2986.9)) = 0.003452: z 0.41, noise. The line ends at 10.857%: -0.0086.
    days = [Estimate(v, 280) for v in (0.09, 0.12, 0.10, 0.11, 0.08, 0.12, 0.11)]
    level = calc.latest_level(days, FALLBACK, NOT_WORSE_3)
    assert level is not None
    assert level.slope == pytest.approx(0.04 / 28)
    assert level.slope_se == pytest.approx(0.003452, abs=1e-6)
    assert (level.holds, level.rising) == (True, False)
    win = calc.DayCheck(D, "met", Estimate(0.104714, 1960))
    assert calc.sustained(win, [False] * 7, level).verdict == "met"


def test_a_trend_is_rising_only_in_the_bad_direction() -> None:
    # The same climb read the other way (fallback falling 12.4% -> 10%) is an improvement;
    # containment falling 0.6 pts a day against "at least 50%" (pooled 58.2%, slope se
    # sqrt(.582 × .418 / (2000 × 28)) = 0.002084, z 2.88) rises the bad way.
    falling = [Estimate(0.124 - 0.004 * k, 2000) for k in range(7)]
    level = calc.latest_level(falling, FALLBACK, NOT_WORSE_3)
    assert level is not None
    assert (level.slope, level.rising) == (pytest.approx(-0.004), False)
    dropping = [Estimate(0.60 - 0.006 * k, 2000) for k in range(7)]
    at_least = calc.latest_level(dropping, CONTAINMENT, calc.Condition("at_least", 0.50))
    assert at_least is not None
    assert (at_least.holds, at_least.rising) == (True, True)
