"""Answers kept across the looks cut out of one read (:class:`~daytwo.detect.data.Memo`): a
kept answer is the one computed anew, a look that holds part of a day never takes a whole
day's, and a read after a write starts with nothing kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from daytwo.adoption.decline import DeclineDetectorParams, detect_adoption_decline
from daytwo.adoption.frames import (
    FEATURE_DAYS,
    FIRST_OFFERS,
    SUGGESTION_DAYS,
    SUGGESTION_EVENTS,
    agent_days,
    suggestions,
)
from daytwo.adoption.workarounds import WorkaroundParams, detect_adoption_workarounds
from daytwo.detect.data import DeploymentInfo, Memo, Window, day_runs
from daytwo.detect.registry import Needs
from daytwo.detect.runner import look_at, read_history
from daytwo.ingest.decode import decode_json
from daytwo.ingest.service import ingest
from daytwo.store.events import EventStore, open_event_store
from tests.factory import interaction

T0 = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)
NEEDS = [Needs(reads=(FEATURE_DAYS,))]
INFO = DeploymentInfo("desk", kind="agent_assist")


def _conversation(day: int, k: int, *, hour: int | None = None) -> dict[str, Any]:
    """Conversation ``k`` of ``day``: agents, sites and suggestions vary with both."""
    rec = interaction(day * 10 + k, deployment="desk", turns=2)
    start = T0 + day * DAY + timedelta(hours=hour if hour is not None else 1 + 2 * k)
    rec["id"] = f"c-{day:02d}-{k}{'-late' if hour is not None else ''}"
    rec["started_at"] = start.isoformat()
    rec["ended_at"] = (start + timedelta(minutes=3)).isoformat()
    rec["agent_ref"] = f"a-{(day + k) % 4}"
    rec["segments"] = {"site": ("leeds", "porto")[k % 2], "team": f"t{k % 3}", "tenure": "1-2y"}
    for turn in rec["turns"]:
        del turn["ts"]
    used = (day * 7 + k) % 3 != 0
    rec["assist_events"] = [
        {"action": "shown", "feature": "suggested_reply"},
        {"action": "accepted" if used else "dismissed", "feature": "suggested_reply"},
    ]
    return rec


def _store(tmp_path: Path, records: list[dict[str, Any]]) -> EventStore:
    events = open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}")
    assert ingest(events, decode_json(orjson.dumps(records)), source="test").accepted == len(
        records
    )
    return events


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows by agent and day (the engine's grouping gives no order; every reader sorts or
    sums them)."""
    rows: list[dict[str, Any]] = table.sort_by(
        [("agent_ref", "ascending"), ("day", "ascending")]
    ).to_pylist()
    return rows


def _window(end: datetime) -> Window:
    return Window(T0, T0 + 14 * DAY, end - 7 * DAY, end)


def test_memo_computes_once_per_key() -> None:
    memo = Memo()
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert [memo.get("a", compute), memo.get("a", compute), memo.get("b", compute)] == [1, 1, 2]
    assert (memo.hits, memo.misses, len(memo)) == (1, 2, 2)


def test_day_runs_cut_rows_ordered_by_start_by_utc_day() -> None:
    us = 86_400_000_000
    starts = [us * 3 + 5, us * 3 + 9, us * 4, us * 6 + 1, us * 6 + 2, us * 6 + 3]
    assert day_runs(pa.array(starts, pa.int64()).to_numpy()) == [(3, 0, 2), (4, 2, 1), (6, 3, 3)]
    assert day_runs(pa.array([], pa.int64()).to_numpy()) == []


def test_kept_agent_days_are_the_ones_computed_anew_in_every_look(tmp_path: Path) -> None:
    records = [_conversation(day, k) for day in range(30) for k in range(5)]
    # Looks that end at midnight, and one that ends mid-day: its last day is part of a day a
    # later look holds whole (agent_days reads the interactions only: no read cut by day
    # keeps the mid-day look out of the run).
    mid = T0 + 27 * DAY + timedelta(hours=6)
    ends = [T0 + d * DAY for d in (21, 22, 23, 26)] + [mid, T0 + 28 * DAY]
    with _store(tmp_path, records) as events:
        history = read_history(events, INFO, [_window(e) for e in ends], [Needs()])
        for end in ends:
            data = look_at(history, _window(end))
            assert data.memo is history.memo
            kept = agent_days(data.interactions, data.memo)
            assert kept.num_rows > 0
            assert _rows(kept) == _rows(agent_days(data.interactions)), end
        # Each later look took the days an earlier one computed.
        assert history.memo.hits > 0

        # The mid-day look holds 6 hours of its last day, which the next look holds whole:
        # a day's rows kept by the day alone would have been wrong for one of them.
        def conversations_on(end: datetime) -> float:
            table = agent_days(look_at(history, _window(end)).interactions)
            on = table.filter(pc.equal(table["day"], mid.date()))
            return float(sum(on["conversations"].to_pylist()))

        assert 0 < conversations_on(mid) < conversations_on(T0 + 28 * DAY)


