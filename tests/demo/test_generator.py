"""The demo generator: deterministic, valid, and every injected problem really in the data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from daytwo.demo.generator import DemoConfig, DemoDataset, corpus, generate
from daytwo.interactions.validate import validate_batch
from daytwo.store.events import EventStore, open_event_store

CONFIG = DemoConfig(seed=11, days=60, interactions_per_day=700, end=date(2026, 9, 30))


def _load(config: DemoConfig) -> tuple[DemoDataset, EventStore, int]:
    ds = generate(config)
    store = open_event_store("duckdb:///:memory:")
    deliveries = 0
    for i, batch in enumerate(ds.batches()):
        assert validate_batch(batch) == [], f"batch {i} is invalid"
        store.write(batch, source="demo", batch_id=str(i))
        deliveries += batch.n_records
    return ds, store, deliveries


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[DemoDataset, EventStore, int]]:
    ds, store, deliveries = _load(CONFIG)
    yield ds, store, deliveries
    store.close()


@pytest.fixture(scope="module")
def calm() -> Iterator[tuple[DemoDataset, EventStore, int]]:
    ds, store, deliveries = _load(
        DemoConfig(
            seed=11, days=60, interactions_per_day=700, end=date(2026, 9, 30), problems=False
        )
    )
    yield ds, store, deliveries
    store.close()


def one(store: EventStore, sql: str, params: list[Any] | None = None) -> Any:
    return store.query(sql, params)[0][0].as_py()


def problem(ds: DemoDataset, kind: str) -> dict[str, Any]:
    return next(p for p in ds.manifest["problems"] if p["kind"] == kind)


def test_same_seed_same_data_other_seed_other_data() -> None:
    small = DemoConfig(seed=3, days=20, interactions_per_day=100, end=date(2026, 9, 30))
    a = next(iter(generate(small).batches()))
    b = next(iter(generate(small).batches()))
    c = next(
        iter(
            generate(
                DemoConfig(seed=4, days=20, interactions_per_day=100, end=date(2026, 9, 30))
            ).batches()
        )
    )
    assert a.interactions.equals(b.interactions)
    assert a.turns.equals(b.turns)
    assert not a.turns.equals(c.turns)


def test_shape_of_the_deployment(demo: tuple[DemoDataset, EventStore, int]) -> None:
    ds, store, _ = demo
    assert [d.name for d in ds.deployments] == ["care-bot", "care-assist"]
    journeys = one(store, "SELECT count(DISTINCT journey) FROM interactions")
    assert journeys >= 8
    assert set(
        store.query("SELECT DISTINCT channel FROM interactions WHERE deployment = 'care-bot'")[
            "channel"
        ].to_pylist()
    ) == {"chat", "voice"}
    sites = store.query(
        "SELECT DISTINCT segments['site'] AS s FROM interactions WHERE deployment = 'care-assist'"
    )["s"].to_pylist()
    assert sorted(sites) == ["cork", "leeds", "porto"]
    agents = one(
        store, "SELECT count(DISTINCT agent_ref) FROM interactions WHERE deployment = 'care-assist'"
    )
    assert 300 <= agents <= 400
    # Real CLINC150 utterances are what customers say.
    texts = set(corpus()["utterances"]["balance"])
    sample = store.query("SELECT text FROM turns WHERE role = 'user' LIMIT 2000")["text"]
    assert any(t in texts for t in sample.to_pylist())


def test_pilot_cohort_is_volunteers_then_rollout(demo: tuple[DemoDataset, EventStore, int]) -> None:
    ds, store, _ = demo
    rows = store.query(
        "SELECT (started_at < ?::TIMESTAMPTZ + INTERVAL 14 DAY) AS pilot_period, "
        "count(DISTINCT agent_ref) AS agents, "
        "avg(CASE WHEN segments['tenure'] IN ('1-2y', '2y+') THEN 1 ELSE 0 END) AS senior "
        "FROM interactions WHERE deployment = 'care-assist' GROUP BY 1 ORDER BY 1",
        [ds.start.isoformat()],
    ).to_pylist()
    rollout, pilot = rows
    assert pilot["pilot_period"]
    assert pilot["agents"] <= 40 < rollout["agents"]
    assert pilot["senior"] > rollout["senior"] + 0.2


def _gap_texts() -> list[str]:
    return [t for i in corpus()["gap"] for t in corpus()["utterances"][i]]


def test_knowledge_gap_opens_midway_and_falls_back(
    demo: tuple[DemoDataset, EventStore, int],
) -> None:
    ds, store, _ = demo
    onset = problem(ds, "knowledge_gap")["onset"]
    rows = store.query(
        "SELECT i.started_at >= ?::TIMESTAMPTZ AS after, count(DISTINCT i.interaction_id) AS n, "
        "avg(CASE WHEN i.n_fallback_turns > 0 THEN 1 ELSE 0 END) AS fallback "
        "FROM turns t JOIN interactions i USING (deployment, interaction_id) "
        "WHERE t.role = 'user' AND list_contains(?::VARCHAR[], t.text) GROUP BY 1 ORDER BY 1",
        [onset, _gap_texts()],
    ).to_pylist()
    by = {r["after"]: r for r in rows}
    assert False not in by or by[False]["n"] == 0
    assert by[True]["n"] > 100
    assert by[True]["fallback"] > 0.6


def _rate(store: EventStore, sql_rate: str, where: str, params: list[Any]) -> float:
    return float(one(store, f"SELECT {sql_rate} FROM interactions WHERE {where}", params))


def test_model_change_slows_and_breaks_chat_only(demo: tuple[DemoDataset, EventStore, int]) -> None:
    ds, store, _ = demo
    onset = problem(ds, "latency_error_regression")["onset"]
    q = (
        "SELECT quantile_cont(t.latency_ms, 0.95) AS p95, "
        "avg(CASE WHEN t.error IS NOT NULL THEN 1 ELSE 0 END) AS err FROM turns t "
        "JOIN interactions i USING (deployment, interaction_id) WHERE t.role = 'assistant' "
        "AND i.channel = ? AND (t.ts >= ?::TIMESTAMPTZ) = ?"
    )
    chat_before = store.query(q, ["chat", onset, False]).to_pylist()[0]
    chat_after = store.query(q, ["chat", onset, True]).to_pylist()[0]
    voice_before = store.query(q, ["voice", onset, False]).to_pylist()[0]
    voice_after = store.query(q, ["voice", onset, True]).to_pylist()[0]
    assert chat_after["p95"] > 1.4 * chat_before["p95"]
    assert chat_after["err"] > 0.03 > 0.01 > chat_before["err"]
    assert voice_after["p95"] < 1.15 * voice_before["p95"]
    assert voice_after["err"] < 0.01


def _escalation(store: EventStore, journey_sql: str, onset: str, after: bool) -> float:
    return _rate(
        store,
        "avg(CASE WHEN outcome IN ('escalated', 'transferred') THEN 1 ELSE 0 END)",
        f"deployment = 'care-bot' AND {journey_sql} AND (started_at >= ?::TIMESTAMPTZ) = ?",
        [onset, after],
    )


def test_flow_change_raises_escalation_in_one_journey(
    demo: tuple[DemoDataset, EventStore, int],
) -> None:
    ds, store, _ = demo
    p = problem(ds, "escalation_rise")
    j = p["scope"]["journey"]
    inside = _escalation(store, f"journey = '{j}'", p["onset"], True) - _escalation(
        store, f"journey = '{j}'", p["onset"], False
    )
    others = _escalation(
        store, "journey IN ('rewards', 'fraud', 'credit_limit')", p["onset"], True
    ) - _escalation(store, "journey IN ('rewards', 'fraud', 'credit_limit')", p["onset"], False)
    assert inside > 0.12
    assert abs(others) < 0.05


def test_adoption_decays_at_one_site(demo: tuple[DemoDataset, EventStore, int]) -> None:
    ds, store, _ = demo
    p = problem(ds, "adoption_decay")
    site = p["scope"]["site"]
    q = (
        "SELECT segments['site'] AS site, "
        "sum(n_assist_accepted + n_assist_edited) / sum(n_assist_shown) AS acceptance "
        "FROM interactions WHERE deployment = 'care-assist' AND started_at >= ?::TIMESTAMPTZ "
        "AND started_at < ?::TIMESTAMPTZ GROUP BY 1"
    )
    # After the pilot (whose volunteers accept more), before the decay.
    onset = date.fromisoformat(p["onset"][:10])
    before = {
        r["site"]: r["acceptance"]
        for r in store.query(
            q, [f"{date.fromordinal(onset.toordinal() - 14).isoformat()}T00:00:00Z", p["onset"]]
        ).to_pylist()
    }
    last = date.fromisoformat(ds.manifest["end"])
    final_week = [
        f"{date.fromordinal(last.toordinal() - 6).isoformat()}T00:00:00Z",
        f"{last.isoformat()}T23:59:59Z",
    ]
    after = {r["site"]: r["acceptance"] for r in store.query(q, final_week).to_pylist()}
    assert after[site] < 0.5 * before[site]
    for other in ("leeds", "cork"):
        assert after[other] > 0.85 * before[other]


def test_feed_outage_leaves_a_hole(demo: tuple[DemoDataset, EventStore, int]) -> None:
    ds, store, _ = demo
    p = problem(ds, "feed_outage")
    inside = one(
        store,
        "SELECT count(*) FROM interactions WHERE started_at >= ?::TIMESTAMPTZ "
        "AND started_at < ?::TIMESTAMPTZ",
        [p["onset"], p["end"]],
    )
    same_hours_day_before = one(
        store,
        "SELECT count(*) FROM interactions WHERE started_at >= ?::TIMESTAMPTZ - "
        "INTERVAL 7 DAY AND started_at < ?::TIMESTAMPTZ - INTERVAL 7 DAY",
        [p["onset"], p["end"]],
    )
    assert inside == 0
    assert same_hours_day_before > 50


def test_duplicates_are_delivered_and_absorbed(demo: tuple[DemoDataset, EventStore, int]) -> None:
    ds, store, deliveries = demo
    stored = store.count("interactions")
    duplicates = deliveries - stored
    assert duplicates > 20
    assert store.count("deliveries") == deliveries
    p = problem(ds, "duplicate_deliveries")
    outside = one(
        store,
        "SELECT count(*) FROM (SELECT d.interaction_id FROM deliveries d "
        "JOIN interactions i USING (deployment, interaction_id) "
        "WHERE i.started_at < ?::TIMESTAMPTZ OR i.started_at >= ?::TIMESTAMPTZ "
        "GROUP BY 1 HAVING count(*) > 1)",
        [p["onset"], p["end"]],
    )
    assert outside == 0


def test_fix_raises_containment_by_the_true_effect(
    demo: tuple[DemoDataset, EventStore, int],
) -> None:
    ds, store, _ = demo
    p = problem(ds, "improvement")
    j = p["scope"]["journey"]
    rate = "avg(CASE WHEN outcome = 'contained' THEN 1 ELSE 0 END)"
    # Only the window before the other problems start: nothing else moves in it.
    flow = problem(ds, "escalation_rise")["onset"]
    where = (
        "deployment = 'care-bot' AND journey {} AND (started_at >= ?::TIMESTAMPTZ) = ? "
        "AND started_at < ?::TIMESTAMPTZ"
    )

    def c(cond: str, after: bool) -> float:
        return _rate(store, rate, where.format(cond), [p["onset"], after, flow])

    effect = c(f"= '{j}'", True) - c(f"= '{j}'", False)
    control = c("IN ('rewards', 'fraud', 'applications')", True) - c(
        "IN ('rewards', 'fraud', 'applications')", False
    )
    assert abs(effect - p["expected"]["containment_delta"]) < 0.06
    assert abs(control) < 0.04


def test_without_problems_nothing_is_injected(calm: tuple[DemoDataset, EventStore, int]) -> None:
    ds, store, deliveries = calm
    assert ds.manifest["problems"] == []
    assert deliveries == store.count("interactions")
    assert one(store, "SELECT count(*) FROM turns WHERE model = 'gpt-4.1-mini'") == 0
    assert (
        one(
            store,
            "SELECT count(*) FROM turns WHERE list_contains(?::VARCHAR[], text)",
            [_gap_texts()],
        )
        == 0
    )
    hours = one(
        store,
        "SELECT count(DISTINCT date_trunc('hour', started_at)) FROM interactions "
        "WHERE extract('hour' FROM started_at) BETWEEN 9 AND 13",
    )
    assert hours == 60 * 5  # every daytime hour of every day has traffic
