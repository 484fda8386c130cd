"""Every problem in the manifest is really in the generated rows, dated; none on a calm seed."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from typing import Any

import pytest

from daytwo.demo.generator import corpus
from daytwo.demo.manifest import PILOT_DAYS
from tests.demo.conftest import CONFIG, Loaded

ESCALATED = "avg((outcome IN ('escalated', 'transferred'))::INT)"
CONTAINED = "avg((outcome = 'contained')::INT)"


def _gap_texts() -> list[str]:
    return [t for i in corpus()["gap"] for t in corpus()["utterances"][i]]


def _day(iso: str, shift: int = 0) -> str:
    return f"{date.fromisoformat(iso[:10]) + timedelta(days=shift)}T00:00:00Z"


def test_manifest_is_json_ready_and_complete(demo: Loaded) -> None:
    m = demo.ds.manifest
    assert json.loads(json.dumps(m)) == m
    assert {"seed", "start", "end", "problems"} <= set(m)
    kinds = [p["kind"] for p in m["problems"]]
    assert kinds == [
        "knowledge_gap",
        "latency_error_regression",
        "escalation_rise",
        "adoption_decay",
        "feed_outage",
        "duplicate_deliveries",
        "improvement",
    ]
    for p in m["problems"]:
        assert {"id", "kind", "deployment", "scope", "onset", "end", "description", "expected"} <= (
            set(p)
        )
        assert m["start"] <= p["onset"][:10] <= m["end"]


def _gap(demo: Loaded, after: bool) -> dict[str, Any]:
    onset = demo.problem("knowledge_gap")["onset"]
    return demo.rows(
        "WITH topic AS (SELECT DISTINCT deployment, interaction_id FROM turns "
        "WHERE role = 'user' AND list_contains(?, text)) "
        "SELECT count(*) AS n, "
        "avg((SELECT bool_or(fallback) FROM turns t WHERE t.deployment = i.deployment AND "
        "t.interaction_id = i.interaction_id)::INT) AS fallback, "
        "avg(((SELECT min(confidence) FROM turns t WHERE t.deployment = i.deployment AND "
        "t.interaction_id = i.interaction_id AND t.intent <> 'greeting') < 0.5)::INT) AS low, "
        f"{CONTAINED} AS contained, list(DISTINCT journey ORDER BY journey) AS journeys "
        "FROM interactions i JOIN topic USING (deployment, interaction_id) "
        "WHERE (started_at >= ?::TIMESTAMPTZ) = ?",
        [_gap_texts(), onset, after],
    )[0]


def test_knowledge_gap_opens_midway_and_falls_back(demo: Loaded) -> None:
    p = demo.problem("knowledge_gap")
    before, after = _gap(demo, False), _gap(demo, True)
    assert before["n"] == 0
    bot = demo.one(
        "SELECT count(*) FROM interactions WHERE deployment = 'care-bot' "
        "AND started_at >= ?::TIMESTAMPTZ",
        [p["onset"]],
    )
    assert after["n"] > 0.03 * bot
    assert after["fallback"] > 0.8
    # Answers to the topic (not greetings, not failed calls) in conversations not finished.
    answers = demo.one(
        "SELECT avg(t.fallback::INT) FROM turns t JOIN interactions i "
        "USING (deployment, interaction_id) WHERE t.role = 'assistant' AND t.error IS NULL "
        "AND t.intent NOT IN ('greeting', 'thank_you') AND i.outcome <> 'contained' "
        "AND i.interaction_id IN (SELECT interaction_id FROM turns WHERE list_contains(?, text))",
        [_gap_texts()],
    )
    assert answers == pytest.approx(p["expected"]["fallback_per_answer"], abs=0.02)
    assert after["low"] > 0.8
    assert after["contained"] < 0.15
    assert after["journeys"] == sorted(p["scope"]["journeys"])


def _answers(demo: Loaded, channel: str, onset: str, after: bool) -> dict[str, Any]:
    return demo.rows(
        "SELECT quantile_cont(t.latency_ms, 0.95) AS p95, avg((t.error IS NOT NULL)::INT) AS err, "
        "list(DISTINCT t.model) AS models FROM turns t "
        "JOIN interactions i USING (deployment, interaction_id) WHERE t.role = 'assistant' "
        "AND i.channel = ? AND (i.started_at >= ?::TIMESTAMPTZ) = ?",
        [channel, onset, after],
    )[0]


def test_model_change_slows_and_breaks_chat_only(demo: Loaded) -> None:
    p = demo.problem("latency_error_regression")
    e, onset = p["expected"], p["onset"]
    chat_before, chat_after = (
        _answers(demo, "chat", onset, False),
        _answers(demo, "chat", onset, True),
    )
    voice_before = _answers(demo, "voice", onset, False)
    voice_after = _answers(demo, "voice", onset, True)
    assert chat_before["models"] == [e["model_before"]]
    assert chat_after["models"] == [e["model_after"]]
    assert voice_after["models"] == [e["model_before"]]
    assert chat_after["p95"] > 1.5 * chat_before["p95"]
    assert chat_after["err"] == pytest.approx(e["error_rate_after"], abs=0.01)
    assert chat_before["err"] == pytest.approx(e["error_rate_before"], abs=0.003)
    assert voice_after["p95"] < 1.1 * voice_before["p95"]
    assert voice_after["err"] < 0.01


def _rate(demo: Loaded, rate: str, journeys: list[str], onset: str, after: bool) -> float:
    return float(_measure(demo, rate, journeys, onset, after)[0])


def _measure(
    demo: Loaded, rate: str, journeys: list[str], onset: str, after: bool
) -> tuple[float, int]:
    """A bot rate over ``journeys`` before or after ``onset``, and its sample size."""
    row = demo.rows(
        f"SELECT {rate} AS rate, count(*) AS n FROM interactions WHERE deployment = 'care-bot' "
        "AND list_contains(?, journey) AND (started_at >= ?::TIMESTAMPTZ) = ?",
        [journeys, onset, after],
    )[0]
    return float(row["rate"]), int(row["n"])


def _shift(demo: Loaded, rate: str, journeys: list[str], onset: str) -> tuple[float, float]:
    """The change of a rate at ``onset`` and three standard errors of that change."""
    (p0, n0), (p1, n1) = (_measure(demo, rate, journeys, onset, after) for after in (False, True))
    return p1 - p0, 3 * math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)


def _controls(demo: Loaded) -> list[str]:
    controls: list[str] = demo.problem("improvement")["expected"]["control_journeys"]
    return controls


def test_flow_change_raises_escalation_in_one_journey(demo: Loaded) -> None:
    p = demo.problem("escalation_rise")
    e = p["expected"]
    journey = [p["scope"]["journey"]]
    before = _rate(demo, ESCALATED, journey, p["onset"], False)
    rise, noise = _shift(demo, ESCALATED, journey, p["onset"])
    others, other_noise = _shift(demo, ESCALATED, _controls(demo), p["onset"])
    assert before == pytest.approx(e["escalation_rate_before"], abs=0.03)
    assert rise == pytest.approx(e["escalation_rate_delta"], abs=noise)
    assert abs(others) < other_noise < 0.03
    assert before + rise > _rate(demo, ESCALATED, _controls(demo), p["onset"], True) + 0.15


def _acceptance(demo: Loaded, since: str, until: str) -> dict[str, float]:
    rows = demo.rows(
        "SELECT i.segments['site'] AS site, sum((a.action IN ('accepted', 'edited'))::INT) "
        "/ sum((a.action = 'shown')::INT) AS acceptance FROM assist a "
        "JOIN interactions i USING (deployment, interaction_id) "
        "WHERE i.started_at >= ?::TIMESTAMPTZ AND i.started_at < ?::TIMESTAMPTZ GROUP BY 1",
        [since, until],
    )
    return {r["site"]: r["acceptance"] for r in rows}


def test_adoption_decays_at_one_site_over_weeks(demo: Loaded) -> None:
    p = demo.problem("adoption_decay")
    site = p["scope"]["site"]
    onset = p["onset"]
    end = demo.ds.manifest["end"]
    # After the pilot (whose volunteers accept more), before the decay.
    before = _acceptance(demo, _day(onset, -14), onset)
    mid = _acceptance(demo, _day(onset, 7), _day(onset, 14))
    last = _acceptance(demo, _day(end, -6), _day(end, 1))
    assert last[site] < mid[site] < 0.85 * before[site]
    assert last[site] == pytest.approx(
        before[site] * p["expected"]["acceptance_factor_at_end"], abs=0.05
    )
    for other in set(before) - {site}:
        assert last[other] == pytest.approx(before[other], abs=0.05)


def test_feed_outage_leaves_a_hole(demo: Loaded) -> None:
    p = demo.problem("feed_outage")
    in_window = demo.one(
        "SELECT count(*) FROM deliveries WHERE started_at >= ?::TIMESTAMPTZ "
        "AND started_at < ?::TIMESTAMPTZ",
        [p["onset"], p["end"]],
    )
    assert in_window == 0
    # The same hours on every other day are busy, for both deployments.
    hours = demo.rows(
        "SELECT deployment, started_at::DATE AS day, count(*) AS n FROM interactions "
        "WHERE hour(started_at) >= hour(?::TIMESTAMPTZ) "
        "AND hour(started_at) < hour(?::TIMESTAMPTZ) "
        "AND started_at::DATE <> ?::TIMESTAMPTZ::DATE AND started_at >= ?::TIMESTAMPTZ "
        "GROUP BY ALL",
        [p["onset"], p["end"], p["onset"], demo.ds.manifest["cohorts"]["pilot_until"]],
    )
    assert min(r["n"] for r in hours) > 30
    assert {r["deployment"] for r in hours} == set(p["scope"]["deployments"])
    # The rest of the outage day is there.
    rest = demo.one(
        "SELECT count(*) FROM interactions WHERE started_at::DATE = ?::TIMESTAMPTZ::DATE",
        [p["onset"]],
    )
    assert rest > 200


def test_duplicates_arrive_in_later_batches(demo: Loaded) -> None:
    p = demo.problem("duplicate_deliveries")
    copies = demo.rows(
        "SELECT interaction_id, count(*) AS n, min(_batch) AS first, max(_batch) AS last, "
        "count(DISTINCT coalesce(csat, -1)) AS versions, arg_max(csat, _batch) AS final_csat, "
        "min(started_at) AS started FROM deliveries GROUP BY deployment, interaction_id "
        "HAVING count(*) > 1"
    )
    assert len(copies) == p["expected"]["count"] > 50
    assert demo.one("SELECT count(*) FROM deliveries") - len(copies) == (
        demo.ds.n_interactions_expected
    )
    assert all(c["n"] == 2 and c["last"] == c["first"] + 1 for c in copies)
    days = {c["started"].date().isoformat() for c in copies}
    assert days == set(p["scope"]["days"])
    # The problem begins with the first batch carrying copies (batch n is day n - 1's) and
    # ends after the last.
    onset = date.fromisoformat(p["onset"][:10])
    end = date.fromisoformat(p["end"][:10])
    assert min(c["last"] for c in copies) - 1 == (onset - demo.ds.start).days
    assert max(c["last"] for c in copies) == (end - demo.ds.start).days
    assert onset.isoformat() > min(days)
    # Some copies are later versions (a survey answer arrived); the later copy is kept.
    revised = [c for c in copies if c["versions"] == 2]
    assert len(revised) / len(copies) == pytest.approx(p["expected"]["late_csat_share"], abs=0.1)
    assert all(c["final_csat"] is not None for c in revised)


def test_fix_raises_containment_by_the_true_effect(demo: Loaded) -> None:
    p = demo.problem("improvement")
    e = p["expected"]
    journey = [p["scope"]["journey"]]
    before = _rate(demo, CONTAINED, journey, p["onset"], False)
    effect, noise = _shift(demo, CONTAINED, journey, p["onset"])
    control, control_noise = _shift(demo, CONTAINED, _controls(demo), p["onset"])
    assert before == pytest.approx(e["containment_before"], abs=0.03)
    # The true effect is within three standard errors of the estimate, and clearly not zero.
    assert effect == pytest.approx(e["containment_delta"], abs=noise)
    assert effect > noise
    assert abs(control) < control_noise < 0.03
    assert effect - control == pytest.approx(e["containment_delta"], abs=noise + control_noise)


def test_without_problems_nothing_is_injected(calm: Loaded, demo: Loaded) -> None:
    assert calm.ds.manifest["problems"] == []
    # No duplicates, no gap topic, no new model.
    assert calm.one("SELECT count(*) FROM deliveries") == calm.ds.n_interactions_expected
    assert calm.one("SELECT count(*) FROM interactions") == calm.ds.n_interactions_expected
    texts = _gap_texts()
    assert calm.one("SELECT count(*) FROM turns WHERE list_contains(?, text)", [texts]) == 0
    models = calm.rows("SELECT DISTINCT model FROM turns WHERE model IS NOT NULL")
    assert [r["model"] for r in models] == ["gpt-4o-mini"]
    # The outage window of the problem seed is full of traffic here.
    outage = demo.problem("feed_outage")
    assert (
        calm.one(
            "SELECT count(*) FROM interactions WHERE started_at >= ?::TIMESTAMPTZ "
            "AND started_at < ?::TIMESTAMPTZ",
            [outage["onset"], outage["end"]],
        )
        > 100
    )
    # Escalation, containment and acceptance hold steady where the problems would have been.
    flow = demo.problem("escalation_rise")
    j = [flow["scope"]["journey"]]
    assert (
        abs(
            _rate(calm, ESCALATED, j, flow["onset"], True)
            - _rate(calm, ESCALATED, j, flow["onset"], False)
        )
        < 0.04
    )
    fix = demo.problem("improvement")
    j = [fix["scope"]["journey"]]
    assert (
        abs(
            _rate(calm, CONTAINED, j, fix["onset"], True)
            - _rate(calm, CONTAINED, j, fix["onset"], False)
        )
        < 0.04
    )
    decay = demo.problem("adoption_decay")
    before = _acceptance(calm, _day(decay["onset"], -14), decay["onset"])
    end = calm.ds.manifest["end"]
    last = _acceptance(calm, _day(end, -6), _day(end, 1))
    for site, value in before.items():
        assert last[site] == pytest.approx(value, abs=0.05)
    model = demo.problem("latency_error_regression")
    after = _answers(calm, model["scope"]["channel"], model["onset"], True)
    before = _answers(calm, model["scope"]["channel"], model["onset"], False)
    assert after["p95"] < 1.1 * before["p95"]
    assert after["err"] < 0.01


def test_the_value_truth_is_the_days_own_draws(demo: Loaded, calm: Loaded) -> None:
    """Each day's escalations are what the delivered bot conversations had; the hand-overs at
    the baseline's odds match them on a calm demo; assist saved agent minutes once rolled
    out, and none where nothing was used."""
    days = demo.ds.manifest["value"]["days"]
    assert len(days) == CONFIG.days
    counted = {
        str(r["day"]): r["n"]
        for r in demo.rows(
            "SELECT CAST(CAST(started_at AS DATE) AS VARCHAR) AS day, count(*) AS n "
            "FROM interactions WHERE deployment = 'care-bot' "
            "AND outcome IN ('escalated', 'transferred') GROUP BY 1"
        )
    }
    assert {d["day"]: d["care-bot"]["escalations"] for d in days} == counted
    calm_days = calm.ds.manifest["value"]["days"]
    expected = sum(d["care-bot"]["escalations_at_baseline_odds"] for d in calm_days)
    had = sum(d["care-bot"]["escalations"] for d in calm_days)
    assert abs(expected - had) < 4 * expected**0.5  # nothing injected: only draw noise
    # Drawn with the same numbers at the baseline's odds, a calm day hands over the very same
    # conversations; with the problems, the counts part only where a problem or a fix acts.
    assert all(d["care-bot"]["escalations_at_baseline_drawn"] == d["care-bot"]["escalations"]
               for d in calm_days)  # fmt: skip
    acting = min(
        demo.problem(kind)["onset"][:10]
        for kind in ("improvement", "knowledge_gap", "escalation_rise")
    )
    bot = [d["care-bot"] for d in days]
    before = [b for d, b in zip(days, bot, strict=True) if d["day"] < acting]
    assert before
    assert all(b["escalations_at_baseline_drawn"] == b["escalations"] for b in before)
    assert any(b["escalations_at_baseline_drawn"] != b["escalations"] for b in bot[len(before) :])
    saved = [d["care-assist"]["agent_minutes_saved"] for d in days]
    assert all(s >= 0 for s in saved)
    assert sum(saved[PILOT_DAYS:]) > 10 * sum(saved[:PILOT_DAYS]) > 0
