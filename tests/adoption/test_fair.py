"""Golden cases of the like-for-like comparison, each worked out by hand in its comment."""

from __future__ import annotations

import numpy as np
import pytest

from daytwo.adoption.fair import Rows, codes, selection_sentence, standardised_gap


def _rows() -> Rows:
    # Two strata (0: new agents, 1: experienced). One row per agent, num/den = used/offered.
    # Focus (the pilot): 1 agent in s0 at 4/10, 9 agents in s1 at 9/10 each.
    # Other (the rollout): 9 agents in s0 at 3/10, 1 agent in s1 at 7/10.
    focus = [True] * 10 + [False] * 10
    stratum = [0] + [1] * 9 + [0] * 9 + [1]
    num = [4] + [9] * 9 + [3] * 9 + [7]
    return Rows.of(focus, stratum, list(range(20)), num, [10] * 20)


def test_naive_and_like_for_like_gap_by_hand() -> None:
    # Naive: focus 85/100 = 0.85, other 34/100 = 0.34 -> 0.51.
    # Like for like, the focus mix (0.1, 0.9): 0.1 * (0.4 - 0.3) + 0.9 * (0.9 - 0.7) = 0.19;
    # the other's standardised value 0.1 * 0.3 + 0.9 * 0.7 = 0.66. Selection: (0.51 - 0.19) /
    # 0.51 = 62.7% of the naive gap is who was in each group.
    g = standardised_gap(_rows(), resamples=400, seed=1)
    assert g.naive == pytest.approx(0.51)
    assert g.adjusted == pytest.approx(0.19)
    assert g.other_standardised == pytest.approx(0.66)
    assert g.selection_share == pytest.approx(0.32 / 0.51)
    assert g.relative == pytest.approx(0.19 / 0.66)
    assert g.coverage == 1.0
    assert (g.strata, g.focus_clusters, g.other_clusters) == (2, 10, 10)
    assert g.lo <= g.adjusted <= g.hi
    assert g.naive_lo <= g.naive <= g.naive_hi


def test_the_other_group_as_the_standard() -> None:
    # Other mix (0.9, 0.1): 0.9 * 0.1 + 0.1 * 0.2 = 0.11.
    g = standardised_gap(_rows(), standard="other", resamples=200)
    assert g.adjusted == pytest.approx(0.11)


def test_strata_one_group_lacks_are_left_out_and_said_so() -> None:
    # Add a focus agent in stratum 2 (10 offered) that the other group never reaches:
    # coverage = 100 / 110 of the focus weight.
    r = _rows()
    extra = Rows.of(
        np.append(r.focus, True), np.append(r.stratum, 2), np.append(r.cluster, 20),
        np.append(r.num, 10), np.append(r.den, 10),
    )  # fmt: skip
    g = standardised_gap(extra, resamples=200)
    assert g.coverage == pytest.approx(100 / 110)
    assert g.adjusted == pytest.approx(0.19)
    assert g.strata == 2


def test_means_are_compared_the_same_way() -> None:
    # Handle time (den = 1 per conversation). AI used (focus) in stratum 0: 100 s, 200 s;
    # stratum 1: 300 s. Legacy: stratum 0: 200 s; stratum 1: 400 s, 400 s.
    # Focus weights (2/3, 1/3): 2/3 * (150 - 200) + 1/3 * (300 - 400) = -66.7 s.
    rows = Rows.of(
        [True, True, True, False, False, False],
        [0, 0, 1, 0, 1, 1],
        [0, 1, 2, 3, 4, 5],
        [100, 200, 300, 200, 400, 400],
    )
    g = standardised_gap(rows, resamples=200)
    assert g.naive == pytest.approx(200 - 1000 / 3)
    assert g.adjusted == pytest.approx(-200 / 3)
    assert g.other_standardised == pytest.approx(2 / 3 * 200 + 1 / 3 * 400)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="both groups"):
        standardised_gap(Rows.of([True, True], [0, 0], [0, 1], [1, 1]))
    with pytest.raises(ValueError, match="same length"):
        Rows.of([True], [0, 1], [0], [1])
    with pytest.raises(ValueError, match="resamples"):
        standardised_gap(_rows(), resamples=10)


def test_codes_and_the_sentence() -> None:
    c, keys = codes(["a", "b", "a"], [1, 1, 1])
    assert c.tolist() == [0, 1, 0]
    assert keys == [("a", 1), ("b", 1)]
    g = standardised_gap(_rows(), resamples=200, seed=3)
    text = selection_sentence(
        g, "Acceptance", lambda v: f"{v * 100:+.1f} points", "pilot", "rollout"
    )
    assert text.startswith(
        "Acceptance: the pilot is +51.0 points against the rollout; like for like +19.0 points ("
    )
    assert text.endswith("about 63% of the naive gap is who was in each group.")


def test_paired_clusters_are_drawn_once_for_both_groups() -> None:
    # Agents 0-2 each have conversations with the AI (focus) and without (other), one
    # stratum: 100 vs 120 s, 200 vs 230 s, 300 vs 330 s. The gap is -80/3 s whatever the draw.
    # Drawn once for both groups, every resample keeps each agent's pair together, and the
    # interval is narrower than drawing the groups apart (which mixes agents' levels).
    rows = Rows.of(
        [True, True, True, False, False, False],
        [0] * 6,
        [0, 1, 2, 0, 1, 2],
        [100, 200, 300, 120, 230, 330],
    )
    paired = standardised_gap(rows, paired=True, resamples=500, seed=2)
    apart = standardised_gap(rows, resamples=500, seed=2)
    assert paired.adjusted == pytest.approx(-80 / 3)
    assert (paired.focus_clusters, paired.other_clusters) == (3, 3)
    assert paired.hi - paired.lo < apart.hi - apart.lo
    assert -30 <= paired.lo <= paired.hi <= -20
