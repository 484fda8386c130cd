"""Staged pieces of open conversations, on both engines: what the trace door's assembler
reads and removes (see daytwo.store.events.staging)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from daytwo.store.events import EventStore
from daytwo.store.events.staging import STAGED

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def piece(conversation: str, span: str, part: int, *, ended: int, received: int, **turn: Any):  # type: ignore[no-untyped-def]
    """One staged row: a turn of ``conversation`` from span ``span``, its span ending
    ``ended`` minutes and arriving ``received`` minutes after T0."""
    return {
        "deployment": "care-bot",
        "conversation": conversation,
        "keyed": True,
        "trace_id": f"trace-{conversation}",
        "span_id": span,
        "part": part,
        "source": "llm",
        "span_start": T0 + timedelta(minutes=ended - 1),
        "span_end": T0 + timedelta(minutes=ended),
        "received_at": T0 + timedelta(minutes=received),
        "ts": T0 + timedelta(minutes=ended - 1),
        "role": "user",
        "text": turn.get("text", f"{conversation} {span} {part}"),
        "segments": '{"tier": "gold"}',
    }


def stage(events: EventStore, *rows: dict[str, Any]) -> None:
    events.stage(pa.Table.from_pylist(list(rows), schema=STAGED))


def test_pieces_are_found_when_ended_read_back_and_removed_once_used(events: EventStore) -> None:
    stage(
        events,
        piece("a", "s1", 0, ended=1, received=2),
        piece("a", "s1", 1, ended=1, received=2),
        piece("a", "s2", 0, ended=5, received=6),
        piece("b", "s3", 0, ended=3, received=3),
        piece("c", "s4", 0, ended=30, received=31),  # still open
    )
    stats = events.staged_stats()
    assert (stats.rows, stats.conversations) == (5, 3)
    assert stats.oldest == T0 + timedelta(minutes=2)

    ended = events.staged_ended(
        ended_before=T0 + timedelta(minutes=10),
        received_before=T0 + timedelta(minutes=10),
        limit=10,
    )
    assert ended == [("care-bot", "a"), ("care-bot", "b")]  # the oldest arrival first
    assert events.staged_ended(
        ended_before=T0 + timedelta(minutes=10), received_before=T0 + timedelta(minutes=10), limit=1
    ) == [("care-bot", "a")]
    # A conversation whose last piece arrived too recently has not settled.
    assert events.staged_ended(
        ended_before=T0 + timedelta(minutes=10), received_before=T0 + timedelta(minutes=4), limit=10
    ) == [("care-bot", "b")]

    rows = events.staged_rows([("care-bot", "a")])
    assert rows.schema.names == STAGED.names
    assert sorted(zip(rows["span_id"].to_pylist(), rows["part"].to_pylist(), strict=True)) == [
        ("s1", 0),
        ("s1", 1),
        ("s2", 0),
    ]
    assert rows["segments"].to_pylist() == ['{"tier": "gold"}'] * 3

    # A copy of a piece arrives after the assembly read "a": it stays for the next one.
    stage(events, piece("a", "s2", 0, ended=5, received=20, text="again"))
    removed = events.unstage(
        [("care-bot", "a"), ("care-bot", "b")], received_upto=T0 + timedelta(minutes=10)
    )
    assert removed == 4
    left = events.staged_rows([("care-bot", "a"), ("care-bot", "b"), ("care-bot", "c")])
    assert sorted(left["text"].to_pylist()) == ["again", "c s4 0"]
    assert events.unstage([("care-bot", "b")], received_upto=T0 + timedelta(minutes=10)) == 0
    assert events.staged_stats().rows == 2


def test_nothing_staged(events: EventStore) -> None:
    assert events.staged_rows([]).num_rows == 0
    assert events.staged_ended(ended_before=T0, received_before=T0, limit=5) == []
    assert events.unstage([], received_upto=T0) == 0
    assert events.staged_stats().rows == 0


def test_assembled_conversations_are_written_and_unstaged(events: EventStore) -> None:
    from daytwo.ingest.otlp.assemble import TraceRules, assemble

    stage(
        events,
        piece("a", "s1", 0, ended=1, received=2),
        piece("a", "s2", 0, ended=2, received=3),
        piece("b", "s3", 0, ended=30, received=31),  # open: stays staged
    )
    batch = assemble(events.staged_rows([("care-bot", "a")]), TraceRules())
    written, removed = events.write_assembled(
        batch,
        source="otlp",
        batch_id="b1",
        keys=[("care-bot", "a")],
        received_upto=T0 + timedelta(minutes=5),
    )
    assert (written.inserted, written.turns, removed) == (1, 2, 2)
    assert events.count("interactions") == 1
    assert events.staged_stats().rows == 1
