"""Every registered metric on tiny, hand-checked data; a meta-test keeps the table complete."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from daytwo.ingest.decode import decode_json
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.query import Slice
from daytwo.metrics.service import metric_points, totals
from daytwo.store.events import EventStore, open_event_store


def _t(seq: int, role: str, **kw: Any) -> dict[str, Any]:
    return {"seq": seq, "role": role, "ts": f"2026-03-02T09:00:{seq:02d}Z", **kw}


RECORDS: list[dict[str, Any]] = [
    {
        "id": "i1",
        "deployment": "g",
        "started_at": "2026-03-02T09:00:00Z",
        "journey": "A",
        "channel": "chat",
        "outcome": "contained",
        "csat": 5,
        "handle_time_s": 60,
        "cost": 0.1,
        "ai_used": True,
        "customer_ref": "u1",
        "segments": {"site": "x"},
        "turns": [
            _t(0, "user", text="hi"),
            _t(
                1,
                "assistant",
                latency_ms=100,
                fallback=False,
                confidence=0.9,
                tokens_in=10,
                tokens_out=5,
                cost=0.001,
            ),
            _t(2, "user", text="thanks"),
            _t(3, "assistant", latency_ms=300),
        ],
    },
    {
        "id": "i2",
        "deployment": "g",
        "started_at": "2026-03-03T10:00:00Z",
        "journey": "A",
        "channel": "voice",
        "outcome": "escalated",
        "csat": 2,
        "handle_time_s": 300,
        "cost": 2.0,
        "ai_used": True,
        "customer_ref": "u1",
        "agent_ref": "a1",
        "segments": {"site": "y"},
        "turns": [
            _t(0, "user", text="card"),
            _t(1, "assistant", fallback=True, latency_ms=200),
            _t(2, "user", text="card"),
            _t(3, "assistant", error="x", latency_ms=400),
            _t(4, "agent", text="hello"),
        ],
    },
    {
        "id": "i3",
        "deployment": "g",
        "started_at": "2026-03-02T11:00:00Z",
        "journey": "B",
        "channel": "chat",
        "outcome": "abandoned",
        "handle_time_s": 30,
        "cost": 0.05,
        "ai_used": True,
        "customer_ref": "u2",
        "segments": {"site": "x"},
        "turns": [
            _t(0, "user", text="this is useless"),
            _t(1, "assistant", fallback=True, latency_ms=500),
        ],
    },
    {
        "id": "i4",
        "deployment": "g",
        "started_at": "2026-03-02T12:00:00Z",
        "journey": "B",
        "channel": "chat",
        "outcome": "resolved_by_agent",
        "csat": 4,
        "handle_time_s": 200,
        "agent_ref": "a2",
        "ai_used": False,
        "nps": 10,
        "segments": {"site": "y"},
        "turns": [_t(0, "user", text="great, thank you"), _t(1, "agent", text="welcome")],
        "assist_events": [
            {"action": "shown"},
            {"action": "accepted"},
            {"action": "shown"},
            {"action": "dismissed"},
        ],
    },
    {
        "id": "i5",
        "deployment": "g",
        "started_at": "2026-03-02T13:00:00Z",
        "journey": "A",
        "channel": "chat",
        "outcome": "transferred",
        "handle_time_s": 100,
        "agent_ref": "a2",
        "customer_ref": "u3",
        "nps": 3,
        "segments": {"site": "x"},
        "assist_events": [{"action": "shown"}, {"action": "edited"}],
    },
]

# Expected over the whole range, by hand from the definitions (see each metric's formula).
GOLDEN: dict[str, tuple[float | None, int | None]] = {
    "availability": (4 / 5, 5),
    "error_rate": (1 / 13, 13),
    "latency_p50": (300.0, 5),
    "latency_p95": (480.0, 5),  # 400 + 0.8 * (500 - 400)
    "latency_p99": (496.0, 5),
    "containment_rate": (1 / 5, 5),
    "fallback_rate_turn": (2 / 5, 5),
    "fallback_rate_conversation": (2 / 3, 3),
    "escalation_rate": (2 / 5, 5),
    "abandonment_rate": (1 / 5, 5),
    "rephrase_rate": (1 / 2, 2),
    "repeat_contact_7d": (1 / 4, 4),
    "active_agents": (1.0, None),
    "ai_usage_rate": (3 / 4, 4),
    "suggestion_acceptance_rate": (2 / 3, 3),
    "feature_utilisation": (2 / 3, 3),
    "average_handle_time": (690 / 5, 5),
    "cost_per_interaction": (2.15 / 3, 3),
    "ai_cost": (0.001, None),
    "hours_saved": (200 / 3600, None),
    "contact_volume": (5.0, None),
    "feedback_volume": (3.0, None),
    "median_resolution_time": (130.0, 2),
    "first_contact_resolution": (0.0, 1),
    "csat": (11 / 3, 3),
    "nps": (0.0, 2),
    "sentiment": (1 / 3, 3),
}

WHOLE = Slice("g", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))


@pytest.fixture(scope="module")
def store() -> Any:
    s = open_event_store("duckdb:///:memory:")
    decoded = decode_json(orjson.dumps(RECORDS))
    assert decoded.errors == []
    s.write(decoded.batch, source="t", batch_id="1")
    yield s
    s.close()


def test_every_metric_has_a_golden_case() -> None:
    assert set(GOLDEN) == set(REGISTRY), set(REGISTRY) ^ set(GOLDEN)


@pytest.mark.parametrize("metric_id", sorted(GOLDEN))
def test_golden_value(store: EventStore, metric_id: str) -> None:
    expected, n = GOLDEN[metric_id]
    est = totals(store, [metric_id], WHOLE)[metric_id]
    assert est.value == pytest.approx(expected, abs=1e-9)
    assert est.n == n


def _wilson(k: int, n: int) -> tuple[float, float]:
    # Textbook form, written out independently of calc.wilson.
    z = 1.959963984540054
    p = k / n
    centre = p + z**2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return ((centre - spread) / (1 + z**2 / n), (centre + spread) / (1 + z**2 / n))


def test_rates_carry_wilson_intervals(store: EventStore) -> None:
    est = totals(store, ["containment_rate"], WHOLE)["containment_rate"]
    lo, hi = _wilson(1, 5)
    assert (est.lo, est.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert est.lo is not None
    assert est.lo < 0.2 < (est.hi or 0)


def test_empty_slice_has_no_value(store: EventStore) -> None:
    empty = replace(
        WHOLE, start=datetime(2025, 1, 1, tzinfo=UTC), end=datetime(2025, 1, 2, tzinfo=UTC)
    )
    result = totals(store, list(REGISTRY), empty)
    assert result["containment_rate"].value is None
    assert result["containment_rate"].n == 0
    assert result["contact_volume"].value == 0
    assert result["latency_p95"].value is None


def test_grouping_by_journey_segment_and_day(store: EventStore) -> None:
    by_journey = {
        p.group["journey"]: p
        for p in metric_points(store, ["containment_rate"], replace(WHOLE, group_by=("journey",)))
    }
    assert by_journey["A"].value == pytest.approx(1 / 3)
    assert by_journey["B"].value == 0.0
    by_site = {
        p.group["site"]: p
        for p in metric_points(store, ["containment_rate"], replace(WHOLE, group_by=("site",)))
    }
    assert (by_site["x"].value, by_site["x"].n) == (pytest.approx(1 / 3), 3)
    by_day = metric_points(store, ["contact_volume"], replace(WHOLE, bucket="day"))
    assert [(p.bucket.day if p.bucket else None, p.value) for p in by_day] == [(2, 4.0), (3, 1.0)]
    by_hour = metric_points(store, ["contact_volume"], replace(WHOLE, bucket="hour"))
    assert len(by_hour) == 5


def test_filters(store: EventStore) -> None:
    voice = replace(WHOLE, filters=(("channel", ("voice",)),))
    assert totals(store, ["contact_volume"], voice)["contact_volume"].value == 1
    site_y = replace(WHOLE, filters=(("site", ("y",)),))
    assert totals(store, ["escalation_rate"], site_y)["escalation_rate"].value == 0.5
    # Turn metrics honour interaction filters too.
    assert totals(store, ["latency_p50"], voice)["latency_p50"].value == 300.0
