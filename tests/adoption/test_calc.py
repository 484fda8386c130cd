"""Golden cases of the who-stopped estimators: each worked out by hand in its comment."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from daytwo.adoption.calc import (
    AgentDays,
    DeclineParams,
    Flags,
    GroupRise,
    StopParams,
    agent_tests,
    group_declines,
    nest,
    onset_day,
    rising_groups,
)
from daytwo.adoption.wording import (
    feature_label,
    group_phrase,
    newest_band_phrase,
    stopped_sentence,
)

P = StopParams()


def _days(
    agent: int, first: int, rows: Sequence[tuple[float, float]]
) -> list[tuple[int, int, float, float]]:
    return [(agent, first + k, o, u) for k, (o, u) in enumerate(rows)]


def _data(*parts: list[tuple[int, int, float, float]], n_agents: int = 4) -> AgentDays:
    rows = [r for part in parts for r in part]
    a, d, o, u = zip(*rows, strict=True)
    return AgentDays.of(a, d, o, u, n_agents)


def test_a_fall_from_ones_own_baseline_is_tested_and_counted() -> None:
    # Baseline days 0-27, current 28-41. Agent 0 used 5 of 10 a day, then 1 of 10:
    # pb = 140/280 = 0.5, pc = 14/140 = 0.1, pooled = 154/420 = 0.3667, dispersion 1 (every
    # baseline day exactly at the mean), se = sqrt(0.3667 * 0.6333 * (1/280 + 1/140)) = 0.04988,
    # z = 0.4 / 0.04988 = 8.02. Agent 1 keeps 5 of 10: z = 0, not flagged.
    data = _data(
        _days(0, 0, [(10, 5)] * 28 + [(10, 1)] * 14),
        _days(1, 0, [(10, 5)] * 42),
    )
    t = agent_tests(data, 28, P)
    assert t.baseline_rate[0] == pytest.approx(0.5)
    assert t.current_rate[0] == pytest.approx(0.1)
    assert t.z[0] == pytest.approx(0.4 / math.sqrt(154 / 420 * 266 / 420 * (1 / 280 + 1 / 140)))
    assert t.z[0] == pytest.approx(8.02, abs=0.01)
    assert t.fell.tolist()[:2] == [True, False]
    assert t.stopped.tolist()[:2] == [False, False]
    assert t.dispersion[0] == 1.0


def test_day_to_day_swings_widen_the_test() -> None:
    # Baseline alternates 0 and 10 used of 10: pb = 0.5, each day contributes
    # (5 - 0)^2 / 2.5 = 10 to chi-square: 280 over 27 degrees of freedom, dispersion 10.37. The
    # same current fall as above (1 of 10) is then z = 8.02 / sqrt(10.37) = 2.49; alone among
    # agents (BH with one test at 0.05) it still counts, but with a fifth of the evidence.
    data = _data(_days(0, 0, [(10, 0), (10, 10)] * 14 + [(10, 1)] * 14), n_agents=1)
    t = agent_tests(data, 28, P)
    assert t.dispersion[0] == pytest.approx(280 / 27)
    assert t.z[0] == pytest.approx(8.02 / math.sqrt(280 / 27), abs=0.01)
    assert bool(t.fell[0])


def test_a_small_fall_is_not_a_fall() -> None:
    # 5 of 10, then 4.5 of 10 every day (a tenth less): significant over 280 vs 140 offers?
    # z = 0.05 / 0.0515 = 0.97: no. And even a significant 10% fall is below the 25% floor.
    data = _data(_days(0, 0, [(10, 5)] * 28 + [(10, 4.5)] * 14), n_agents=1)
    assert not agent_tests(data, 28, P).fell[0]
    big = _data(_days(0, 0, [(1000, 500)] * 28 + [(1000, 450)] * 14), n_agents=1)
    t = agent_tests(big, 28, P)
    assert t.z[0] > 5
    assert not t.fell[0]


def test_stopped_means_no_use_on_the_last_working_days_against_the_odds() -> None:
    # Agent 2 used 5 of 10 in the baseline; in the current window 9 days as before, then 5
    # working days with 10 offers and no use: P = 0.5^50, far below 0.001 -> stopped, since
    # day 37 (the first of the five). Days without offers (38, a weekend) do not break the run.
    # Agent 3 used 1 of 10 (0.1): 0.9^10 per day, 0.9^50 = 0.005 > 0.001 -> not stopped.
    current = [(10, 5)] * 9 + [(10, 0)] * 5
    data = _data(
        _days(2, 0, [(10, 5)] * 28 + current),
        _days(3, 0, [(10, 1)] * 28 + [(10, 1)] * 9 + [(10, 0)] * 5),
    )
    t = agent_tests(data, 28, P)
    assert bool(t.stopped[2])
    assert int(t.stopped_since[2]) == 28 + 9
    assert not t.stopped[3]
    assert int(t.stopped_since[3]) == -1


def test_an_agent_with_too_little_history_is_not_tested() -> None:
    # 1 offer a day in the baseline: 28 < 40 offers -> not eligible, never flagged.
    data = _data(_days(0, 0, [(1, 1)] * 28 + [(10, 0)] * 14), n_agents=1)
    t = agent_tests(data, 28, P)
    assert not t.eligible[0]
    assert not t.fell[0]
    assert not t.stopped[0]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and offered"):
        AgentDays.of([0], [0], [1], [2])
    with pytest.raises(ValueError, match="stop_days"):
        StopParams(stop_days=20)


def _flags(eligible: list[bool], fell: list[bool], stopped: list[bool]) -> Flags:
    return Flags(np.array(eligible), np.array(fell), np.array(stopped))


def test_groups_where_the_share_of_agents_who_stopped_rises() -> None:
    # 20 agents at porto, 20 at leeds. Before: 1 flagged at porto, 1 at leeds. Now: 12 at porto
    # (5 stopped), 2 at leeds. Porto: 1/20 -> 12/20, z = 3.97 (pooled 13/40), p = 3.6e-5;
    # leeds: only 2 flagged now (< 5 agents): not even tested.
    n = 40
    site = ["porto"] * 20 + ["leeds"] * 20
    before_fell = [i in (0, 20) for i in range(n)]
    now_fell = [i < 7 or i in (20, 21) for i in range(n)]
    now_stopped = [7 <= i < 12 for i in range(n)]
    newest = np.array([i < 9 for i in range(n)])
    rises = rising_groups(
        {"site": site},
        _flags([True] * n, now_fell, now_stopped),
        _flags([True] * n, before_fell, [False] * n),
        newest,
        P,
    )
    assert len(rises) == 1
    r = rises[0]
    assert (r.key, r.value, r.flagged, r.agents, r.stopped, r.newest) == (
        "site",
        "porto",
        12,
        20,
        5,
        9,
    )
    pooled = 13 / 40
    assert r.z == pytest.approx((12 / 20 - 1 / 20) / math.sqrt(pooled * (1 - pooled) * (2 / 20)))
    assert r.members == tuple(range(12))


def test_a_group_already_this_way_before_does_not_rise() -> None:
    # 10 of 20 flagged before and now: share unchanged, nothing to report.
    n = 20
    flagged = [i < 10 for i in range(n)]
    rises = rising_groups(
        {"site": ["porto"] * n},
        _flags([True] * n, flagged, [False] * n),
        _flags([True] * n, flagged, [False] * n),
        np.zeros(n, dtype=bool),
        P,
    )
    assert rises == []


def test_the_sentence_an_owner_reads() -> None:
    r = GroupRise("site", "porto", 60, 23, 8, 60, 2, 5.0, 1e-7, 17)
    assert stopped_sentence(r, "suggested_reply", 21, "0-6m") == (
        "23 agents at porto stopped or sharply cut their use of suggested replies in the last "
        "3 weeks (8 stopped altogether); 17 of them are in their first 6 months."
    )
    all_stopped = GroupRise("team", "cork-2", 10, 6, 6, 10, 0, 4.0, 1e-5, 0)
    assert stopped_sentence(all_stopped, "summary", 10, "0-6m") == (
        "6 agents in team cork-2 stopped using summaries in the last 10 days."
    )
    assert newest_band_phrase("0-1y") == "in their first 1 year"
    assert newest_band_phrase("new starters") == "in tenure band new starters"
    assert group_phrase("tenure", "2y+") == "with tenure 2y+"
    assert feature_label("macro_fill") == "macro fill"


def test_a_group_whose_use_fell_from_its_own_recent_past() -> None:
    # 31 days, two groups, 100 offered a day. Group 0 used 50 a day, then 30 a day for the last
    # 3 days: window 3: base 28 days 1400/2800 = 0.5, current 90/300 = 0.3; dispersion 1 (every
    # day at the mean); pooled 1490/3100 = 0.4806, se = sqrt(.4806 * .5194 * (1/2800 + 1/300))
    # = 0.03030, z = 0.2 / 0.0303 = 6.60. Group 1 stays at 50: nothing.
    offered = np.full((2, 31), 100.0)
    used = np.full((2, 31), 50.0)
    used[0, 28:] = 30
    found = group_declines(offered, used, DeclineParams(windows=(3,)))
    assert len(found) == 1
    d = found[0]
    assert (d.group, d.window, d.baseline_rate, d.current_rate) == (0, 3, 0.5, 0.3)
    pooled = 1490 / 3100
    assert d.z == pytest.approx(0.2 / math.sqrt(pooled * (1 - pooled) * (1 / 2800 + 1 / 300)))
    assert d.onset == 28


def test_a_small_or_noisy_fall_is_not_a_decline() -> None:
    # 50 -> 48 a day: a 2-point fall, under the 3-point floor even where significant.
    offered = np.full((1, 35), 10_000.0)
    used = np.full((1, 35), 5_000.0)
    used[0, 28:] = 4_800
    assert group_declines(offered, used, DeclineParams()) == []
    # Baseline days swinging 20 <-> 80 of 100: dispersion 720/27 = 26.7 scales the variance,
    # and the same fall to 30 a day for 3 days is no longer a discovery (z = 6.6 / 5.2 = 1.28).
    offered = np.full((1, 31), 100.0)
    used = np.tile([20.0, 80.0], 16)[:31].reshape(1, 31)
    used[0, 28:] = 30
    assert group_declines(offered, used, DeclineParams(windows=(3,))) == []


def test_onset_is_the_best_split() -> None:
    offered = np.full(20, 100.0)
    used = np.array([50.0] * 12 + [20.0] * 8)
    assert onset_day(offered, used, 1, 19) == 12


def test_a_rise_explained_by_a_larger_one() -> None:
    # Porto: 12 agents flagged (0-11). Team porto-2: 5 of them (0-4), all inside porto.
    # Tenure 2y+: 6 flagged, 5 at porto (0, 1, 5, 6, 7) and one elsewhere (20): 1 < 5 outside.
    # Leeds: 6 flagged (20-25), none at porto: on its own.
    porto = GroupRise("site", "porto", 20, 12, 0, 20, 1, 4.0, 1e-5, 0, tuple(range(12)))
    team = GroupRise("team", "porto-2", 6, 5, 0, 6, 0, 3.0, 1e-3, 0, (0, 1, 2, 3, 4))
    band = GroupRise("tenure", "2y+", 30, 6, 0, 30, 0, 3.0, 1e-3, 0, (0, 1, 5, 6, 7, 20))
    leeds = GroupRise("site", "leeds", 20, 6, 0, 20, 0, 3.0, 1e-3, 0, tuple(range(20, 26)))
    everyone = GroupRise("deployment", "d", 60, 18, 0, 60, 1, 5.0, 1e-6, 0, tuple(range(18)))
    assert nest([porto, team, band, leeds, everyone], 5) == [None, 0, 0, None, None]
