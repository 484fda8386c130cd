"""Every registered detector on tiny, hand-checkable data; a meta-test keeps the table complete.

Each case builds an :class:`AnalysisData` from a few rows (repeated where a test needs a
sample), runs one detector with its registered params, and checks the findings by hand: the
comment on each case shows the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daytwo.detect import AnalysisData, DeploymentInfo, Finding, Window, analysis_data, detectors
from tests.detect.gaps.data import CRYPTO, PETS
from tests.detect.gaps.test_emerging import build as gap_data

D0 = datetime(2026, 3, 1, tzinfo=UTC)
# Baseline: days 0-13; current: days 21-27 (as of the start of day 28).
WINDOW = Window(D0, D0 + timedelta(days=14), D0 + timedelta(days=21), D0 + timedelta(days=28))


def at(day: float, hour: float = 10) -> datetime:
    return D0 + timedelta(days=day, hours=hour)


def inter(i: str, day: float, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "interaction_id": i,
        "started_at": at(day),
        "ended_at": at(day) + timedelta(minutes=3),
        "channel": "chat",
        "journey": "billing",
        "customer_ref": f"u{i}",
        "outcome": "contained",
        "n_turns": 2,
        "n_user_turns": 1,
        "n_assistant_turns": 1,
        "n_fallback_turns": 0,
        "n_error_turns": 0,
        "n_repeats": 0,
    }
    base.update(kw)
    return base


@dataclass(frozen=True)
class Case:
    detector: str
    name: str
    build: Callable[[], AnalysisData]
    check: Callable[[list[Finding]], None]


def escalations(share_before: float, share_after: float, n: int = 400) -> AnalysisData:
    """``n`` billing conversations a window, the given share of them escalated."""
    rows = []
    for k in range(n):
        rows.append(
            inter(f"b{k}", (k % 14), outcome="escalated" if k < share_before * n else "contained")
        )
        rows.append(
            inter(
                f"c{k}", 21 + (k % 7), outcome="escalated" if k < share_after * n else "contained"
            )
        )
    return analysis_data("bot", WINDOW, rows)


def _check_escalation(findings: list[Finding]) -> None:
    # Baseline 10% (40/400), current 30% (120/400): +20 points. One outcome per conversation,
    # so the clustered variance is the binomial one: se = sqrt(.1*.9/400 + .3*.7/400) =
    # 0.02739, z = 0.2/0.02739 = 7.30 in the 7-day window. Containment
    # falls from 90% to 70% too (same z). Journey billing and channel chat are the whole
    # deployment, so each finding is the deployment's or one of those identical cells.
    by_metric = {f.scope.metric: f for f in findings}
    esc = by_metric["escalation_rate"]
    assert esc.kind == "degradation"
    assert esc.baseline is not None
    assert esc.current is not None
    assert esc.baseline.value == pytest.approx(0.10)
    assert esc.current.value == pytest.approx(0.30)
    assert esc.details["z"] == pytest.approx(7.303, abs=0.001)
    assert esc.details["window_days"] == 7
    assert len(esc.evidence) == 20
    assert all(e.startswith("c") for e in esc.evidence)
    assert esc.impact.interactions_per_week == pytest.approx(120.0)
    assert by_metric["containment_rate"].current.value == pytest.approx(0.70)  # type: ignore[union-attr]


def _check_nothing(findings: list[Finding]) -> None:
    assert findings == []


def slo_data(contained_share: float) -> AnalysisData:
    rows = [
        inter(
            f"c{k}", 21 + (k % 7), outcome="contained" if k < contained_share * 700 else "escalated"
        )
        for k in range(700)
    ]
    info = DeploymentInfo("bot", targets={"containment_rate": 0.6, "not_monitored": 1.0})
    return analysis_data(info, WINDOW, rows)


def _check_slo(findings: list[Finding]) -> None:
    # 40% contained (280/700) vs a 60% target: 33% below it, Wilson upper bound 0.437 < 0.6,
    # every one of the 7 days too (40 of 100 each): breached since day 21, high severity.
    (f,) = findings
    assert f.kind == "slo_breach"
    assert f.scope.metric == "containment_rate"
    assert f.current is not None
    assert f.current.value == pytest.approx(0.4)
    assert f.current.n == 700
    assert f.first_seen == D0 + timedelta(days=21)
    assert f.severity.name == "high"


def latency_target_data(latency_ms: float) -> AnalysisData:
    """100 answered chat conversations a day over the current week, every answer taking
    ``latency_ms``; a 2,000 ms target on the 95th percentile (a metric no detector monitors
    per conversation: the SLO detector computes it from the catalog)."""
    rows, turns = [], []
    for day in range(21, 28):
        for k in range(100):
            i = f"l{day}-{k}"
            rows.append(inter(i, day, n_latency=1, latency_ms_sum=latency_ms))
            turns.append({"interaction_id": i, "seq": 1, "role": "assistant",
                          "latency_ms": latency_ms})  # fmt: skip
    info = DeploymentInfo("bot", targets={"latency_p95": 2000.0})
    return analysis_data(info, WINDOW, rows, turns)


def _check_latency_target(findings: list[Finding]) -> None:
    # p95 of 700 answers of 3,000 ms is 3,000: 50% over the 2,000 target (a quantile has no
    # interval, so more than 10% away is a breach), on each of the 7 days: high, since day 21.
    (f,) = findings
    assert f.kind == "slo_breach"
    assert f.scope.metric == "latency_p95"
    assert f.current is not None
    assert (f.current.value, f.current.n) == (pytest.approx(3000.0), 700)
    assert f.first_seen == D0 + timedelta(days=21)
    assert f.severity.name == "high"
    assert f.details["relative_gap"] == pytest.approx(0.5)
    assert f.impact.interactions_per_week == pytest.approx(700.0)
    assert len(f.evidence) == 20


def utilisation_data(shown_share: float) -> AnalysisData:
    """700 agent conversations in the current week, ``shown_share`` of them with a suggestion
    shown; an 85% target on feature utilisation (from the catalog)."""
    rows = [
        inter(f"u{k}", 21 + (k % 7), agent_ref=f"a{k % 40}",
              n_assist_shown=1 if (k // 7) < shown_share * 100 else 0)
        for k in range(700)
    ]  # fmt: skip
    return analysis_data(DeploymentInfo("assist", targets={"feature_utilisation": 0.85}),
                         WINDOW, rows)  # fmt: skip


def _check_utilisation_target(findings: list[Finding]) -> None:
    # 50% (350/700, 50 of 100 each day) against 85%: 41% under it, Wilson upper bound 0.537:
    # breached on every day, high. The evidence is the conversations without a suggestion.
    (f,) = findings
    assert f.scope.metric == "feature_utilisation"
    assert f.current is not None
    assert (f.current.value, f.current.n) == (pytest.approx(0.5), 700)
    assert f.first_seen == D0 + timedelta(days=21)
    assert f.severity.name == "high"
    assert f.impact.interactions_per_week == pytest.approx(350.0)
    assert all(int(e.removeprefix("u")) // 7 >= 50 for e in f.evidence)


def feed_data(outage: bool, duplicates: int = 0) -> AnalysisData:
    """Ten interactions every hour for four weeks of history and the current week."""
    rows, deliveries = [], []
    for day in range(28):
        for hour in range(24):
            if outage and day == 24 and 9 <= hour < 14:
                continue
            for k in range(10):
                i = f"d{day}h{hour}k{k}"
                start = at(day, hour + k / 10)
                rows.append(inter(i, day, started_at=start, ended_at=start + timedelta(minutes=2)))
                received = at(day, hour + 1)
                deliveries.append({"interaction_id": i, "batch_id": f"b{day}", "source": "api",
                                   "received_at": received})  # fmt: skip
                if day == 25 and hour == 0 and k < duplicates:
                    deliveries.append({"interaction_id": i, "batch_id": "again", "source": "api",
                                       "received_at": received})  # fmt: skip
    return analysis_data("bot", WINDOW, rows, deliveries=deliveries)


def _check_outage(findings: list[Finding]) -> None:
    # Five empty hours (09-14 on day 24) where 10 an hour arrived every week before: 50
    # expected, P(0) = e^-50, far below e^-12. Nothing else is wrong.
    (f,) = findings
    assert f.kind == "freshness_gap"
    assert f.first_seen == at(24, 9)
    assert f.last_seen == at(24, 14)
    assert f.baseline is not None
    assert f.baseline.value == pytest.approx(50.0)
    assert f.details["hours"] == 5


def _check_duplicates(findings: list[Finding]) -> None:
    # 10 of day 25's 240 interactions (24 h x 10) came twice: 4.2% of that day, above the
    # 0.5% that matters; no other day has any.
    (f,) = findings
    assert f.kind == "duplicate_deliveries"
    assert f.details == {"duplicated": 10, "interactions": 240, "days": 1}
    assert len(f.evidence) == 10


# Trends look at six weeks after the baseline's start: a baseline from two weeks before D0.
TREND_WINDOW = Window(D0 - timedelta(days=14), D0, D0 + timedelta(days=21), D0 + timedelta(days=28))


def weekly_escalations(
    shares: list[float], per_week: int = 200, window: Window = TREND_WINDOW
) -> AnalysisData:
    """``per_week`` conversations in each of the weeks before the end, escalated by share."""
    rows = []
    n_weeks = len(shares)
    for w, share in enumerate(shares):
        first_day = 28 - 7 * (n_weeks - w)
        for k in range(per_week):
            outcome = "escalated" if k < round(share * per_week) else "contained"
            rows.append(inter(f"w{w}k{k}", first_day + (k % 7), outcome=outcome))
    return analysis_data("bot", window, rows)


def _check_trend(findings: list[Finding]) -> None:
    # Weekly escalation 10, 10, 12, 15, 18, 22%: four worse weeks running, +12 points in
    # total (>= 5), slope 2.37 points a week (weights 1/(p(1-p)/200)), z = 4.01. The mirror
    # image in containment (90 -> 78%) is the same trend seen from the other side.
    by_metric = {f.scope.metric: f for f in findings}
    assert set(by_metric) == {"escalation_rate", "containment_rate"}
    esc = by_metric["escalation_rate"]
    assert esc.kind == "trend"
    assert esc.details["weekly"] == [0.1, 0.1, 0.12, 0.15, 0.18, 0.22]
    assert esc.details["total_change"] == pytest.approx(0.12)
    assert esc.first_seen == D0 + timedelta(days=28 - 28)
    assert esc.details["slope_per_week"] == pytest.approx(0.0237, abs=1e-4)
    assert esc.details["z"] == pytest.approx(4.01)


def _check_no_trend(findings: list[Finding]) -> None:
    # 10, 14, 10, 14, 18, 16%: the last four changes are not all worse.
    assert [f for f in findings if f.kind == "trend"] == []


def plateau_data() -> AnalysisData:
    rows = [
        inter(f"p{k}", d, outcome="escalated" if k % 10 < 4 else "contained")
        for d in range(0, 28)
        for k in range(40)
    ]
    info = DeploymentInfo("bot", targets={"escalation_rate": 0.2})
    return analysis_data(info, TREND_WINDOW, rows)


def _check_plateau(findings: list[Finding]) -> None:
    # 40% escalated every week against a 20% target (breached: 280 a week, Wilson low bound
    # 0.37 > 0.2, and 100% off), flat (slope 0): a plateau.
    (f,) = findings
    assert f.kind == "plateau"
    assert f.details["weekly"] == [0.4, 0.4, 0.4, 0.4]
    assert f.current is not None
    assert f.current.value == pytest.approx(0.4)


def conversation(
    i: str, day: float, answers: list[tuple[str, bool]], **kw: object
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """An interaction with user/assistant turns; ``answers`` are (intent, fallback) pairs."""
    turns: list[dict[str, object]] = []
    for n, (intent, fb) in enumerate(answers):
        turns.append({"interaction_id": i, "seq": 2 * n, "role": "user", "text": "pay my bill"})
        turns.append({"interaction_id": i, "seq": 2 * n + 1, "role": "assistant",
                      "text": "sorry?" if fb else f"answer {n}", "intent": intent,
                      "fallback": fb, "confidence": 0.2 if fb else 0.9})  # fmt: skip
    return inter(i, day, n_turns=len(turns), **kw), turns


def failure_point_data() -> AnalysisData:
    rows, turns = [], []
    for k in range(200):
        answers = [
            ("pay_bill", k % 20 == 0),
            ("pay_bill", False),
            ("pay_bill", k < 80),
            ("pay_bill", False),
        ]
        answers = [("fallback", True) if fb else (intent, False) for intent, fb in answers]
        r, t = conversation(f"f{k:03d}", 21 + k % 7, answers)
        rows.append(r)
        turns += t
    return analysis_data("bot", WINDOW, rows, turns)


def _check_failure_point(findings: list[Finding]) -> None:
    # The 3rd answer falls back in 80 of 200 conversations (40%); answers 1, 2 and 4 in 10 of
    # 600 (1.7%): lift 24x, 38 points above. The "fallback" intent only labels fallbacks and
    # is no step of its own; nobody was handed over.
    (f,) = findings
    assert f.kind == "failure_point"
    assert f.key == ("fallback", "position", "3")
    assert f.current is not None
    assert f.baseline is not None
    assert f.current.value == pytest.approx(0.4)
    assert f.baseline.value == pytest.approx(10 / 600)
    assert f.details["lift"] == pytest.approx(24.0)
    assert len(f.evidence) == 20


def drift_data(shift: bool) -> AnalysisData:
    rows, turns = [], []
    for k in range(400):
        for when, day in (("b", k % 14), ("c", 21 + k % 7)):
            new = shift and when == "c" and k % 5 == 0
            intent = "tax_form" if new else ("balance" if k % 2 else "pay_bill")
            text = "where is my tax form" if new else "please check my balance"
            i = f"{when}{k}"
            rows.append(inter(i, day))
            turns.append({"interaction_id": i, "seq": 0, "role": "user", "text": text})
            turns.append({"interaction_id": i, "seq": 1, "role": "assistant", "text": "ok",
                          "intent": intent})  # fmt: skip
    return analysis_data("bot", WINDOW, rows, turns)


def _check_drift(findings: list[Finding]) -> None:
    # Current: 80 of 400 first answers are a new intent (tax_form, 20%); pay_bill and balance
    # give up 10 points each: total variation 0.20. 80 messages use "tax" and "form", words no
    # baseline message used: 20% of the 200 sampled vs 0% between baseline halves.
    # Message length: 4 words vs 4.2 (+5%), under the 20% that matters.
    by_kind = {f.kind: f for f in findings}
    assert set(by_kind) == {"intent_mix", "new_vocabulary"}
    assert by_kind["intent_mix"].details["total_variation"] == pytest.approx(0.2)
    assert by_kind["intent_mix"].details["moves"]["tax_form"] == pytest.approx(0.2)
    vocab = by_kind["new_vocabulary"]
    assert set(vocab.details["new_words"]) == {"tax", "form", "where"}
    assert vocab.current is not None
    assert vocab.current.value == pytest.approx(0.2)


def silent_data(abandon_after: float) -> AnalysisData:
    rows, turns = [], []
    for k in range(300):
        for when, day, share in (("b", k % 14, 0.03), ("c", 21 + k % 7, abandon_after)):
            outcome = "abandoned" if k < share * 300 else "contained"
            r, t = conversation(f"{when}{k}", day, [("pay_bill", False)], outcome=outcome)
            rows.append(r)
            turns += t
    return analysis_data("bot", WINDOW, rows, turns)


def _check_silent(findings: list[Finding]) -> None:
    # Customers leaving right after a (non-fallback) answer: 9 of 300 (3%) in the baseline,
    # 60 of 300 (20%) now: +17 points, z = 6.7. One journey only: the deployment's finding.
    (f,) = findings
    assert f.kind == "silent_failure"
    assert f.key == ("abandon_after_answer",)
    assert f.baseline is not None
    assert f.current is not None
    assert f.baseline.value == pytest.approx(0.03)
    assert f.current.value == pytest.approx(0.2)
    assert f.scope.journey is None


def _check_gap(findings: list[Finding]) -> None:
    # 8 crypto questions sent on 2 days of the current week: 16 a week, none before; the pet
    # questions are as frequent as in the baseline, so they are no finding.
    (f,) = findings
    assert f.kind == "knowledge_gap"
    assert f.scope.journey == "billing"
    assert f.current is not None
    assert f.current.n == 16
    assert "bitcoin" in f.title


CASES = [
    Case(
        "knowledge_gap",
        "a new topic of 16 a week next to a steady one",
        lambda: gap_data([("billing", CRYPTO, [22, 24]), ("travel", PETS, [22, 24, 2, 4, 9, 11])]),
        _check_gap,
    ),
    Case("degradation", "escalation triples", lambda: escalations(0.10, 0.30), _check_escalation),
    Case("degradation", "stable rates find nothing", lambda: escalations(0.10, 0.11),
         _check_nothing),
    Case("degradation", "an improvement is not a degradation", lambda: escalations(0.3, 0.1),
         lambda fs: _check_nothing([f for f in fs if f.scope.metric == "escalation_rate"])),
    Case("slo_breach", "containment far below target", lambda: slo_data(0.4), _check_slo),
    Case("slo_breach", "on target", lambda: slo_data(0.65), _check_nothing),
    Case("slo_breach", "latency p95 over its target", lambda: latency_target_data(3000.0),
         _check_latency_target),
    Case("slo_breach", "latency p95 within its target", lambda: latency_target_data(1900.0),
         _check_nothing),
    Case("slo_breach", "feature utilisation under its target", lambda: utilisation_data(0.5),
         _check_utilisation_target),
    Case("slo_breach", "feature utilisation on target", lambda: utilisation_data(0.9),
         _check_nothing),
    Case("trend", "escalation up four weeks running",
         lambda: weekly_escalations([0.1, 0.1, 0.12, 0.15, 0.18, 0.22]), _check_trend),
    Case("trend", "launch weeks (before the baseline) are no trend",
         lambda: weekly_escalations([0.1, 0.1, 0.12, 0.15, 0.18, 0.22], window=WINDOW),
         _check_nothing),
    Case("trend", "ups and downs are no trend",
         lambda: weekly_escalations([0.1, 0.14, 0.1, 0.14, 0.18, 0.16]), _check_no_trend),
    Case("trend", "a missed target that does not move", plateau_data, _check_plateau),
    Case("failure_points", "the third answer fails", failure_point_data, _check_failure_point),
    Case("drift", "a new intent with new words", lambda: drift_data(True), _check_drift),
    Case("drift", "the same questions", lambda: drift_data(False), _check_nothing),
    Case("silent_failures", "customers leave after answers", lambda: silent_data(0.2),
         _check_silent),
    Case("silent_failures", "as before", lambda: silent_data(0.03), _check_nothing),
    Case("feed_quality", "a five-hour outage", lambda: feed_data(True), _check_outage),
    Case("feed_quality", "a steady feed", lambda: feed_data(False), _check_nothing),
    Case("feed_quality", "duplicate deliveries", lambda: feed_data(False, 10),
         _check_duplicates),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.detector}: {c.name}")
def test_golden(case: Case) -> None:
    from daytwo.detect import get_detector

    d = get_detector(case.detector)
    found = d.run(case.build())
    assert all(f.detector == case.detector for f in found)
    case.check(found)


# Detectors a domain contributes through the pipeline keep their golden cases with the domain.
ELSEWHERE = {
    "adoption_decline": "tests/adoption/test_detectors.py",
    "adoption_workarounds": "tests/adoption/test_detectors.py",
}


def test_every_detector_has_golden_cases() -> None:
    covered = {c.detector for c in CASES}
    root = Path(__file__).resolve().parents[2]
    for d in detectors():
        if d.id in ELSEWHERE:
            # Their cases call the detector's own calculation.
            assert d.calculate.__name__ in (root / ELSEWHERE[d.id]).read_text(), d.id
            covered.add(d.id)
    missing = [d.id for d in detectors() if d.id not in covered]
    assert not missing, f"detectors without golden cases: {missing}"
