"""The ``knowledge_gap`` detector on hand-made data: new or growing gaps become findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from daytwo.detect.data import AnalysisData, Window, analysis_data
from daytwo.detect.findings import Severity
from daytwo.detect.gaps.emerging import (
    KnowledgeGapParams,
    emerged,
    growth_p_value,
    knowledge_gap_findings,
)
from tests.detect.gaps.data import CRYPTO, KNOWN, PETS, SOLAR

D0 = datetime(2026, 3, 1, tzinfo=UTC)
# Baseline: days 0-13; current: days 21-27.
WINDOW = Window(D0, D0 + timedelta(days=14), D0 + timedelta(days=21), D0 + timedelta(days=28))


def build(groups: list[tuple[str, list[str], list[float]]]) -> AnalysisData:
    """Each group: a journey, its texts, and the days on which each text is sent once."""
    inters: list[dict[str, object]] = []
    turns: list[dict[str, object]] = []
    n = 0
    for journey, texts, days in groups:
        fell = journey != "account"
        for day in days:
            for text in texts:
                iid = f"i{n:05d}"
                n += 1
                inters.append(
                    {
                        "interaction_id": iid,
                        "started_at": D0 + timedelta(days=day, minutes=n),
                        "journey": journey,
                        "customer_ref": f"u{n % 7}",
                        "outcome": "escalated" if fell else "contained",
                    }
                )
                turns.append({"interaction_id": iid, "seq": 0, "role": "user", "text": text})
                turns.append(
                    {
                        "interaction_id": iid,
                        "seq": 1,
                        "role": "assistant",
                        "text": "…",
                        "intent": "fallback" if fell else "reset_password",
                        "confidence": 0.1 if fell else 0.95,
                        "fallback": fell,
                    }
                )
    return analysis_data("care-bot", WINDOW, inters, turns)


def test_a_new_gap_is_a_finding_and_a_steady_or_small_one_is_not() -> None:
    data = build(
        [
            # New this week: 8 texts x 2 days = 16 a week, none in the baseline.
            ("billing", CRYPTO, [22, 24]),
            # Steady: 16 in the current week, 32 over the two baseline weeks.
            ("travel", PETS, [22, 24, 2, 4, 9, 11]),
            # New but small: 8 this week, under 10 a week.
            ("energy", SOLAR, [23]),
            # Handled well: never a candidate.
            ("account", KNOWN["reset_password"], [1, 22, 23]),
        ]
    )
    found = knowledge_gap_findings(data, KnowledgeGapParams())
    assert len(found) == 1
    [f] = found
    assert f.kind == "knowledge_gap"
    assert "bitcoin" in f.title
    assert f.scope.journey == "billing"
    assert f.current is not None
    assert f.current.n == 16
    assert f.current.value == 16.0
    assert f.baseline is not None
    assert (f.baseline.value, f.baseline.n) == (0.0, 0)
    assert f.severity == Severity.low
    assert len(f.evidence) == 16
    assert f.impact.interactions_per_week == 16.0
    assert f.details["gap_kind"] == "new_intent"
    assert "bitcoin" in f.key[0]


def test_the_same_topic_seen_again_has_the_same_fingerprint() -> None:
    first = knowledge_gap_findings(build([("billing", CRYPTO, [22, 24])]), KnowledgeGapParams())
    again = knowledge_gap_findings(build([("billing", CRYPTO, [21, 23, 26])]), KnowledgeGapParams())
    assert [f.fingerprint for f in first] == [f.fingerprint for f in again]


def test_a_gap_is_first_seen_when_its_questions_came_in_numbers() -> None:
    # One of the gap's questions was asked once, three weeks before the 16 a week began: the
    # gap holds it, but the problem began on day 22, not on day 2.
    data = build([("billing", CRYPTO[:1], [2]), ("billing", CRYPTO, [22, 24])])
    [f] = knowledge_gap_findings(data, KnowledgeGapParams())
    assert f.baseline is not None
    assert f.baseline.n == 1  # the early question is the gap's
    assert f.first_seen.date() == (D0 + timedelta(days=22)).date()


def _asked(hours: list[float]) -> tuple[np.ndarray, np.ndarray]:
    at = np.array(
        [
            np.datetime64(D0.replace(tzinfo=None), "us") + np.timedelta64(int(h * 3600), "s")
            for h in hours
        ]
    )
    return at, np.array([f"c{i}" for i in range(len(hours))], dtype=object)


def test_an_odd_question_days_before_the_surge_does_not_date_the_gap() -> None:
    # One question on day 10 at noon, then from day 13 four conversations a day: the seven
    # days after the odd question hold the surge's first days, but the day after it holds no
    # other question, so the gap began on day 13.
    surge = [24 * (13 + d) + h for d in range(7) for h in (1, 7, 13, 19)]
    started, conversations = _asked([24 * 10 + 12, *surge])
    assert emerged(started, conversations, 10.0) == D0 + timedelta(days=13, hours=1)


def test_a_question_a_few_hours_before_the_surge_dates_it_at_most_a_day_early() -> None:
    surge = [24 * (13 + d) + h for d in range(7) for h in (1, 7, 13, 19)]
    started, conversations = _asked([24 * 12 + 20, *surge])
    assert emerged(started, conversations, 10.0) == D0 + timedelta(days=12, hours=20)


def test_two_odd_questions_within_a_day_before_the_surge_do_not_date_the_gap() -> None:
    # Two odd questions within a day (day 10 at 08:00, day 11 at 07:00), then from day 13 four
    # conversations a day: the day after the first holds two of them and its week the surge's
    # first days, but the two days after it hold no more, so the gap began on day 13.
    surge = [24 * (13 + d) + h for d in range(7) for h in (1, 7, 13, 19)]
    started, conversations = _asked([24 * 10 + 8, 24 * 11 + 7, *surge])
    assert emerged(started, conversations, 10.0) == D0 + timedelta(days=13, hours=1)


def test_a_rise_that_never_keeps_the_pace_is_dated_from_its_first_full_day() -> None:
    # Two on day 13, one on each of days 14 and 15, six on day 16 and none after: no question
    # is followed day after day at two a day, so the first whose day holds two and whose week
    # the weekly minimum dates it.
    hours = [24 * 13 + 1, 24 * 13 + 7, 24 * 14 + 3, 24 * 15 + 3, *(24 * 16 + h for h in range(6))]
    started, conversations = _asked(hours)
    assert emerged(started, conversations, 10.0) == D0 + timedelta(days=13, hours=1)


def test_one_conversation_asking_again_is_not_a_day_of_questions() -> None:
    # The odd question asked three times in one conversation counts once.
    surge = [24 * (13 + d) + h for d in range(7) for h in (1, 7, 13, 19)]
    started, conversations = _asked([24 * 10 + 12, 24 * 10 + 12.1, 24 * 10 + 12.2, *surge])
    conversations[1] = conversations[2] = conversations[0]
    assert emerged(started, conversations, 10.0) == D0 + timedelta(days=13, hours=1)


def test_no_candidates_no_findings() -> None:
    data = build([("account", KNOWN["reset_password"], [22, 23])])
    assert knowledge_gap_findings(data, KnowledgeGapParams()) == []


def test_growth_that_chance_explains_is_not_a_finding() -> None:
    # 16 this week against 16 over the two baseline weeks: double the weekly rate, but 16 or
    # more of 32 land in a third of the days by chance 3.8% of the time: not a finding. The
    # same topic with nothing before is.
    steady = build([("billing", CRYPTO, [22, 24, 3, 10])])
    assert knowledge_gap_findings(steady, KnowledgeGapParams()) == []
    [new] = knowledge_gap_findings(build([("billing", CRYPTO, [22, 24])]), KnowledgeGapParams())
    assert new.details["p_value"] < 1e-7


def test_growth_p_value_golden() -> None:
    # P(X >= k) for X ~ Binomial(current + baseline, 7 / 21), checked against the closed form.
    assert growth_p_value(16, 0, 7, 14) == pytest.approx((1 / 3) ** 16)
    assert growth_p_value(16, 16, 7, 14) == pytest.approx(0.0376533, rel=1e-5)
    assert growth_p_value(0, 5, 7, 14) == 1.0
    assert growth_p_value(0, 0, 7, 14) == 1.0