def test_the_decline_detector_finds_the_same_with_kept_answers(tmp_path: Path) -> None:
    records = [_conversation(day, k) for day in range(30) for k in range(5)]
    ends = [T0 + d * DAY for d in (24, 25, 26)]
    params = DeclineDetectorParams()
    with _store(tmp_path, records) as events:
        history = read_history(events, INFO, [_window(e) for e in ends], NEEDS)
        for end in ends:
            data = look_at(history, _window(end))
            kept = detect_adoption_decline(data, params)
            anew = detect_adoption_decline(
                type(data)(data.deployment, data.window, data.interactions, data.turns,
                           data.deliveries, data.assist_events, data.reads),
                params,
            )  # fmt: skip
            assert kept == anew
            assert [f.details for f in kept] == [f.details for f in anew]
        assert history.memo.hits > 0


@pytest.mark.parametrize("day", [3, 20])
def test_a_read_after_a_write_keeps_nothing_from_before(tmp_path: Path, day: int) -> None:
    """A conversation written into a day the looks already computed (a backfill) is in the
    next read's answers: that read starts with an empty memo."""
    records = [_conversation(d, k) for d in range(30) for k in range(5)]
    end = T0 + 26 * DAY
    with _store(tmp_path, records) as events:
        before = read_history(events, INFO, [_window(end)], NEEDS)
        data = look_at(before, _window(end))
        old = agent_days(data.interactions, data.memo)
        assert len(before.memo) > 0
        late = _conversation(day, 9, hour=23)
        assert ingest(events, decode_json(orjson.dumps([late])), source="test").accepted == 1
        after = read_history(events, INFO, [_window(end)], NEEDS)
        assert len(after.memo) == 0
        data = look_at(after, _window(end))
        new = agent_days(data.interactions, data.memo)
        assert _rows(new) == _rows(agent_days(data.interactions))
        assert _rows(new) != _rows(old)
        assert sum(new["conversations"].to_pylist()) == sum(old["conversations"].to_pylist()) + 1


SUGGESTED = "I have blocked the card and ordered a replacement"
WORKAROUND_NEEDS = [Needs(reads=(FEATURE_DAYS, FIRST_OFFERS, SUGGESTION_EVENTS))]


def _assisted(day: int, k: int, *, hour: int | None = None) -> dict[str, Any]:
    """Conversation ``k`` of ``day`` with suggested replies acted on and the agent's messages
    after them: some retyped, some rewritten, some sent as suggested, one with no message."""
    rec = _conversation(day, k, hour=hour)
    start = datetime.fromisoformat(rec["started_at"])
    rec["agent_ref"] = f"a-{(day * 3 + k) % 6}"
    rec["ai_used"] = k % 4 != 0
    rec["assist_events"], rec["turns"] = [], []
    for s in range(3):
        at = start + timedelta(minutes=s)
        action = ("dismissed", "accepted", "edited")[(day + k + s) % 3]
        rec["assist_events"] += [
            {"action": "shown", "feature": "suggested_reply", "ts": at.isoformat(),
             "text": f"{SUGGESTED} ({s})"},
            {"action": action, "feature": "suggested_reply",
             "ts": (at + timedelta(seconds=5)).isoformat()},
        ]  # fmt: skip
        if (day + s) % 5 == 4:
            continue  # no message after this one
        said = SUGGESTED.lower() if (k + s) % 2 else f"let me look into that ({day})"
        rec["turns"].append(
            {"seq": s, "ts": (at + timedelta(seconds=20)).isoformat(), "role": "agent",
             "text": said}
        )  # fmt: skip
    return rec


def test_kept_suggestions_and_workarounds_are_the_ones_computed_anew(tmp_path: Path) -> None:
    records = [_assisted(day, k) for day in range(30) for k in range(5)]
    ends = [T0 + d * DAY for d in (21, 22, 23, 26, 28)]
    params = WorkaroundParams()
    with _store(tmp_path, records) as events:
        history = read_history(events, INFO, [_window(e) for e in ends], WORKAROUND_NEEDS)
        for end in ends:
            data = look_at(history, _window(end))
            since = end - timedelta(days=SUGGESTION_DAYS)
            read = data.read(SUGGESTION_EVENTS)
            # The days judged, and the same less the first six hours: a look holding part of
            # a day never takes the whole day's pairs (nor the whole day a part's).
            for start in (since, since + timedelta(hours=6), since):
                kept = suggestions(read, start, end, data.memo)
                anew = suggestions(read, start, end)
                assert len(anew.suggestion) > 0
                assert None in anew.next_message
                assert any(m is not None for m in anew.next_message)
                for name in ("interaction_id", "agent_ref", "action"):
                    assert getattr(kept, name).tolist() == getattr(anew, name).tolist(), name
                assert (kept.suggestion, kept.next_message) == (anew.suggestion, anew.next_message)
            alone = type(data)(data.deployment, data.window, data.interactions, data.turns,
                               data.deliveries, data.assist_events, data.reads)  # fmt: skip
            found = detect_adoption_workarounds(data, params)
            assert found == detect_adoption_workarounds(alone, params)
            assert [f.details for f in found] == [
                f.details for f in detect_adoption_workarounds(alone, params)
            ]
        assert history.memo.hits > 0
