"""The pure parts of the ``no_emerging_gap`` check (``plan/gap_calc.py``), by hand: the words
of a question, the test of a word's rate, Tarone's count of the tests. The check end to end is
in ``test_criteria.py``."""

from __future__ import annotations

import pytest

from daytwo.plan import gap_calc


def test_words_and_the_test_by_hand() -> None:
    assert gap_calc.words("How do I set up Direct-Deposit for 2026?") == {
        "set",
        "direct",
        "deposit",
    }
    # One day of 10 conversations after 90 before: 3 of 3 uses there, p = 0.1 ** 3.
    scan = gap_calc.emerging_words(
        [gap_calc.Counts(10, {"w2": 3, "card": 1})],
        gap_calc.Counts(90, {"card": 9}),
        alpha=0.01,
    )
    assert [w.word for w in scan.emerging] == ["w2"]
    assert scan.emerging[0].p_value == pytest.approx(0.001)
    # Tarone: "card" (10 in all) and "w2" (3) could each reach 0.01 / 2; so 2 tests.
    assert scan.tests == 2
    assert scan.threshold == pytest.approx(0.005)
    # The same counts at the rate before: nothing emerges.
    none = gap_calc.emerging_words(
        [gap_calc.Counts(10, {"card": 1})], gap_calc.Counts(90, {"card": 9})
    )
    assert none.emerging == ()
    assert none.strongest is not None


def test_tarone_counts_only_the_tests_that_could_pass() -> None:
    # Smallest possible p-values: two could reach 0.01 / 2, the third never can.
    assert gap_calc.tarone_tests([1e-4, 1e-3, 0.5], alpha=0.01) == 2
    assert gap_calc.tarone_tests([0.5], alpha=0.01) == 1


def test_the_p_values_in_one_call_are_the_single_tests() -> None:
    # The scan computes every (word, days) pair's p-value at once: each equals the one test.
    from daytwo.detect.stats import two_poisson_rates_sf, two_poisson_rates_sf_many

    cases = [(0, 5, 0.2), (3, 0, 0.1), (6, 2, 46 / 346), (40, 300, 0.05), (1, 0, 0.5)]
    many = two_poisson_rates_sf_many(*(list(col) for col in zip(*cases, strict=True)))
    assert many.tolist() == [two_poisson_rates_sf(n, b, s) for n, b, s in cases]
    before = gap_calc.Counts(300, {"card": 40, "refund": 12})
    days = [
        gap_calc.Counts(23, {"deposit": 3, "card": 2}),
        gap_calc.Counts(23, {"deposit": 3, "refund": 1}),
    ]
    scan = gap_calc.emerging_words(days, before)
    for w in (*scan.emerging, scan.strongest):
        assert w is not None
        span = sum(d.conversations for d in days[: w.days])
        assert w.p_value == gap_calc.p_value(w.now, w.before, span / (span + 300))
