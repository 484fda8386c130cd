"""Repeated looks: a segment finding is raised once a later look confirms it, and a run of
daily looks reads the events once (each look sees exactly what it would have read alone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa

from daytwo.detect import Finding, FindingScope, Severity
from daytwo.detect.data import DeploymentInfo, Window
from daytwo.detect.registry import Needs
from daytwo.detect.runner import load_data, look_at, read_history
from daytwo.detect.schemas import FindingFilter
from daytwo.detect.service import Recorded, list_findings, record_findings, start_run
from daytwo.ingest.decode import decode_json
from daytwo.ingest.service import ingest
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger, upgrade
from tests.factory import interaction

T0 = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)


def _finding(key: str, *, segment: bool = True, at: datetime = T0) -> Finding:
    scope = FindingScope("bot", journey="j", segment=("team", key) if segment else None)
    return Finding(
        "degradation", "degradation", f"worse in team={key}", scope,
        Severity.medium, at, at + DAY, key=(key,), evidence=("c1",),
    )  # fmt: skip


def _look(ledger: Ledger, through: datetime, *findings: Finding) -> Recorded:
    run_id = start_run(ledger, "bot", ["degradation"])
    return record_findings(
        ledger, run_id, "bot", ["degradation"], findings, since=None,
        data_through=through, interactions=10,
    )  # fmt: skip


def _raised(ledger: Ledger) -> dict[str, datetime]:
    return {f.key[0]: f.first_seen for f in list_findings(ledger, FindingFilter())}


def test_the_first_look_raises_a_segment_finding_at_once(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    r = _look(ledger, T0, _finding("a"))
    assert (r.new, r.held_fingerprints) == (1, ())
    ledger.dispose()


def test_a_repeated_look_holds_a_new_segment_finding_until_the_next_day_sees_it(
    ledger_url: str,
) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    _look(ledger, T0, _finding("a"))
    # Day 2: team b appears (held), and a journey-wide finding (raised: not a segment).
    r = _look(
        ledger, T0 + DAY, _finding("a"), _finding("b", at=T0 + DAY), _finding("j", segment=False)
    )
    assert (r.new, r.updated, len(r.held_fingerprints)) == (1, 1, 1)
    assert set(_raised(ledger)) == {"a", "j"}
    # Seen again on data only hours newer: still held.
    r = _look(
        ledger,
        T0 + DAY + timedelta(hours=6),
        _finding("a"),
        _finding("b"),
        _finding("j", segment=False),
    )
    assert (r.new, len(r.held_fingerprints)) == (0, 1)
    # Day 3 sees it again: raised, first seen on the look that held it.
    r = _look(
        ledger,
        T0 + 2 * DAY,
        _finding("a"),
        _finding("b", at=T0 + 2 * DAY),
        _finding("j", segment=False),
    )
    assert (r.new, r.held_fingerprints) == (1, ())
    assert _raised(ledger)["b"] == T0 + DAY
    ledger.dispose()


def test_a_look_that_misses_a_held_finding_drops_it(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    _look(ledger, T0, _finding("a"))
    assert len(_look(ledger, T0 + DAY, _finding("a"), _finding("b")).held_fingerprints) == 1
    _look(ledger, T0 + 2 * DAY, _finding("a"))  # b is not seen: dropped, never raised
    # Seen once more: a new hold, not a confirmation of the dropped one.
    r = _look(ledger, T0 + 3 * DAY, _finding("a"), _finding("b", at=T0 + 3 * DAY))
    assert (r.new, len(r.held_fingerprints)) == (0, 1)
    assert set(_raised(ledger)) == {"a"}
    r = _look(ledger, T0 + 4 * DAY, _finding("a"), _finding("b", at=T0 + 4 * DAY))
    assert r.new == 1
    assert _raised(ledger)["b"] == T0 + 3 * DAY
    ledger.dispose()


def test_a_known_segment_finding_seen_again_is_updated_not_held(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    _look(ledger, T0, _finding("a"))
    r = _look(ledger, T0 + DAY)  # a resolved
    assert r.resolved == 1
    r = _look(ledger, T0 + 2 * DAY, _finding("a"))  # back: regressed at once, as before
    assert (r.regressed, r.held_fingerprints) == (1, ())
    ledger.dispose()


def test_daily_looks_cut_from_one_read_match_reading_each_look(tmp_path: Path) -> None:
    records = []
    for day in range(30):
        for k in range(4):
            rec = interaction(day * 4 + k, deployment="bot", turns=3)
            start = T0 + day * DAY + timedelta(hours=2 + 5 * k)
            rec["id"] = f"c-{day:02d}-{k}"
            rec["started_at"] = start.isoformat()
            rec["ended_at"] = (start + timedelta(minutes=2)).isoformat()
            for turn in rec["turns"]:
                del turn["ts"]
            rec["assist_events"] = [{"action": "shown", "feature": "suggested_reply"}]
            records.append(rec)
    needs = [
        Needs(("text", "fallback"), deliveries=True, assist_events=True),
        Needs(turn_days=10),
    ]
    info = DeploymentInfo("bot")
    windows = [
        Window(T0, T0 + 14 * DAY, T0 + d * DAY - 7 * DAY, T0 + d * DAY) for d in (21, 22, 26, 29)
    ]
    with open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}") as events:
        assert ingest(events, decode_json(orjson.dumps(records)), source="test").accepted == 120
        history = read_history(events, info, windows, needs)
        for w in windows:
            alone = load_data(events, info, w, needs)
            cut = look_at(history, w)
            for name in ("interactions", "turns", "deliveries", "assist_events"):
                a: pa.Table = getattr(alone, name)
                b: pa.Table = getattr(cut, name)
                assert a.num_rows > 0
                assert b.equals(a), (name, w.current_end)
