"""The adoption service on the demo: its answers against the demo's declared truth, and bad
input refused with nothing stored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from daytwo.adoption import champions, cohorts, compare, memo, service, usage
from daytwo.adoption.detectors import WorkaroundParams, workaround_signals
from daytwo.adoption.schemas import ChampionCreate, CohortCreate, Period
from daytwo.adoption.stopped import who_stopped
from daytwo.backlog.policy import BacklogPolicy
from daytwo.errors import ConflictError, InputError
from daytwo.ingest.decode import decode_json
from daytwo.store.events import EventStore
from tests.adoption.conftest import ASSIST, Demo
from tests.backlog.conftest import store_of


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _last_weeks(demo: Demo, days: int = 28) -> Period:
    end = datetime.combine(date.fromisoformat(demo.manifest["end"]), datetime.min.time(), UTC)
    return Period(start=end + timedelta(days=1 - days), end=end + timedelta(days=1))


def test_the_overview_holds_together(demo: Demo) -> None:
    period = _last_weeks(demo)
    o = service.overview(
        demo.ledger, demo.events, ASSIST, period, BacklogPolicy(), agents_visible=True
    )
    h = o.headline
    assert h.acceptance is not None
    assert 0 < h.acceptance < 1
    assert h.target == 0.45
    assert h.agents_offered > 300
    assert 0 < h.active_daily <= h.active_weekly <= h.agents_offered
    # The funnel adds up: every suggestion shown was accepted, edited, dismissed or ignored.
    for f in o.funnel:
        assert f.accepted + f.edited + f.dismissed + f.ignored == f.shown
        assert f.tta_median_s is not None
        assert f.tta_median_s > 0
    # The breakdowns cover the same suggestions.
    for key in ("site", "team", "tenure"):
        assert sum(r.shown or 0 for r in o.groups[key]) == sum(f.shown for f in o.funnel)
    sites = {r.value: r for r in o.groups["site"]}
    porto, leeds = sites["porto"], sites["leeds"]
    assert porto.acceptance is not None
    assert leeds.acceptance is not None
    assert porto.acceptance < 0.6 * leeds.acceptance  # the decay
    assert o.pilot is not None
    assert o.ai_vs_legacy is not None
    assert {c.agent_ref for c in o.champions.champions} == {
        c["agent"] for c in demo.manifest["adoption"]["champions"]
    }
    # Signal 4: the Porto service move measured on acceptance, a fall.
    after = next(s for s in o.signals if s.signal == "after_change")
    assert after.sentence is not None
    assert demo.problem("adoption_decay")["cause"]["change"] in after.sentence


def test_viewers_see_no_group_under_five_agents() -> None:
    row = usage.GroupRow(
        key="team", value="t", agents=4, conversations=10, shown=30, acceptance=0.5,
        previous_acceptance=0.4, usage=0.6, completion=0.3,
    )  # fmt: skip
    hidden = usage.suppress(row, 5)
    assert hidden.acceptance is None
    assert hidden.conversations is None
    assert hidden.suppressed is not None
    assert "fewer than 5 agents" in hidden.suppressed
    assert usage.suppress(row, None) == row
    assert usage.suppress(row.model_copy(update={"agents": 5}), 5) == row.model_copy(
        update={"agents": 5}
    )


def test_the_pilot_compared_like_for_like_covers_the_truth(demo: Demo) -> None:
    pair = cohorts.pilot_and_rollout(demo.ledger, demo.events, ASSIST)
    assert pair is not None
    pilot, _ = pair
    assert pilot.agents == set(demo.manifest["adoption"]["pilot"]["agents"])
    c = compare.pilot_vs_rollout(demo.events, ASSIST, pair)
    k = c.kpis[0]
    true = demo.manifest["adoption"]["pilot_vs_rollout"]["true_gap"]
    assert k.kpi == "suggestion_acceptance_rate"
    assert k.lo is not None
    assert k.hi is not None
    assert k.lo <= true <= k.hi
    assert k.naive is not None
    assert k.adjusted is not None
    assert k.naive > k.adjusted  # the volunteers' tenure is part of the naive gap
    assert c.window == "each cohort's first 14 days with the tool"
    # The weighted gap beside it estimates the same thing, with an interval that refits.
    assert k.weighted is not None
    assert k.weighted_lo is not None
    assert k.weighted_hi is not None
    assert k.weighted_lo <= true <= k.weighted_hi
    assert k.weighted_sentence.startswith("Weighted instead, with the rollout reweighted")
    assert f"{k.weighted * 100:+.1f} points" in k.weighted_sentence


def _row(adjusted: float, lo: float, hi: float, weighted: float, w_lo: float, w_hi: float) -> Any:
    from daytwo.adoption.schemas import KpiGap

    return KpiGap(
        kpi="suggestion_acceptance_rate", name="Suggestion acceptance", unit="share",
        focus_value=0.6, other_value=0.4, naive=0.2, naive_lo=0.15, naive_hi=0.25,
        adjusted=adjusted, lo=lo, hi=hi, selection_share=0.3, relative=0.3, coverage=1.0,
        strata=12, focus_agents=40, other_agents=360, sentence="",
        weighted=weighted, weighted_lo=w_lo, weighted_hi=w_hi,
    )  # fmt: skip


def test_the_weighted_sentence_says_whether_the_two_agree() -> None:
    say = compare.weighted_sentence
    # Half the narrower interval's half-width is 0.01: 0.004 apart agrees.
    agree = say(_row(0.13, 0.10, 0.16, 0.134, 0.11, 0.15), compare.points, "pilot", "rollout")
    assert agree == (
        "Weighted instead, with the rollout reweighted to look like the pilot: +13.4 points "
        "(+11.0 points to +15.0 points), which agrees with the standardised gap."
    )
    # 0.03 apart, beyond 0.01: the strata are thin.
    apart = say(_row(0.13, 0.10, 0.16, 0.16, 0.14, 0.18), compare.points, "pilot", "rollout")
    assert compare.weighted_agrees(_row(0.13, 0.10, 0.16, 0.16, 0.14, 0.18)) is False
    assert compare.weighted_agrees(_row(0.13, 0.10, 0.16, 0.134, 0.11, 0.15)) is True
    assert apart.endswith(
        "3.0 points from the standardised gap: the groups overlap thinly here, so trust "
        "neither estimate alone."
    )
    none = _row(0.13, 0.10, 0.16, 0.13, 0.11, 0.15).model_copy(update={"weighted": None})
    assert say(none, compare.points, "pilot", "rollout") == ""


def test_the_tool_helps_new_agents_most_like_for_like(demo: Demo) -> None:
    c = compare.ai_vs_legacy(demo.events, ASSIST, _last_weeks(demo, 42))
    truth = demo.manifest["adoption"]["tool_effect_by_tenure"]
    for band, gaps in c.by_band.items():
        rel = gaps[0].relative
        assert rel is not None
        assert rel == pytest.approx(truth[band]["handle_time_change"], abs=0.05), band
    # The naive comparison overstates it: experienced agents use the AI more and are faster.
    handle = c.kpis[0]
    assert handle.naive is not None
    assert handle.adjusted is not None
    assert handle.naive < handle.adjusted < 0


def test_who_stopped_at_the_decay_site(demo: Demo) -> None:
    p = demo.problem("adoption_decay")
    # At this small demo's volume (under one conversation a day per agent) each agent's own
    # test needs weeks of the fall; the group test (the detector's) sees it within days.
    who = who_stopped(demo.events, ASSIST, _at(p["onset"]) + timedelta(days=26))
    sentences = [g.sentence for g in service.stopped_groups(who, agents_visible=False)]
    assert any(s.split(" agents at ")[1].startswith(p["scope"]["site"]) for s in sentences)
    assert all(g.agents_flagged == [] for g in service.stopped_groups(who, agents_visible=False))


def test_bad_cohorts_and_champions_store_nothing(demo: Demo) -> None:
    before = cohorts.list_cohorts(demo.ledger, ASSIST)
    pilot = demo.manifest["adoption"]["pilot"]["agents"]
    refused: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"name": "ghosts", "segment": "cohort=nobody"}, InputError, "matches no agent"),
        ({"name": "early", "agents": pilot[:3]}, InputError, "overlaps cohort 'pilot'"),
        ({"name": "x", "agents": ["a-9999"]}, InputError, "are not agents of"),
        ({"name": "pilot", "agents": ["a-0001"]}, ConflictError, "already has a cohort"),
    ]
    for fields, error, message in refused:
        spec = CohortCreate.model_validate({"deployment": ASSIST, "role": "pilot", **fields})
        with pytest.raises(error, match=message):
            cohorts.create_cohort(demo.ledger, demo.events, spec, actor="t")
    with pytest.raises(ValidationError, match="one way"):
        CohortCreate(deployment=ASSIST, name="y", role="pilot", segment="a=b", agents=["a"])
    assert cohorts.list_cohorts(demo.ledger, ASSIST) == before
    marked = champions.list_champions(demo.ledger, ASSIST)
    with pytest.raises(InputError, match="is not an agent of"):
        champions.add_champion(
            demo.ledger, demo.events,
            ChampionCreate(deployment=ASSIST, agent_ref="someone-else",
                           started_at=datetime(2026, 10, 1, tzinfo=UTC)),
            actor="t",
        )  # fmt: skip
    assert champions.list_champions(demo.ledger, ASSIST) == marked


def test_the_page_reuses_its_answers_only_while_the_data_is_unchanged(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    period = _last_weeks(demo)

    def page() -> Any:
        return service.overview(
            demo.ledger, demo.events, ASSIST, period, BacklogPolicy(), agents_visible=False,
            comparisons=False, keys=("site", "team"),
        )  # fmt: skip

    memo.forget(demo.events)
    kept, again = page(), page()
    assert again.headline is kept.headline  # the second reader got the kept answer
    assert again.groups["team"][0] is kept.groups["team"][0]
    assert who_stopped(demo.events, ASSIST, period.end) is who_stopped(
        demo.events, ASSIST, period.end
    )
    # The workaround signals' agents (two weeks of assist events and the detector's engine
    # reads, asked by every agent page and the signal filter) are kept too.
    flagged = service.workaround_agents(demo.events, ASSIST, period.end)
    assert any(flagged.values()), "the demo's workarounds must flag someone"
    # The same agents as the signals give from the agents' raw messages.
    params = WorkaroundParams()
    raw = service.load(
        demo.events, ASSIST, period.end - timedelta(days=params.days), period.end, messages=True
    )
    assert raw.turns.num_rows > 0
    assert flagged == {s.signal: list(s.flagged) for s in workaround_signals(raw, params)}
    assert service.workaround_agents(demo.events, ASSIST, period.end) is flagged
    # Computed afresh (a store that cannot tell when its data changed reuses nothing), every
    # number is the same.
    monkeypatch.setattr(demo.events, "data_state", lambda: None)
    fresh = page()
    assert fresh.headline is not kept.headline
    assert fresh.model_dump() == kept.model_dump()
    recomputed = service.workaround_agents(demo.events, ASSIST, period.end)
    assert recomputed is not flagged
    assert recomputed == flagged
    assert fresh.groups["team"], "the comparison must have rows to compare"


RECORD = {
    "id": "m-1", "deployment": "d", "started_at": "2026-03-01T10:00:00Z",
    "journey": "billing", "agent_ref": "a-1", "ai_used": True,
}  # fmt: skip


def _write_another(store: EventStore) -> None:
    decoded = decode_json(orjson.dumps([{**RECORD, "id": "m-2"}]))
    store.write(decoded.batch, source="t", batch_id="2")


def test_a_write_changes_the_data_state_and_the_answer_is_computed_anew() -> None:
    store = store_of([RECORD])
    try:
        calls = []

        def count() -> int:
            calls.append(1)
            return store.count("interactions")

        before = store.data_state()
        assert before is not None
        assert memo.remembered(store, "n", count) == 1
        assert memo.remembered(store, "n", count) == 1
        assert len(calls) == 1
        _write_another(store)
        assert store.data_state() != before
        assert memo.remembered(store, "n", count) == 2
        assert len(calls) == 2
    finally:
        store.close()


def test_under_a_background_refresh_the_state_moves_when_a_refresh_publishes() -> None:
    store = store_of([RECORD])
    try:
        store.refresh_on_read = False  # as the server's refresher sets it
        store.refresh_derived()
        published = store.data_state()
        _write_another(store)
        assert store.data_state() == published  # readers still see the last refresh
        assert store.refresh_derived()
        assert store.data_state() != published
    finally:
        store.close()
