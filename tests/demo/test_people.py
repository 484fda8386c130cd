"""The demo's people side: the rows carry the truth its manifest declares."""

from __future__ import annotations

from datetime import timedelta

import pytest

from daytwo.adoption.signals import similarity
from daytwo.demo.people import TEAMS
from tests.demo.conftest import Loaded


def _day(iso: str, days: int = 0) -> str:
    from datetime import datetime

    return (datetime.fromisoformat(iso.replace("Z", "+00:00")) + timedelta(days=days)).isoformat()


def test_the_pilot_is_the_manifests_volunteers(demo: Loaded) -> None:
    rows = demo.rows(
        "SELECT DISTINCT agent_ref FROM interactions WHERE segments['cohort'] = 'pilot'"
    )
    assert {r["agent_ref"] for r in rows} == set(demo.ds.manifest["adoption"]["pilot"]["agents"])


def test_suggestions_at_the_decay_site_slow_down_from_the_onset(demo: Loaded) -> None:
    p = demo.problem("adoption_decay")
    cause = p["cause"]

    def median(since: str, until: str, site_is: bool) -> float:
        value: float = demo.one(
            "SELECT median(TRY_CAST(json_extract_string(a.attributes, '$.latency_ms') AS DOUBLE)) "
            "FROM assist a JOIN interactions i USING (deployment, interaction_id) "
            "WHERE a.action = 'shown' AND (i.segments['site'] = ?) = ? "
            "AND i.started_at >= ?::TIMESTAMPTZ AND i.started_at < ?::TIMESTAMPTZ",
            [p["scope"]["site"], site_is, since, until],
        )
        return value

    onset = p["onset"]
    assert median(_day(onset, -10), onset, True) == pytest.approx(
        cause["latency_ms_before"], rel=0.1
    )
    assert median(onset, _day(onset, 10), True) == pytest.approx(cause["latency_ms_after"], rel=0.1)
    assert median(onset, _day(onset, 10), False) == pytest.approx(
        cause["latency_ms_before"], rel=0.1
    )


def test_retypers_type_dismissed_replies_themselves(demo: Loaded) -> None:
    truth = set(demo.ds.manifest["adoption"]["retypers"]["agents"])
    rows = demo.rows(
        "SELECT a.agent_ref, json_extract_string(s.attributes, '$.text') AS suggestion, t.text "
        "FROM assist a JOIN assist s ON s.deployment = a.deployment "
        "AND s.interaction_id = a.interaction_id AND s.seq = a.seq - 1 AND s.action = 'shown' "
        "ASOF JOIN (SELECT * FROM turns WHERE role = 'agent') t "
        "ON t.deployment = a.deployment AND t.interaction_id = a.interaction_id AND t.ts >= a.ts "
        "WHERE a.action = 'dismissed' AND a.feature = 'suggested_reply'"
    )
    share: dict[bool, list[bool]] = {True: [], False: []}
    for r in rows:
        share[r["agent_ref"] in truth].append(similarity(r["suggestion"], r["text"]) >= 0.6)
    retypers = sum(share[True]) / len(share[True])
    others = sum(share[False]) / len(share[False])
    assert retypers == pytest.approx(0.7, abs=0.06)
    assert others == pytest.approx(0.03, abs=0.015)


def test_champions_teams_take_more_after_they_start(demo: Loaded) -> None:
    for c in demo.ds.manifest["adoption"]["champions"]:
        start = c["started_at"]

        def acceptance(team_is: bool, since: str, until: str, team: str = c["team"]) -> float:
            value: float = demo.one(
                "SELECT sum(n_accepted + n_edited) / sum(n_shown) FROM (SELECT "
                "count_if(a.action = 'accepted') AS n_accepted, "
                "count_if(a.action = 'edited') AS n_edited, "
                "count_if(a.action = 'shown') AS n_shown FROM assist a "
                "JOIN interactions i USING (deployment, interaction_id) "
                "WHERE (i.segments['team'] = ?) = ? AND i.segments['site'] <> 'porto' "
                "AND i.started_at >= ?::TIMESTAMPTZ AND i.started_at < ?::TIMESTAMPTZ)",
                [team, team_is, since, until],
            )
            return value

        before = acceptance(True, _day(start, -10), start) / acceptance(
            False, _day(start, -10), start
        )
        after = acceptance(True, _day(start, 14), _day(start, 24)) / acceptance(
            False, _day(start, 14), _day(start, 24)
        )
        assert c["team"] in TEAMS
        # Fully in effect after the ramp: 20% more, relative to the teams without one.
        assert after / before == pytest.approx(1 + c["lift"], abs=0.1)


def test_the_tool_saves_new_agents_the_most_time(demo: Loaded) -> None:
    truth = demo.ds.manifest["adoption"]["tool_effect_by_tenure"]
    rows = demo.rows(
        "SELECT segments['tenure'] AS band, avg(handle_time_s) FILTER (WHERE ai_used) AS ai, "
        "avg(handle_time_s) FILTER (WHERE NOT ai_used) AS legacy FROM interactions "
        "WHERE deployment = 'care-assist' GROUP BY 1"
    )
    for r in rows:
        # Within a tenure band, AI use is independent of how long a call would take: the ratio
        # of the means is the tool's factor (journey mix aside).
        assert r["ai"] / r["legacy"] == pytest.approx(
            truth[r["band"]]["handle_time_factor"], abs=0.05
        ), r["band"]
