"""What the events engine computes for the adoption detectors (feature days, first offers,
suggestion events) is what their twins compute from the raw rows, on both engines; so are the
findings; and a look cut out of a longer history reads the same as a look read alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from daytwo.adoption.detectors import DETECTORS
from daytwo.adoption.frames import (
    FEATURE_DAYS,
    FIRST_OFFERS,
    SUGGESTION_DAYS,
    SUGGESTION_EVENTS,
)
from daytwo.detect.data import AnalysisData, DeploymentInfo, EngineRead
from daytwo.detect.findings import Finding
from daytwo.detect.registry import Needs
from daytwo.detect.runner import load_data, look_at, read_history, run_detectors
from daytwo.ingest.decode import decode_json
from daytwo.store.events import EventStore
from tests.adoption.data import WINDOW, History, stopped_site, workaround_floor
from tests.conftest import ENGINES

INFO = DeploymentInfo("desk", "agent_assist")
READS = (FEATURE_DAYS, FIRST_OFFERS, SUGGESTION_EVENTS)
# The detectors' needs, and the raw assist events and agent turns their reads' twins compute
# from (the detectors themselves read no turn).
NEEDS = [d.needs for d in DETECTORS] + [
    Needs(turn_columns=("ts", "role", "text"), turn_days=SUGGESTION_DAYS, assist_events=True)
]


def _store(events: EventStore, h: History) -> None:
    """``h``'s rows written through the ingest path (attributes as extra keys)."""
    assist: dict[str, list[dict[str, Any]]] = {}
    for e in h.assist:
        extra = orjson.loads(e["attributes"]) if e.get("attributes") else {}
        assist.setdefault(e["interaction_id"], []).append({
            "ts": e["ts"].isoformat(), "agent_ref": e["agent_ref"], "feature": e["feature"],
            "action": e["action"], **extra,
        })  # fmt: skip
    turns: dict[str, list[dict[str, Any]]] = {}
    for t in h.turns:
        turns.setdefault(t["interaction_id"], []).append(
            {"seq": t["seq"], "ts": t["ts"].isoformat(), "role": t["role"], "text": t["text"]}
        )
    records = [
        {
            "id": i["interaction_id"], "deployment": "desk",
            "started_at": i["started_at"].isoformat(), "agent_ref": i["agent_ref"],
            "journey": i["journey"], "segments": dict(i["segments"]), "ai_used": i["ai_used"],
            "assist_events": assist.get(i["interaction_id"], []),
            "turns": turns.get(i["interaction_id"], []),
        }
        for i in h.interactions
    ]  # fmt: skip
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    events.write(decoded.batch, source="test", batch_id="a")


def _rows(table: pa.Table) -> dict[str, list[Any]]:
    """A read's columns, its rows in one order (the engines group in their own), times as
    microseconds (whole datetimes are slow to build)."""
    columns = {
        n: pc.cast(c, pa.int64()) if pa.types.is_timestamp(c.type) else c
        for n, c in zip(table.column_names, table.columns, strict=True)
    }
    plain = pa.table(columns)
    out: dict[str, list[Any]] = plain.sort_by(
        [(n, "ascending") for n in plain.column_names]
    ).to_pydict()
    return out


def _same_reads(data: AnalysisData, reads: tuple[EngineRead, ...] = READS) -> None:
    for r in reads:
        engine = data.reads[r.name]
        assert engine.num_rows > 0, r.name
        assert _rows(engine) == _rows(r.from_rows(data)), r.name


