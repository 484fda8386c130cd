"""The adoption detectors on small, exact histories: what each finds, and what it leaves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from daytwo.adoption.detectors import (
    DeclineDetectorParams,
    WorkaroundParams,
    detect_adoption_decline,
    detect_adoption_workarounds,
)
from tests.adoption.data import D0, DAYS, SITES, History, stopped_site, uses, workaround_floor


def test_a_site_that_stopped_is_one_finding_in_one_sentence() -> None:
    # Porto's 8 agents stop on day 38, 12 days before the end: their group's use fell from 60%
    # to 0 (group test), and all 8 stopped against their own baseline (no use on their last 5
    # working days, where 60% use makes 0.4^50 of that). Leeds is unchanged: no finding.
    findings = detect_adoption_decline(stopped_site(fall_from=38).data(), DeclineDetectorParams())
    by_scope = {f.scope.segment: f for f in findings}
    porto = by_scope[("site", "porto")]
    assert porto.title == (
        "8 agents at porto stopped using suggested replies in the last 2 weeks; "
        "3 of them are in their first 6 months"
    )
    # The group test's window of largest z is the last 7 days, against the 28 before them
    # (days 15-42): 23 days at 60% and the first 5 days after the stop at 0.
    assert porto.baseline is not None
    assert porto.baseline.value == pytest.approx(0.6 * 23 / 28)
    assert porto.current is not None
    assert porto.current.value == 0.0
    assert porto.details["window_days"] == 7
    assert porto.scope.metric == "suggestion_acceptance_rate"
    assert porto.details["agents_flagged"] == 8
    assert porto.details["agents_stopped"] == 8
    assert "p0" not in str(porto.details)  # agents are counted, never named, in a finding
    assert porto.first_seen == D0 + timedelta(days=38)  # the onset: the best split
    assert ("site", "leeds") not in by_scope
    # The team is Porto's own problem (nested), and the whole deployment's fall is Porto's.
    assert None not in by_scope
    assert all(s is None or s[1] not in ("leeds", "leeds-1") for s in by_scope)


def test_a_steady_floor_has_no_finding() -> None:
    assert (
        detect_adoption_decline(stopped_site(fall_from=None).data(), DeclineDetectorParams()) == []
    )


def test_an_early_fall_is_seen_by_the_group_test_first() -> None:
    # Porto's agents fall to 1 in 5 for the last 3 days only: too early for any agent's own
    # 14-day test, but the group's last 3 days (48 of 240 suggestions against 60% of 4,480)
    # are a decline. One finding, in numbers.
    h = History()
    for site, team in SITES.items():
        for a in range(8):
            for day in range(DAYS):
                late = site == "porto" and day >= DAYS - 3
                for m in range(2):
                    h.conversation(f"{site[0]}{a}", day, site=site, team=team, minute=m,
                                   suggestions=uses(1 if late else 3, 5))  # fmt: skip
    findings = detect_adoption_decline(h.data(), DeclineDetectorParams())
    porto = next(f for f in findings if f.scope.segment == ("site", "porto"))
    assert porto.title.startswith("Suggestion acceptance at porto fell: 60.0% → 20.0%")
    assert porto.details["window_days"] == 3


def test_each_workaround_signal_is_one_finding_that_counts_agents() -> None:
    # Retyped: r0, r1 type 6 of 8 dismissals back each day (42 of 56 each, 75%); the others'
    # dismissals are their own words: floor 84 / 196 of dismissals with a message. Rewrite:
    # w0, w1 send something else after all 56 accepted replies. Legacy path: l0, l1 had the AI
    # on day 1, then 14 conversations without it; everyone else uses it in the last week.
    found = {
        f.key[0]: f
        for f in detect_adoption_workarounds(workaround_floor().data(), WorkaroundParams())
    }
    assert set(found) == {"retyped", "rewrite", "legacy_path"}
    retyped = found["retyped"]
    assert retyped.details["agents_flagged"] == 2
    assert retyped.title.startswith("2 agents type suggested replies they dismissed")
    assert "75% of their dismissals come back in their own words" in retyped.title
    assert found["rewrite"].details["agents_flagged"] == 2
    assert found["legacy_path"].details["agents_flagged"] == 2
    for f in found.values():
        assert f.kind == "adoption_workaround"
        assert "r0" not in str(f.details)
        assert "w0" not in str(f.details)
        assert f.evidence  # the conversations that show it


def test_one_agent_alone_is_not_a_workaround_finding() -> None:
    h = workaround_floor()
    h.interactions = [i for i in h.interactions if i["agent_ref"] != "r1"]
    keep = {i["interaction_id"] for i in h.interactions}
    h.assist = [e for e in h.assist if e["interaction_id"] in keep]
    h.turns = [t for t in h.turns if t["interaction_id"] in keep]
    keys = {f.key[0] for f in detect_adoption_workarounds(h.data(), WorkaroundParams())}
    assert "retyped" not in keys
