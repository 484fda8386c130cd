"""A change scoped to a segment (a training for one team) measured against the other teams."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from daytwo.backlog import changes
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import ChangeCreate
from daytwo.errors import InputError
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT, SHIP_DAY, START, store_of

TEAMS = {"t1": 0.40, "t2": 0.45, "t3": 0.50, "t4": 0.42}
LIFT = 0.10


def _conversation(
    iid: str, day: int, minute: int, agent: str, team: str, site: str, used: bool
) -> dict[str, Any]:
    """One agent-assist conversation of the ``billing`` journey."""
    at = START + timedelta(days=day, minutes=minute)
    return {
        "id": iid, "deployment": DEPLOYMENT, "started_at": at.isoformat().replace("+00:00", "Z"),
        "journey": "billing", "agent_ref": agent, "segments": {"team": team, "site": site},
        "ai_used": used,
    }  # fmt: skip


def _records(lift_team: str = "t2", lift: float = LIFT, seed: int = 5) -> list[dict[str, Any]]:
    """Agent-assist conversations per day and team; acceptance is the share of conversations
    with the AI used. ``lift_team`` uses it ``lift`` more often from the ship day."""
    rng = np.random.default_rng(seed)
    out = []
    n = 0
    for day in range(40):
        shock = rng.normal(0, 0.02)
        for team, base in TEAMS.items():
            p = base + shock + (lift if team == lift_team and day >= SHIP_DAY else 0.0)
            for k in range(50):
                out.append(_conversation(f"a-{n:06d}", day, 9 * k + 1, f"{team}-agent-{k % 6}",
                                         team, "leeds", bool(rng.random() < p)))  # fmt: skip
                n += 1
    return out


def _training(**kw: object) -> ChangeCreate:
    base: dict[str, object] = {
        "deployment": DEPLOYMENT,
        "kind": "training",
        "title": "Refresher on suggested replies",
        "author": "ops",
        "shipped_at": START + timedelta(days=SHIP_DAY),
        "segments": {"team": ["t2"]},
        "metric": "ai_usage_rate",
        "window_days": 14,
    }
    base.update(kw)
    return ChangeCreate.model_validate(base)


def test_a_training_for_one_team_is_measured_against_the_other_teams(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    events = store_of(_records())
    try:
        change = changes.record_change(ledger, events, _training(), policy, actor="ops")
        assert change.segments == {"team": ["t2"]}
        im = changes.measure_impact(ledger, events, change.id, policy).impact
        assert im is not None
        assert im.treated == ["team=t2"]
        assert im.control == ["team=t1", "team=t3", "team=t4"]
        assert im.verdict == "improved"
        assert im.lo is not None
        assert im.hi is not None
        assert im.lo <= LIFT <= im.hi
        assert im.estimate == pytest.approx(LIFT, abs=0.04)
        # Named controls are used as given.
        named = changes.record_change(
            ledger, events, _training(control_segments={"team": ["t3"]}), policy, actor="ops"
        )
        im = changes.measure_impact(ledger, events, named.id, policy).impact
        assert im is not None
        assert im.control == ["team=t3"]
    finally:
        events.close()


def test_another_change_to_a_team_takes_it_out_of_the_default_control(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    events = store_of(_records())
    try:
        changes.record_change(
            ledger, events,
            _training(title="Config for t4", kind="config", segments={"team": ["t4"]}),
            policy, actor="ops",
        )  # fmt: skip
        change = changes.record_change(ledger, events, _training(), policy, actor="ops")
        im = changes.measure_impact(ledger, events, change.id, policy).impact
        assert im is not None
        assert im.control == ["team=t1", "team=t3"]
    finally:
        events.close()


def test_bad_segment_scopes_store_nothing(ledger: Ledger, policy: BacklogPolicy) -> None:
    events = store_of(_records())
    try:
        with pytest.raises(InputError, match="has no team 't9'"):
            changes.record_change(
                ledger, events, _training(segments={"team": ["t9"]}), policy, actor="ops"
            )
        for bad, message in (
            ({"segments": {"team": ["t1"], "site": ["leeds"]}}, "one segment key"),
            ({"segments": {"team": []}}, "at least one value"),
            ({"control_segments": {"site": ["leeds"]}}, "same key"),
            ({"control_segments": {"team": ["t2"]}}, "both changed and control"),
        ):
            with pytest.raises(ValidationError, match=message):
                _training(**bad)
        assert changes.list_changes(ledger, DEPLOYMENT) == []
    finally:
        events.close()


# Nested scopes, worked by hand. Two sites of two teams, ten conversations per team a day and
# the same count with the AI used every day, so each window's rate is exact (share used):
#   team (site)     before  after   what reached it on the ship day
#   l1 (leeds)       0.4     0.6    training for l1 (+0.2)
#   l2 (leeds)       0.5     0.5    nothing
#   p1 (porto)       0.5     0.4    training for p1 (+0.2) and porto's config (-0.3)
#   p2 (porto)       0.6     0.3    porto's config (-0.3)
# The l1 training against l2 alone: (0.6 - 0.4) - (0.5 - 0.5) = +0.2. The old control (every
# team no other team-scoped change touched: l2 and p2) pooled (0.5 + 0.6) / 2 = 0.55 before and
# (0.5 + 0.3) / 2 = 0.40 after and read +0.2 + 0.15 = +0.35. The p1 training sits inside porto,
# so it is compared within porto, against p2: (0.4 - 0.5) - (0.3 - 0.6) = +0.2. Porto's config,
# without the trained teams on either side: p2 against l2, (0.3 - 0.6) - 0 = -0.3.
NESTED = {
    ("l1", "leeds"): (4, 6),
    ("l2", "leeds"): (5, 5),
    ("p1", "porto"): (5, 4),
    ("p2", "porto"): (6, 3),
}


def _nested_records() -> list[dict[str, Any]]:
    out = []
    for day in range(40):
        for (team, site), (before, after) in NESTED.items():
            used = after if day >= SHIP_DAY else before
            for k in range(10):
                agent = f"{team}-agent-{k % 3}"
                out.append(
                    _conversation(f"n-{len(out):06d}", day, 30 * k + 1, agent, team, site, k < used)
                )
    return out


def test_a_control_leaves_out_what_a_change_to_an_enclosing_or_nested_scope_reached(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    events = store_of(_nested_records())
    try:
        record = changes.record_change
        l1 = record(ledger, events, _training(segments={"team": ["l1"]}), policy, actor="ops")
        p1 = record(ledger, events, _training(segments={"team": ["p1"]}), policy, actor="ops")
        porto = record(
            ledger, events,
            _training(kind="config", title="Porto's suggestions served from another region",
                      segments={"site": ["porto"]}),
            policy, actor="ops",
        )  # fmt: skip
        got = {
            c.id: changes.measure_impact(ledger, events, c.id, policy).impact
            for c in (l1, p1, porto)
        }
        im = got[l1.id]
        assert im is not None
        assert im.control == ["team=l2"]
        assert im.estimate == pytest.approx(0.2)
        assert (im.treated_before, im.treated_after) == (pytest.approx(0.4), pytest.approx(0.6))
        assert (im.control_before, im.control_after) == (pytest.approx(0.5), pytest.approx(0.5))
        assert any("site=porto" in e and "p2" in e for e in im.excluded)
        im = got[p1.id]
        assert im is not None
        assert im.control == ["team=p2"]
        assert im.estimate == pytest.approx(0.2)
        assert any("the conversations outside site=porto" in e for e in im.excluded)
        im = got[porto.id]
        assert im is not None
        assert im.control == ["site=leeds"]
        assert im.estimate == pytest.approx(-0.3)
        assert (im.treated_before, im.treated_after) == (pytest.approx(0.6), pytest.approx(0.3))
        assert (im.control_before, im.control_after) == (pytest.approx(0.5), pytest.approx(0.5))
        assert im.verdict == "regressed"
        # Named controls are the analyst's choice and are used as given: the l1 training against
        # every other team reads the +0.35 worked above.
        named = record(
            ledger, events,
            _training(segments={"team": ["l1"]}, control_segments={"team": ["l2", "p2"]}),
            policy, actor="ops",
        )  # fmt: skip
        im = changes.measure_impact(ledger, events, named.id, policy).impact
        assert im is not None
        assert im.excluded == []
        assert im.estimate == pytest.approx(0.35)
    finally:
        events.close()