def _findings(data: AnalysisData) -> list[Finding]:
    return run_detectors(data, DETECTORS)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "history",
    [workaround_floor, lambda: stopped_site(fall_from=38, n_agents=5)],
    ids=["workarounds", "a_site_stopped"],
)
def test_the_engine_reads_what_the_raw_rows_give(
    new_events: Callable[[], EventStore], history: Callable[[], History]
) -> None:
    events = new_events()
    _store(events, history())
    data = load_data(events, INFO, WINDOW, NEEDS)
    _same_reads(data)
    found = _findings(data)
    assert found, "the history has findings to compare"
    # The detectors find the same from the engine's reads as from the raw rows.
    assert found == _findings(replace(data, reads={}))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_look_cut_from_a_history_reads_what_it_reads_alone(
    new_events: Callable[[], EventStore],
) -> None:
    events = new_events()
    _store(events, workaround_floor())
    # A history read once for two looks ending at midnight, and one read for a look ending
    # mid-afternoon (its last day partly in, as the latest look of an analysis is).
    days = (WINDOW.current_end - timedelta(days=2), WINDOW.current_end - timedelta(days=1))
    looks = [replace(WINDOW, current_start=e - timedelta(days=7), current_end=e) for e in days]
    end = WINDOW.current_end - timedelta(hours=9)
    afternoon = replace(WINDOW, current_start=end - timedelta(days=7), current_end=end)
    for windows in (looks, [afternoon]):
        history = read_history(events, INFO, windows, NEEDS)
        for w in windows:
            assert history.covers(w, NEEDS)
            cut, alone = look_at(history, w), load_data(events, INFO, w, NEEDS)
            for r in READS:
                assert _rows(cut.reads[r.name]) == _rows(alone.reads[r.name]), (w, r.name)
    # Rows grouped by day cannot be cut at a look's mid-day start or end: it is read alone.
    history = read_history(events, INFO, [*looks, afternoon], NEEDS)
    assert not history.covers(afternoon, NEEDS)
    assert history.covers(looks[0], NEEDS)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_engine_pairs_each_suggestion_with_the_next_agent_message(
    new_events: Callable[[], EventStore],
) -> None:
    """The next message the engine pairs with a suggestion is the first agent turn of its
    conversation at or after it: one at the same instant counts, of two at one instant the
    lower ``seq``, a customer's turn never, one without text stays without text (the later
    one is not taken instead), and none after the last agent turn; as its twin finds it in
    the raw turns."""
    start = WINDOW.current_end - timedelta(days=2)
    at = [start + timedelta(minutes=m) for m in range(8)]
    # Per conversation: the suggestions acted on (minute, action) and the turns (minute,
    # role, text); every suggestion shown a minute before it is acted on.
    cases: dict[str, tuple[list[tuple[int, str]], list[tuple[int, str, str | None]]]] = {
        "same-instant": ([(2, "dismissed")], [(2, "agent", "at once"), (3, "agent", "later")]),
        "lower-seq": ([(2, "accepted")], [(4, "agent", "seq one"), (4, "agent", "seq two")]),
        "customer-between": (
            [(1, "edited"), (6, "dismissed")],
            [(2, "user", "thanks"), (3, "agent", "after the customer"), (5, "agent", "last")],
        ),
        "no-text": ([(2, "dismissed")], [(3, "agent", None), (4, "agent", "with text")]),
        "no-agent": ([(2, "accepted")], [(3, "user", "hello")]),
    }
    records = []
    for n, (cid, (acted, turns)) in enumerate(cases.items()):
        events: list[dict[str, Any]] = []
        for minute, action in acted:
            events += [
                {"ts": (at[minute] - timedelta(seconds=30)).isoformat(), "agent_ref": "a1",
                 "feature": "suggested_reply", "action": "shown", "text": f"idea {cid}"},
                {"ts": at[minute].isoformat(), "agent_ref": "a1", "feature": "suggested_reply",
                 "action": action},
            ]  # fmt: skip
        records.append({
            "id": cid, "deployment": "desk",
            "started_at": (start - timedelta(minutes=n)).isoformat(), "agent_ref": "a1",
            "assist_events": events,
            "turns": [
                {"seq": s + 1, "ts": at[m].isoformat(), "role": role}
                | ({"text": text} if text is not None else {})
                for s, (m, role, text) in enumerate(turns)
            ],
        })  # fmt: skip
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    events_store = new_events()
    events_store.write(decoded.batch, source="test", batch_id="a")
    data = load_data(events_store, INFO, WINDOW, NEEDS)
    engine = data.reads[SUGGESTION_EVENTS.name].sort_by([("interaction_id", "ascending"),
                                                         ("seq", "ascending")])  # fmt: skip
    got = list(zip(engine["interaction_id"].to_pylist(), engine["next_message"].to_pylist(),
                   strict=True))  # fmt: skip
    assert got == [
        ("customer-between", "after the customer"),
        ("customer-between", None),
        ("lower-seq", "seq one"),
        ("no-agent", None),
        ("no-text", None),
        ("same-instant", "at once"),
    ]
    assert _rows(engine) == _rows(SUGGESTION_EVENTS.from_rows(data))
