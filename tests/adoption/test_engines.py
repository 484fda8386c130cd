"""Cohorts and the pilot comparison give the same answers on both events engines (DuckDB and
ClickHouse), and a cohort never offered the AI answers "no comparison", not a crash."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from daytwo.adoption import cohorts, compare, pilot_runs, usage
from daytwo.adoption.cohorts import Resolved
from daytwo.adoption.schemas import Period
from daytwo.ingest.decode import decode_json
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.conftest import ENGINES

D0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
PILOT = ("p0", "p1", "p2")
ROLLOUT = ("r0", "r1", "r2")
PERIOD = Period(start=D0 - timedelta(hours=10), end=D0 + timedelta(days=14))


def _write(events: EventStore, *, rollout_offered: bool = True, pilot_offered: bool = True) -> None:
    """The pilot from day 0 (both suggestions of each conversation accepted), the rollout from
    day 5 (one of two accepted); two conversations a day each, at the same two sites."""
    records: list[dict[str, Any]] = []
    for agent in PILOT + ROLLOUT:
        pilot = agent in PILOT
        offered = pilot_offered if pilot else rollout_offered
        for day in range(0 if pilot else 5, 10):
            for m in range(2):
                shown = [{"action": "shown"}] * 2 if offered else []
                taken = [{"action": "accepted"}] * (2 if pilot else 1) if offered else []
                records.append({
                    "id": f"{agent}-{day}-{m}", "deployment": "desk",
                    "started_at": (D0 + timedelta(days=day, minutes=10 * m)).isoformat(),
                    "agent_ref": agent, "journey": "cards", "ai_used": offered,
                    "handle_time_s": 300.0,
                    "segments": {
                        "site": ("porto", "leeds")[int(agent[1]) % 2], "tenure": "0-6m",
                        **({"cohort": "pilot"} if pilot else {}),
                    },
                    "assist_events": shown + taken,
                })  # fmt: skip
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    events.write(decoded.batch, source="test", batch_id="a")


def _pair() -> tuple[Resolved, Resolved]:
    return (
        Resolved("pilot", "pilot", frozenset(PILOT), (), "the pilot"),
        Resolved("rollout", "rollout", frozenset(ROLLOUT), (), "every other agent"),
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_first_offers_and_the_pilot_gap_are_the_same_on_both_engines(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    _write(events)
    assert cohorts.first_offered(events, "desk") == {
        **dict.fromkeys(PILOT, date(2026, 3, 2)),
        **dict.fromkeys(ROLLOUT, date(2026, 3, 7)),
    }
    c = compare.pilot_vs_rollout(events, "desk", _pair())
    k = next(k for k in c.kpis if k.kpi == "suggestion_acceptance_rate")
    assert (k.focus_value, k.other_value) == (1.0, 0.5)
    assert (k.focus_agents, k.other_agents) == (3, 3)
    assert c.window == "each cohort's first 5 days with the tool"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cohort_never_offered_the_ai_is_no_comparison(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    _write(events, rollout_offered=False)
    with pytest.raises(compare.NoComparison, match="none of the 3 agents of the rollout"):
        compare.pilot_vs_rollout(events, "desk", _pair())


@pytest.mark.parametrize("engine", ENGINES)
def test_the_run_records_no_comparison_with_its_reason(
    settings: Settings, events: EventStore
) -> None:
    _write(events, pilot_offered=False)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        found, note = pilot_runs.compare_now(ledger, events, "desk", PERIOD)
    finally:
        ledger.dispose()
    assert found is None
    assert note.startswith("No comparison: none of the 3 agents of the pilot")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_far_future_end_reads_the_same_days_on_both_engines(
    new_events: Callable[[], EventStore],
) -> None:
    """A period ending past 2149-06-06, where ClickHouse's plain ``Date`` wraps round (a time
    in 2150 cast to it reads 1970, leaving out every day), counts the same days (the period
    before it, of the same length, still starts after 1900-01-01)."""
    events = new_events()
    _write(events)
    far = Period(start=PERIOD.start, end=PERIOD.end.replace(year=2150))
    keep = {"acceptance", "acceptance_n", "usage", "completion", "agents_offered", "frequency"}
    got = usage.headline(events, "desk", far, None).model_dump(include=keep)
    assert got == usage.headline(events, "desk", PERIOD, None).model_dump(include=keep)
    assert got["acceptance_n"] == 2 * 2 * (3 * 10 + 3 * 5)
