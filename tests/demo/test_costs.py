"""The true weekly cost the manifest declares per injected problem, checked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from daytwo.backlog.calc import COST_BASIS
from daytwo.demo import people
from daytwo.demo.ground_truth import (
    acceptance_before,
    ai_used_share,
    build_manifest,
    true_weekly_costs,
)
from daytwo.demo.manifest import BOT, PILOT_DAYS, deployment_specs, schedule_for
from tests.demo.conftest import Loaded


def test_costs_by_hand() -> None:
    costs = true_weekly_costs(schedule_for(90), 2000)
    bot_week = 2000 * 0.7 * 7  # 9,800 conversations a week on the virtual agent
    # The flow change: card_declined's 11% of them (less the 7% the gap takes) are handed over
    # 20 points more often, at 6.5 an escalation.
    assert costs["flow-change-escalations"]["value"] == pytest.approx(
        bot_week * 0.11 * 0.93 * 0.20 * 6.5, abs=0.01
    )
    # The gap: 7% of the traffic, handed over 64% of the time (payments 25%, balances 15%,
    # weighted 0.6/0.4: 21%) and abandoned 30% (9% and 7%: 8.2%), each priced as an escalation.
    assert costs["knowledge-gap-payroll"]["value"] == pytest.approx(
        bot_week * 0.07 * ((0.64 - 0.21) + (0.30 - 0.082)) * 6.5, abs=0.01
    )
    # Nothing went worse for a customer when data was lost or counted twice.
    assert costs["feed-outage"]["value"] == 0.0
    assert costs["duplicate-deliveries"]["value"] == 0.0
    assert costs["model-regression"]["value"] > 0
    assert costs["adoption-decay-porto"]["value"] > 0


def test_costs_scale_with_traffic_and_are_in_the_manifest() -> None:
    small = true_weekly_costs(schedule_for(90), 1000)
    large = true_weekly_costs(schedule_for(90), 3000)
    for pid, cost in small.items():
        assert large[pid]["value"] == pytest.approx(3 * cost["value"], abs=0.05)
    manifest = build_manifest(
        seed=1,
        start=date(2026, 9, 1),
        days=90,
        interactions_per_day=1000,
        through=datetime(2026, 11, 30, tzinfo=UTC),
        n_interactions=90_000,
        schedule=schedule_for(90),
        gap_intents=["payday"],
        duplicates=10,
    )
    declared = {
        p["id"]: p["expected"]["true_weekly_cost"]
        for p in manifest["problems"]
        if p["kind"] != "improvement"
    }
    assert declared == small
    assert all(c["basis"] for c in declared.values())


def test_the_bot_prices_what_its_latency_and_error_findings_cost() -> None:
    (bot,) = [d for d in deployment_specs(date(2026, 9, 1)) if d.name == BOT]
    for metric in ("error_rate", "latency_mean"):
        key, _ = COST_BASIS[metric]
        assert bot.cost_model[key] > 0


def _ai_used_share(demo: Loaded, site: str, since: str, until: str) -> float:
    share: float = demo.one(
        "SELECT avg(used::INT) FROM (SELECT i.interaction_id, "
        "bool_or(coalesce(a.action IN ('accepted', 'edited'), false)) AS used "
        "FROM interactions i LEFT JOIN assist a USING (deployment, interaction_id) "
        "WHERE i.deployment = 'care-assist' AND i.segments['site'] = ? "
        "AND i.started_at >= ?::TIMESTAMPTZ AND i.started_at < ?::TIMESTAMPTZ "
        "GROUP BY i.interaction_id)",
        [site, since, until],
    )
    return share


def test_the_adoption_cost_model_matches_the_generated_rows(demo: Loaded) -> None:
    """The decay's cost rests on how many conversations stop using a suggestion: the model of
    it (mean acceptance, suggestions per conversation) against the rows themselves."""
    p = demo.problem("adoption_decay")
    onset = date.fromisoformat(p["onset"][:10])
    end = date.fromisoformat(demo.ds.manifest["end"])
    site = p["scope"]["site"]
    before = _ai_used_share(demo, site, str(onset - timedelta(days=14)), str(onset))
    after = _ai_used_share(demo, site, str(end - timedelta(days=6)), str(end + timedelta(days=1)))
    reply, summary = acceptance_before()
    floor = p["expected"]["acceptance_factor_at_end"]
    # The model is of settled agents; in a short history the window before the onset still
    # holds rollout agents in their first weeks with the tool (``people.learning``).
    start = date.fromisoformat(demo.ds.manifest["start"])
    ages = np.arange((onset - start).days - 14, (onset - start).days) - PILOT_DAYS
    learning = float(np.mean(people.learning(ages)))
    assert before == pytest.approx(ai_used_share(reply * learning, summary * learning), abs=0.05)
    assert after == pytest.approx(ai_used_share(reply * floor, summary * floor), abs=0.05)
