"""The demo generator: deterministic, valid, realistic in shape, and scaled by its volume."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import daytwo.demo as demo_package
from daytwo.demo import generator
from daytwo.demo.generator import DemoConfig, corpus, generate
from daytwo.interactions.columns import (
    ASSIST_ACTIONS,
    ASSIST_EVENTS,
    INTERACTIONS,
    OUTCOMES,
    ROLES,
    TS,
    TURNS,
    Batch,
    with_locators,
)
from daytwo.interactions.validate import validate_batch
from tests.demo.conftest import Loaded

SMALL = DemoConfig(seed=3, days=20, interactions_per_day=150, end=date(2026, 9, 30))


def test_public_names() -> None:
    assert demo_package.__all__ == [
        "DemoConfig",
        "DemoDataset",
        "DeploymentSpec",
        "generate",
    ]


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b = list(generate(SMALL).batches()), list(generate(SMALL).batches())
    other = list(generate(replace(SMALL, seed=4)).batches())
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.interactions.equals(y.interactions)
        assert x.turns.equals(y.turns)
        assert x.assist_events.equals(y.assist_events)
    assert generate(SMALL).manifest == generate(SMALL).manifest
    assert not a[5].turns.equals(other[5].turns)
    assert a[5].interactions["customer_ref"] != other[5].interactions["customer_ref"]


def test_every_batch_validates_with_locators(demo: Loaded) -> None:
    assert demo.errors == []
    assert demo.record_clashes == 0
    # Every turn's locator names its record and position, as batch_from_wire's do.
    assert demo.one("SELECT count(*) FROM turns WHERE _pos <> seq") == 0
    assert demo.one("SELECT count(*) FROM assist WHERE _pos <> seq") == 0
    orphans = demo.one(
        "SELECT count(*) FROM _turns t ANTI JOIN _interactions i USING (_batch, _record, "
        "interaction_id)"
    )
    assert orphans == 0


def test_batches_have_the_canonical_schemas() -> None:
    batch = next(iter(generate(SMALL).batches()))
    assert batch.interactions.schema == with_locators(INTERACTIONS, pos=False)
    assert batch.turns.schema == with_locators(TURNS, pos=True)
    assert batch.assist_events.schema == with_locators(ASSIST_EVENTS, pos=True)
    assert batch.interactions.schema.field("started_at").type == TS == pa.timestamp("us", "UTC")


def test_counts_match_what_the_dataset_announces(demo: Loaded) -> None:
    ds = demo.ds
    stored = demo.one("SELECT count(*) FROM interactions")
    assert stored == ds.n_interactions_expected == ds.manifest["n_interactions"]
    assert demo.n_batches == ds.n_batches
    # The mean day holds about interactions_per_day (the outage takes a few hours of one).
    per_day = demo.one("SELECT count(*) FROM deliveries") / ds.config.days
    assert per_day == pytest.approx(ds.config.interactions_per_day, rel=0.05)


def test_volume_scales_linearly() -> None:
    def n(volume: int) -> int:
        config = DemoConfig(interactions_per_day=volume, end=date(2026, 9, 30))
        return generate(config).n_interactions_expected

    assert n(20_000) / n(2_000) == pytest.approx(10, rel=0.02)
    assert n(2_000) == pytest.approx(90 * 2_000, rel=0.02)


def _latest(batches: list[Batch]) -> datetime:
    return max(
        pc.max(t[col]).as_py()
        for b in batches
        for t, col in (
            (b.interactions, "started_at"),
            (b.interactions, "ended_at"),
            (b.turns, "ts"),
            (b.assist_events, "ts"),
        )
        if t.num_rows
    )


@pytest.mark.parametrize("hours", [0.5, 3, 13.25])
def test_a_living_demo_ends_now_and_counts_what_it_delivers(
    monkeypatch: pytest.MonkeyPatch, hours: float
) -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC) + timedelta(hours=hours)
    monkeypatch.setattr(generator, "_now", lambda: now)
    ds = generate(DemoConfig(seed=5, days=14, interactions_per_day=400))
    assert ds.manifest["end"] == "2026-11-20"
    batches = list(ds.batches())
    assert _latest(batches) <= now
    ids = {i for b in batches for i in b.interactions["interaction_id"].to_pylist()}
    assert len(ids) == ds.n_interactions_expected
    assert all(validate_batch(b) == [] for b in batches)


def test_the_default_end_is_today() -> None:
    ds = generate(DemoConfig(seed=5, days=14, interactions_per_day=100))
    assert ds.manifest["end"] == datetime.now(UTC).date().isoformat()
    assert _latest(list(ds.batches())) <= datetime.now(UTC)


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="future"):
        generate(DemoConfig(end=datetime.now(UTC).date() + timedelta(days=1)))
    with pytest.raises(ValueError, match="14 days"):
        generate(DemoConfig(days=10))
    assert generate(DemoConfig(days=10, problems=False)).manifest["problems"] == []


def test_tiny_volumes_still_validate() -> None:
    ds = generate(DemoConfig(seed=2, days=14, interactions_per_day=3, end=date(2026, 9, 30)))
    for batch in ds.batches():
        assert validate_batch(batch) == []


def test_shape_of_the_deployment(demo: Loaded) -> None:
    ds = demo.ds
    assert [(d.name, d.kind) for d in ds.deployments] == [
        ("care-bot", "virtual_agent"),
        ("care-assist", "agent_assist"),
    ]
    assert all(len(d.journeys) >= 8 for d in ds.deployments)
    journeys = {r["journey"] for r in demo.rows("SELECT DISTINCT journey FROM interactions")}
    assert journeys == set(ds.deployments[0].journeys)
    channels = demo.rows(
        "SELECT deployment, list(DISTINCT channel ORDER BY channel) AS c FROM interactions "
        "GROUP BY 1"
    )
    assert all(r["c"] == ["chat", "voice"] for r in channels)
    assert {r["o"] for r in demo.rows("SELECT DISTINCT outcome AS o FROM interactions")} <= set(
        OUTCOMES
    )
    assert {r["r"] for r in demo.rows("SELECT DISTINCT role AS r FROM turns")} <= set(ROLES)
    assert {r["a"] for r in demo.rows("SELECT DISTINCT action AS a FROM assist")} == set(
        ASSIST_ACTIONS
    )
    features = {r["f"] for r in demo.rows("SELECT DISTINCT feature AS f FROM assist")}
    assert features == {"suggested_reply", "knowledge_card", "summary"}
    agents = demo.one("SELECT count(DISTINCT agent_ref) FROM interactions")
    assert 380 <= agents <= 400
    sites = demo.rows(
        "SELECT segments['site'] AS site, count(DISTINCT agent_ref) AS agents FROM interactions "
        "WHERE deployment = 'care-assist' GROUP BY 1 ORDER BY 1"
    )
    assert [r["site"] for r in sites] == ["cork", "leeds", "porto"]
    tenure = demo.rows("SELECT DISTINCT segments['tenure'] AS t FROM interactions")
    assert {r["t"] for r in tenure} >= {"0-6m", "6-12m", "1-2y", "2y+"}
    # Segment maps: every assist conversation has the agent's site, team, tenure and cohort.
    missing = demo.one(
        "SELECT count(*) FROM interactions WHERE deployment = 'care-assist' AND ("
        "segments['site'] IS NULL OR segments['team'] IS NULL OR segments['tenure'] IS NULL "
        "OR segments['cohort'] IS NULL OR segments['language'] IS NULL)"
    )
    assert missing == 0
    cohort_on_bot = demo.one(
        "SELECT count(*) FROM interactions WHERE deployment = 'care-bot' AND "
        "segments['cohort'] IS NOT NULL"
    )
    assert cohort_on_bot == 0
    missing = demo.one(
        "SELECT count(*) FROM interactions WHERE segments['site'] IS NULL OR "
        "segments['team'] IS NULL OR segments['tenure'] IS NULL OR segments['language'] IS NULL"
    )
    assert missing == 0
    # Handed-over bot conversations carry the agent who took them: one of the queue's team.
    handed = demo.rows(
        "SELECT outcome IN ('escalated', 'transferred') AS handed, "
        "bool_and(agent_ref IS NOT NULL) AS all_staffed, bool_or(agent_ref IS NOT NULL) AS any "
        "FROM interactions WHERE deployment = 'care-bot' GROUP BY 1"
    )
    assert {(r["handed"], r["all_staffed"], r["any"]) for r in handed} == {
        (True, True, True),
        (False, False, False),
    }
    teams = demo.one(
        "SELECT max(n) FROM (SELECT count(DISTINCT segments['team']) AS n FROM interactions "
        "WHERE agent_ref IS NOT NULL GROUP BY agent_ref)"
    )
    assert teams == 1


def test_customers_speak_clinc150_and_come_back(demo: Loaded) -> None:
    doc = corpus()
    texts = [t for items in doc["utterances"].values() for t in items] + doc["out_of_scope"]
    demo.db.register("clinc", pa.table({"text": texts}))
    foreign = demo.one(
        "SELECT count(*) FROM turns t WHERE role = 'user' AND NOT EXISTS "
        "(SELECT 1 FROM clinc c WHERE c.text = t.text)"
    )
    assert foreign == 0
    refs = demo.rows(
        "SELECT count(*) AS n, count(DISTINCT customer_ref) AS customers, "
        "bool_and(regexp_full_match(customer_ref, 'u-[0-9]{7}')) AS pseudonymous "
        "FROM interactions"
    )[0]
    assert refs["pseudonymous"]
    assert 1.2 < refs["n"] / refs["customers"] < 3


def test_journeys_and_channels_behave_differently(demo: Loaded) -> None:
    by = {
        r["journey"]: r
        for r in demo.rows(
            "SELECT journey, avg((outcome = 'contained')::INT) AS contained, "
            "median(handle_time_s) AS handle, avg(csat) AS csat FROM interactions "
            "WHERE deployment = 'care-bot' AND started_at < ?::TIMESTAMPTZ GROUP BY 1",
            [demo.ds.manifest["problems"][-1]["onset"]],  # before any problem
        )
    }
    assert by["fraud"]["contained"] < 0.35 < 0.65 < by["balance_and_transactions"]["contained"]
    assert by["fraud"]["handle"] > 3 * by["rewards"]["handle"]
    assert by["rewards"]["csat"] > by["fraud"]["csat"] + 0.5
    channel = {
        r["channel"]: r
        for r in demo.rows(
            "SELECT i.channel, median(t.latency_ms) AS latency, "
            "median(i.handle_time_s) FILTER (WHERE i.deployment = 'care-assist') AS agent_handle "
            "FROM interactions i JOIN turns t USING (deployment, interaction_id) "
            "WHERE t.role = 'assistant' OR i.deployment = 'care-assist' GROUP BY 1"
        )
    }
    assert channel["voice"]["latency"] > 1.4 * channel["chat"]["latency"]
    assert channel["chat"]["agent_handle"] > 1.1 * channel["voice"]["agent_handle"]


def test_assistant_turns_carry_their_telemetry(demo: Loaded) -> None:
    row = demo.rows(
        "SELECT count(*) AS n, count(intent) AS intent, count(confidence) AS confidence, "
        "count(fallback) AS fallback, count(latency_ms) AS latency, count(model) AS model, "
        "count(tokens_in) AS tokens, count(cost) AS cost, count(error) AS errors "
        "FROM turns WHERE role = 'assistant'"
    )[0]
    for key in ("fallback", "latency", "model", "tokens", "cost"):
        assert row[key] == row["n"], key
    assert row["n"] - row["errors"] == row["intent"] == row["confidence"]
    assert 0 < row["errors"] < 0.05 * row["n"]
    others = demo.one(
        "SELECT count(*) FROM turns WHERE role <> 'assistant' AND (intent IS NOT NULL OR "
        "latency_ms IS NOT NULL OR model IS NOT NULL)"
    )
    assert others == 0


def test_pilot_cohort_is_volunteers_then_rollout(demo: Loaded) -> None:
    rows = demo.rows(
        "SELECT started_at < ?::TIMESTAMPTZ AS pilot_period, count(DISTINCT agent_ref) AS agents, "
        "list(DISTINCT segments['cohort']) AS cohorts, "
        "avg((segments['tenure'] IN ('1-2y', '2y+'))::INT) AS senior "
        "FROM interactions WHERE deployment = 'care-assist' GROUP BY 1 ORDER BY 1",
        [demo.ds.manifest["cohorts"]["pilot_until"]],
    )
    rollout, pilot = rows
    assert pilot["pilot_period"]
    assert pilot["cohorts"] == ["pilot"]
    volunteers = demo.ds.manifest["cohorts"]["pilot_agents"]
    assert pilot["agents"] <= volunteers < 300 < rollout["agents"]
    assert volunteers == len(demo.ds.manifest["adoption"]["pilot"]["agents"])
    assert sorted(rollout["cohorts"]) == ["pilot", "rollout"]
    assert pilot["senior"] > rollout["senior"] + 0.3
