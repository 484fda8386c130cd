"""Silent failures judge from reads the events engine computes: each day's conversations and
signals per journey, the flagged conversations of the current period, and the validators'
sample with its turns (no turn is read for the detector). On both engines the
reads are what their twins compute from the raw rows (the signals worked out of every turn in
Python), the findings are the same either way, and a look cut out of a longer history reads
what it reads alone."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.compute as pc
import pytest

from daytwo.detect.data import DeploymentInfo, analysis_data
from daytwo.detect.registry import get_detector
from daytwo.detect.runner import (
    _day_runs,
    _engine_read,
    engine_read,
    load_data,
    look_at,
    read_history,
    run_detectors,
)
from daytwo.detect.silent import (
    FLAGGED,
    SIGNAL_DAYS,
    SIGNALS,
    VALIDATOR_SAMPLE,
    VALIDATOR_TURNS,
    SilentParams,
)
from daytwo.detect.validators import Transcript, Verdict, register_validator, unregister_validator
from daytwo.store.events import EventStore
from tests.conftest import ENGINES
from tests.detect.tables import (
    END,
    MIDNIGHT,
    WINDOW,
    comparable_rows,
    replay_looks,
    store_weeks,
)

INFO = DeploymentInfo("quiet")
SILENT = get_detector("silent_failures")
# The raw-row twins need every turn the signals are worked out of, with all their columns.
NEEDS = [
    SILENT.needs,
    replace(SILENT.needs, turn_columns=("role", "text", "fallback", "confidence"), turn_days=70),
]
ASKED = ["Where is my parcel?", "What's the STATUS of order", "Cancel my order", "Refund:"]
ANSWERS = ["It ships today", "Here is your refund", "Let me check", None]


def _record(i: int, started: datetime, rnd: random.Random) -> dict[str, Any]:
    recent = END - started < timedelta(days=4)
    journey = rnd.choice(["orders", "orders", "billing", "travel"])
    worse = recent and journey == "orders"
    turns: list[dict[str, Any]] = []
    for n in range(rnd.randint(1, 4)):
        asked = " ".join([rnd.choice(ASKED), *(str(rnd.randint(0, 10**6)) for _ in range(3))])
        if turns and rnd.random() < (0.5 if worse else 0.1):
            asked = turns[-2]["text"].lower() + " again"  # a rephrase of the last question
        answer = rnd.choice(ANSWERS)
        if answer and rnd.random() < 0.9:
            answer += f" (#{rnd.randint(0, 10**6)})"
        if turns and rnd.random() < (0.4 if worse else 0.05):
            answer = turns[-1]["text"]  # the same answer again
        turns += [
            {"seq": 2 * n, "ts": started.isoformat(), "role": "user", "text": asked},
            {"seq": 2 * n + 1, "ts": started.isoformat(), "role": "assistant", "text": answer,
             "fallback": rnd.random() < 0.1 if rnd.random() < 0.9 else None,
             "confidence": rnd.choice([None, 0.2, 0.5, 0.9])},
        ]  # fmt: skip
    if rnd.random() < 0.3:
        turns = turns[:-1]  # ended on the customer's message
    outcome = rnd.choice(["contained", "contained", "escalated", "transferred", "abandoned", None])
    return {
        "id": f"q{i:05d}", "deployment": INFO.name, "started_at": started.isoformat(),
        "channel": "chat", "journey": journey if i % 40 else None, "outcome": outcome,
        "csat": rnd.choice([None, 1.0, 2.0, 4.0, 5.0]),
        "customer_ref": f"u{rnd.randint(0, 300)}", "agent_ref": f"a{rnd.randint(0, 9)}",
        "turns": turns,
    }  # fmt: skip


class _Judge:
    """A validator that fails every other conversation, remembering what it was shown."""

    name = "every_other_seen"

    def __init__(self) -> None:
        self.seen: list[Transcript] = []

    def validate(self, transcripts: Sequence[Transcript]) -> list[Verdict]:
        self.seen += transcripts
        return [Verdict(t.interaction_id, i % 2 == 0, "odd one") for i, t in enumerate(transcripts)]


def _judged(data: Any) -> tuple[list[Any], list[Transcript]]:
    """The silent failures found in ``data`` with :class:`_Judge` registered, and what it saw."""
    judge = _Judge()
    register_validator(judge)
    try:
        found = run_detectors(data, [SILENT])
    finally:
        unregister_validator(judge.name)
    return found, judge.seen


def _store(events: EventStore) -> None:
    store_weeks(events, _record, END, seed=11)


class _Passes:
    """A validator that passes every conversation: registered, the sample is read."""

    name = "passes_all"

    def validate(self, transcripts: Sequence[Transcript]) -> list[Verdict]:
        return [Verdict(t.interaction_id, False, "") for t in transcripts]


@pytest.fixture
def a_validator() -> Iterator[None]:
    register_validator(_Passes())
    yield
    unregister_validator(_Passes.name)


@pytest.mark.parametrize("engine", ENGINES)
def test_silent_failures_find_from_the_engine_what_the_rows_give(
    new_events: Callable[[], EventStore], a_validator: None
) -> None:
    events = new_events()
    _store(events)
    assert SILENT.needs.turn_columns == ()
    data = load_data(events, INFO, WINDOW, NEEDS)
    for read in (SIGNAL_DAYS, FLAGGED, VALIDATOR_TURNS):
        engine, twin = data.reads[read.name], read.from_rows(data)
        assert engine.column_names == twin.column_names
        assert comparable_rows(engine) == comparable_rows(twin)
    days = data.reads[SIGNAL_DAYS.name]
    assert int(pc.sum(days["n"]).as_py()) == data.interactions.num_rows
    # Every signal shows somewhere; the flagged rows are of the last seven days only.
    assert all(int(pc.sum(days[name]).as_py()) > 0 for name in SIGNALS)
    flagged = data.reads[FLAGGED.name]
    assert 0 < flagged.num_rows < data.interactions.num_rows / 8

    found = run_detectors(data, [SILENT])
    assert {(f.details.get("signal"), f.scope.journey) for f in found} >= {
        ("rephrase_after_answer", "orders"),
        ("answer_loop", "orders"),
    }
    assert all(f.evidence and f.impact.interactions_per_week for f in found)
    # The same findings, evidence and impact from the reads computed from the raw rows.
    assert found == run_detectors(replace(data, reads={}), [SILENT])
    # The validators judge the same sample, turn for turn, from the engine's read.
    sample = data.reads[VALIDATOR_TURNS.name]
    assert len(set(sample["interaction_id"].to_pylist())) == VALIDATOR_SAMPLE
    judged, seen = _judged(data)
    assert any(f.key == ("validator", _Judge.name) for f in judged)
    assert (judged, seen) == _judged(replace(data, reads={}))
    assert len(seen) == VALIDATOR_SAMPLE
    assert all(t.turns for t in seen)

    # A look cut out of a replay's history (looks ending three days apart) reads what it
    # reads alone, and finds the same.
    looks = replay_looks()
    history = read_history(events, INFO, looks, NEEDS)
    cut, alone = look_at(history, looks[0]), load_data(events, INFO, looks[0], NEEDS)
    for read in (SIGNAL_DAYS, FLAGGED, VALIDATOR_TURNS):
        assert comparable_rows(cut.reads[read.name]) == comparable_rows(alone.reads[read.name])
    assert run_detectors(cut, [SILENT]) == run_detectors(alone, [SILENT])
    # The validators' sample is read for each look's own span, not cut out of a longer one.
    assert _judged(cut) == _judged(alone)
    assert comparable_rows(look_at(history, looks[1]).reads[VALIDATOR_TURNS.name]) == (
        comparable_rows(load_data(events, INFO, looks[1], NEEDS).reads[VALIDATOR_TURNS.name])
    )
    # The history reads the flagged conversations of its looks' last seven days only, so a
    # look ending before its first is not cut out of it.
    first = looks[0].current_end - timedelta(days=7)
    assert pc.min(history.reads[FLAGGED.name]["started_at"]).as_py() >= first
    earlier = replace(looks[0], current_end=looks[0].current_end - timedelta(days=1))
    assert not history.covers(earlier, NEEDS)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_signal_days_read_a_run_of_days_at_a_time_are_those_read_at_once(
    new_events: Callable[[], EventStore],
) -> None:
    """The days' signals are read in runs of days of at most ``chunk`` conversations (the
    engine's working memory follows a run, not the span): the same rows as one read, with each
    run's days before the end counted on from the span's end. (Over 2 s: ten weeks of
    conversations stored, as the other tests here, and read four times.)"""
    events = new_events()
    _store(events)
    start, end = WINDOW.baseline_start, WINDOW.current_end
    assert SIGNAL_DAYS.chunk is not None
    whole = engine_read(events, INFO.name, replace(SIGNAL_DAYS, chunk=None), start, end)
    total = int(pc.sum(whole["n"]).as_py())
    runs = _day_runs(events, INFO, total // 4, start, end, None)
    # The runs tile the span, oldest first, each whole days before its end.
    assert len(runs) >= 4
    assert runs[0][0] == end - start
    assert runs[-1][1] == timedelta(0)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(runs))
    assert all(r[1] % timedelta(days=1) == timedelta(0) for r in runs)
    assert len(_day_runs(events, INFO, total, start, end, None)) == 1
    read = engine_read(events, INFO.name, replace(SIGNAL_DAYS, chunk=total // 4), start, end)
    assert read.schema == whole.schema
    assert comparable_rows(read) == comparable_rows(whole)
    # A span ending mid-day, and a span with no conversation.
    noon = datetime(END.year, END.month, END.day, 12, tzinfo=UTC) - timedelta(days=2)
    at_once = engine_read(events, INFO.name, replace(SIGNAL_DAYS, chunk=None), start, noon)
    in_runs = engine_read(events, INFO.name, replace(SIGNAL_DAYS, chunk=total // 3), start, noon)
    assert comparable_rows(in_runs) == comparable_rows(at_once)
    empty = engine_read(events, "nobody", replace(SIGNAL_DAYS, chunk=1), start, end)
    assert empty.num_rows == 0


@pytest.mark.parametrize("engine", ["duckdb"])
def test_a_deployment_that_fits_in_one_run_is_read_without_counting_its_days(
    new_events: Callable[[], EventStore],
) -> None:
    """Where the deployment's stored conversations (the analysis's volumes) fit in one run,
    the read is one query, not a count of its days first; the same rows either way."""
    events = new_events()
    _store(events)
    start, end = WINDOW.baseline_start, WINDOW.current_end
    stored = events.count("interactions", INFO.name)
    asked: list[str] = []
    query = events.query

    def counted(sql: str, params: list[Any] | None = None) -> Any:
        asked.append(sql)
        return query(sql, params)

    events.query = counted  # type: ignore[method-assign]
    read = replace(SIGNAL_DAYS, chunk=stored)
    unknown = _engine_read(events, INFO, read, start, end)
    assert len(asked) == 2  # the days counted, then the one run
    asked.clear()
    known = _engine_read(events, replace(INFO, interactions=stored), read, start, end)
    assert len(asked) == 1
    assert comparable_rows(known) == comparable_rows(unknown)
    asked.clear()
    # More stored than a run holds: the days are counted (and cut into runs) as before.
    _engine_read(events, replace(INFO, interactions=stored + 1), read, start, end)
    assert len(asked) == 2
    assert replace(INFO, interactions=stored) == INFO  # not part of its identity


@pytest.mark.parametrize("engine", ENGINES)
def test_without_a_validator_the_sample_is_not_read(
    new_events: Callable[[], EventStore], a_validator: None
) -> None:
    """No validator is registered by default: the sample's read answers its columns with no
    row (the analysis reads no turn's text then), and the findings are the signals' alone."""
    events = new_events()
    _store(events)
    wanted = load_data(events, INFO, WINDOW, NEEDS).reads[VALIDATOR_TURNS.name]
    assert wanted.num_rows > VALIDATOR_SAMPLE
    unregister_validator(_Passes.name)
    for _ in range(2):  # asked of the engine, then kept: the same answer
        data = load_data(events, INFO, WINDOW, NEEDS)
        unwanted = data.reads[VALIDATOR_TURNS.name]
        assert unwanted.num_rows == 0
        assert unwanted.schema == wanted.schema
    found = run_detectors(data, [SILENT])
    assert found
    assert all(f.key[0] != "validator" for f in found)
    assert found == run_detectors(replace(data, reads={}), [SILENT])
    # Registered again, the next analysis reads the sample again.
    register_validator(_Passes())
    again = load_data(events, INFO, WINDOW, NEEDS).reads[VALIDATOR_TURNS.name]
    assert comparable_rows(again) == comparable_rows(wanted)


def test_another_similarity_is_refused_rather_than_counted_at_the_reads_one() -> None:
    data = analysis_data(INFO, WINDOW, [{"interaction_id": "a", "started_at": END}])
    with pytest.raises(ValueError, match=r"similarity of 0\.5"):
        SILENT.run(data, SilentParams(similarity=0.6))


def test_another_validator_sample_is_refused_rather_than_sampled_at_the_reads_one() -> None:
    data = analysis_data(INFO, WINDOW, [{"interaction_id": "a", "started_at": END}])
    register_validator(_Judge())
    try:
        with pytest.raises(ValueError, match=r"sample of 50"):
            SILENT.run(data, SilentParams(validator_sample=20))
    finally:
        unregister_validator(_Judge.name)


@pytest.mark.parametrize("contained", [0, 1, 49, 50, 51, 100, 977, 5003])
def test_the_engine_samples_what_linspace_picks(
    new_events: Callable[[], EventStore], contained: int
) -> None:
    """The sample's SQL picks the conversations ``np.linspace(0, n - 1, 50).round()`` does,
    for as many contained conversations as there are (the rounding never half-way)."""
    import numpy as np

    from daytwo.detect.silent import _GAPS, _nearest

    picked = (
        set()
        if contained == 0
        else set(
            np.linspace(0, contained - 1, min(VALIDATOR_SAMPLE, contained))
            .round()
            .astype(int)
            .tolist()
        )
    )
    events = new_events()
    lower = f"floor(r * {_GAPS} / greatest(total - 1, 1))"
    digit = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
    numbers = (  # 0 to 9,999 in SQL both engines run
        f"SELECT a.d * 1000 + b.d * 100 + c.d * 10 + e.d AS r FROM ({digit}) a "
        f"CROSS JOIN ({digit}) b CROSS JOIN ({digit}) c CROSS JOIN ({digit}) e"
    )
    sql = (
        f"SELECT r FROM (SELECT CAST(r AS BIGINT) AS r, CAST({contained} AS BIGINT) AS total "
        f"FROM ({numbers}) x WHERE r < {contained}) c WHERE total <= {VALIDATOR_SAMPLE} "
        f"OR {_nearest(lower)} = r OR ({lower} < {_GAPS} AND {_nearest(lower + ' + 1')} = r)"
    )
    assert set(events.query(sql, [])["r"].to_pylist()) == picked


@pytest.mark.parametrize("engine", ENGINES)
def test_a_run_read_in_groups_reads_its_daily_counts_once(
    new_events: Callable[[], EventStore],
) -> None:
    """A replay's run of looks read group by group (the last group first, as the look-ahead
    worker wants it): the days' signal counts, grouped by days before their end, are read once
    for the run's looks ending at midnight and once for its last look, mid-day; every look cut
    out of its group's history reads what it reads alone. The last look's span starts at the
    baseline's start, a midnight, later than its group's (an earlier look of the group reads
    eight weeks back from its end): the mid-day read starts there, so that look too is cut out
    of the history instead of being read alone."""
    events = new_events()
    _store(events)
    ends = [MIDNIGHT - timedelta(days=k) for k in (5, 4, 3)] + [END]
    baseline = replace(WINDOW, baseline_start=MIDNIGHT - timedelta(weeks=8, days=1))
    looks = [replace(baseline, current_start=e - timedelta(days=7), current_end=e) for e in ends]
    groups = [looks[:2], looks[2:]]
    kept: dict[str, Any] = {}
    histories = [
        read_history(events, INFO, group, NEEDS, run=looks, kept=kept) for group in reversed(groups)
    ][::-1]
    # The signal counts read once a time of day, each group's history holding the run's read.
    days = {k: v for k, v in kept.items() if k.startswith(f"{SIGNAL_DAYS.name}@")}
    assert len(days) == 2  # midnight and mid-day
    held = [(k, h.reads[k]) for h in histories for k in days if k in h.reads]
    assert len(held) == len(groups) + 1  # the last group holds both
    assert all(table is days[k][0] for k, table in held)
    for group, history in zip(groups, histories, strict=True):
        for look in group:
            assert history.covers(look, NEEDS)
            cut, alone = look_at(history, look), load_data(events, INFO, look, NEEDS)
            for read in (SIGNAL_DAYS, FLAGGED):
                assert comparable_rows(cut.reads[read.name]) == comparable_rows(
                    alone.reads[read.name]
                ), (read.name, look.current_end)
