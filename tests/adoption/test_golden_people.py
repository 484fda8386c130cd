"""Golden cases worked by hand: usage after a change, a champion's before and after, a change's
stored verdict leaving out a champion's team, and the champion candidates of a team without one.

One agent a team, one conversation a day of ten suggested replies, the same number used every
day of a window, so every rate below is exact:

    agent (team, site)   before  after (from day 20)   what happened on day 20
    a-l1 (l1, leeds)      0.4     0.6                   a refresher training for l1 (+0.2)
    a-l2 (l2, leeds)      0.5     0.5                   nothing
    a-l3 (l3, leeds)      0.4     0.7                   a champion started in l3 (+0.3)
    a-p1 (p1, porto)      0.6     0.3                   porto's suggestions slowed (-0.3)
    a-p2 (p2, porto)      0.6     0.3                   the same
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from daytwo.adoption import champions
from daytwo.adoption.causes import after_changes
from daytwo.adoption.schemas import ChampionCreate
from daytwo.backlog import changes
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import ChangeCreate
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT, ledger, store_of

__all__ = ["ledger"]  # the backlog's fixture: a migrated ledger with the deployment registered

D0 = datetime(2026, 3, 1, tzinfo=UTC)
ONE_DAY = timedelta(days=1)
DAY = 20
DAYS = 40
AGENTS = {  # agent: (team, site, used of 10 before, after)
    "a-l1": ("l1", "leeds", 4, 6),
    "a-l2": ("l2", "leeds", 5, 5),
    "a-l3": ("l3", "leeds", 4, 7),
    "a-p1": ("p1", "porto", 6, 3),
    "a-p2": ("p2", "porto", 6, 3),
}


def _conversation(agent: str, day: int, used: int, shown: int = 10, **seg: str) -> dict[str, Any]:
    at = D0 + timedelta(days=day, hours=10)
    events = []
    for k in range(shown):
        ts = (at + timedelta(seconds=30 * k)).isoformat()
        events.append({"ts": ts, "feature": "suggested_reply", "action": "shown"})
        action = "accepted" if k < used else "dismissed"
        events.append({"ts": ts, "feature": "suggested_reply", "action": action})
    return {
        "id": f"{agent}-{day}", "deployment": DEPLOYMENT, "started_at": at.isoformat(),
        "journey": "billing", "agent_ref": agent, "segments": seg, "ai_used": used > 0,
        "assist_events": events,
    }  # fmt: skip


@pytest.fixture
def floor() -> Iterator[EventStore]:
    store = store_of(
        [
            _conversation(a, d, after if d >= DAY else before, team=team, site=site)
            for a, (team, site, before, after) in AGENTS.items()
            for d in range(DAYS)
        ]
    )
    yield store
    store.close()


def _change(**kw: Any) -> ChangeCreate:
    return ChangeCreate.model_validate(
        {
            "deployment": DEPLOYMENT,
            "author": "ops",
            "shipped_at": D0 + timedelta(days=DAY),
            "metric": "suggestion_acceptance_rate",
            **kw,
        }
    )


def test_usage_after_a_change_and_a_champions_before_and_after(
    ledger: Ledger, floor: EventStore
) -> None:
    policy = BacklogPolicy()
    for spec in (
        _change(kind="training", title="Refresher for l1", segments={"team": ["l1"]}),
        _change(kind="config", title="Porto served from afar", segments={"site": ["porto"]}),
    ):
        changes.record_change(ledger, floor, spec, policy, actor="ops")
    started = D0 + timedelta(days=DAY)
    champions.add_champion(
        ledger, floor, ChampionCreate(deployment=DEPLOYMENT, agent_ref="a-l3", started_at=started),
        actor="ops",
    )  # fmt: skip
    got = {
        c.title: c
        for c in after_changes(ledger, floor, DEPLOYMENT, policy, D0 + timedelta(days=DAYS))
    }
    # The training against l2 alone (porto's teams are out: their site changed; l3 is out: its
    # champion started): (0.6 - 0.4) - (0.5 - 0.5) = +0.2. Against every other team, as the
    # control once was, it read (0.6 - 0.4) - ((0.5 + 0.7 + 0.3 + 0.3) / 4 - (0.5 + 0.4 + 0.6
    # + 0.6) / 4) = 0.2 - (0.45 - 0.525) = +0.275.
    training = got["Refresher for l1"]
    assert training.estimate == pytest.approx(0.2)
    assert training.verdict == "improved"
    assert not training.fell
    # Porto against leeds without l1 (trained) and l3 (its champion): (0.3 - 0.6) - 0 = -0.3,
    # the fall signal 4 reports.
    porto = got["Porto served from afar"]
    assert porto.estimate == pytest.approx(-0.3)
    assert porto.fell
    assert "-30.0 points" in porto.sentence()
    # The champion's team against the teams without one that no change reached (l2):
    # (0.7 - 0.4) - (0.5 - 0.5) = +0.3, with l1, p1 and p2 left out and said so.
    effect = champions.effect(
        ledger, floor, DEPLOYMENT, champions.list_champions(ledger, DEPLOYMENT)
    )
    assert effect.teams_with == ["l3"]
    assert effect.left_out == ["l1", "p1", "p2"]
    assert effect.teams_without == 1
    assert (effect.treated_before, effect.treated_after) == (pytest.approx(0.4), pytest.approx(0.7))
    assert (effect.control_before, effect.control_after) == (pytest.approx(0.5), pytest.approx(0.5))
    assert effect.estimate == pytest.approx(0.3)
    # Without leaving them out, the teams without a champion pool to (0.4 + 0.5 + 0.6 + 0.6) / 4
    # = 0.525 before and (0.6 + 0.5 + 0.3 + 0.3) / 4 = 0.425 after: +0.3 + 0.1 = +0.4.
    plain = champions.champion_effect(
        floor, DEPLOYMENT, champions.list_champions(ledger, DEPLOYMENT)
    )
    assert plain.estimate == pytest.approx(0.4)


def test_champion_candidates_of_a_team_without_one() -> None:
    """Team c (no champion) over the last four weeks, with twelve agents elsewhere at 0.5 each
    week. Per week the top quarter starts at the 0.75 quantile of every agent's acceptance:
    with 12 agents at 0.5 and team c's four (below), that quantile is 0.5 or more, so an agent is
    high in a week when at or above it.

        agent  tenure   weekly acceptance        weeks high  candidate?
        c-a    2y+      0.9 0.9 0.9 0.9          4           yes: 4 + 0.9 = 4.9
        c-b    1-2y     0.8 0.8 0.8 0.2          3           yes: 3 + 0.65 = 3.65
        c-c    2y+      0.8 0.8 0.2 0.2          2           no: not most weeks
        c-n    0-6m     0.9 0.9 0.9 0.9          4           no: in the newest band
    """
    weeks = {"c-a": [9, 9, 9, 9], "c-b": [8, 8, 8, 2], "c-c": [8, 8, 2, 2], "c-n": [9, 9, 9, 9]}
    tenure = {"c-a": "2y+", "c-b": "1-2y", "c-c": "2y+", "c-n": "0-6m"}
    start = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday: four whole weeks
    records = []
    for w in range(4):
        for d in range(7):
            day = 1 + 7 * w + d  # days from D0 (a Sunday)
            for a, per_week in weeks.items():
                records.append(
                    _conversation(a, day, per_week[w], team="c", site="cork", tenure=tenure[a])
                )
            for k in range(12):
                records.append(_conversation(f"o-{k}", day, 5, team="o", site="cork", tenure="2y+"))
    store = store_of(records)
    try:
        end = start + timedelta(weeks=4)
        found = champions.candidates(store, DEPLOYMENT, end, ["c"])["c"]
        assert [c.agent_ref for c in found] == ["c-a", "c-b"]
        assert [c.weeks_high for c in found] == [4, 3]
        assert found[0].acceptance == pytest.approx(0.9)
        assert found[1].acceptance == pytest.approx(0.65)
        assert [c.score for c in found] == [pytest.approx(4.9), pytest.approx(3.65)]
    finally:
        store.close()


def test_a_changes_stored_verdict_leaves_out_the_team_whose_champion_started_in_its_windows(
    ledger: Ledger, floor: EventStore
) -> None:
    """The training for l1 measured and stored by the backlog (its verdict, its items), on
    acceptance, in 20-day windows around day 20, with every other team as its default control:

        l2 0.5 -> 0.5, l3 0.4 -> 0.7 (its champion started on day 20), p1, p2 0.6 -> 0.3

    Left in, l3 pools with the others to (0.5 + 0.4 + 0.6 + 0.6) / 4 = 0.525 before and
    (0.5 + 0.7 + 0.3 + 0.3) / 4 = 0.45 after: (0.6 - 0.4) - (0.45 - 0.525) = +0.275.
    Left out (the champion lifts l3 over their first 21 days, which meet the windows), the
    control is l2, p1, p2: 0.5667 before, 0.3667 after: 0.2 - (-0.2) = +0.4, with l3 listed
    among what was left out and why. (Porto's fall was not recorded as a change: it stays in
    the control, which is what a recorded change would have fixed.)"""
    policy = BacklogPolicy()
    spec = _change(
        kind="training", title="Refresher for l1", segments={"team": ["l1"]}, window_days=20
    )
    training = changes.record_change(ledger, floor, spec, policy, actor="ops")
    measured = changes.measure_impact(ledger, floor, training.id, policy)
    assert measured.impact is not None
    assert measured.impact.estimate == pytest.approx(0.275)
    assert measured.impact.excluded == []
    champions.add_champion(
        ledger, floor,
        ChampionCreate(deployment=DEPLOYMENT, agent_ref="a-l3", started_at=D0 + DAY * ONE_DAY),
        actor="ops",
    )  # fmt: skip
    measured = changes.measure_impact(ledger, floor, training.id, policy)
    impact = measured.impact
    assert impact is not None
    assert impact.control == ["team=l2", "team=p1", "team=p2"]
    assert impact.estimate == pytest.approx(0.4)
    assert impact.verdict == "improved"
    assert len(impact.excluded) == 1
    assert impact.excluded[0].startswith("l3: ")
    assert "champion who started on 21 Mar 2026" in impact.excluded[0]
    assert changes.get_change(ledger, training.id).impact == impact  # stored with the verdict


def test_a_champion_whose_first_weeks_end_before_the_windows_is_not_left_out(
    ledger: Ledger, floor: EventStore
) -> None:
    """A champion who started in l3 long before (their 21 days over before the before-window
    of days 10-20 opens) lifts nothing the change's windows see: l3 stays in the control, and
    the estimate is the plain one of 10-day windows, (0.6 - 0.4) - ((0.5 + 0.7 + 0.3 + 0.3) / 4
    - (0.5 + 0.4 + 0.6 + 0.6) / 4) = +0.275."""
    policy = BacklogPolicy()
    champions.add_champion(
        ledger, floor,
        ChampionCreate(deployment=DEPLOYMENT, agent_ref="a-l3", started_at=D0 - 15 * ONE_DAY),
        actor="ops",
    )  # fmt: skip
    spec = _change(
        kind="training", title="Refresher for l1", segments={"team": ["l1"]}, window_days=10
    )
    training = changes.record_change(ledger, floor, spec, policy, actor="ops")
    impact = changes.measure_impact(ledger, floor, training.id, policy).impact
    assert impact is not None
    assert impact.excluded == []
    assert impact.estimate == pytest.approx(0.275)
