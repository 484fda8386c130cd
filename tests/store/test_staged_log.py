"""The DuckDB store's staged pieces: in memory behind an append-only log that a restart
replays (see daytwo.store.events.staged_log)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from daytwo.ingest.otlp.assemble import TraceRules, assemble, assemble_ended
from daytwo.store.events import open_event_store
from daytwo.store.events.base import AuditCount
from daytwo.store.events.duckdb import DuckDBEventStore
from daytwo.store.events.staged_log import StagedPieces
from daytwo.store.events.staging import STAGED
from tests.store.test_staging import T0, piece

LATER = T0 + timedelta(hours=1)
A, B, C = ("care-bot", "a"), ("care-bot", "b"), ("care-bot", "c")


def rows(*pieces: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(pieces), schema=STAGED)


def count(requests: int = 1) -> dict[str, Any]:
    return {
        "actor": "key:1",
        "action": "http.post",
        "target": "/v1/traces",
        "deployment": None,
        "ip": "127.0.0.1",
        "status": 200,
        "path": "/v1/traces",
        "requests": requests,
    }


def texts(table: pa.Table) -> list[str]:
    return sorted(table["text"].to_pylist())


def test_a_restart_replays_what_was_staged_and_not_what_was_used(tmp_path: Path) -> None:
    log = tmp_path / "staging"
    first = StagedPieces(log)
    first.stage(
        rows(piece("a", "s1", 0, ended=1, received=2), piece("b", "s2", 0, ended=1, received=2)),
        [count()],
    )
    first.stage(rows(piece("a", "s3", 0, ended=2, received=3)), [count(2)])
    assert first.syncs == 2  # each stage synced before it returned
    assert texts(first.rows_of([A])) == ["a s1 0", "a s3 0"]
    assert first.unstage([A], received_upto=LATER) == 2
    first.fold_audit(first.audit_counts()[0]["id"])
    # Killed: nothing closed. A new process replays the log.
    again = StagedPieces(log)
    assert again.stats()[:2] == (1, 1)
    assert again.ended(ended_before=LATER, received_before=LATER, limit=10) == [B]
    assert texts(again.rows_of([B])) == ["b s2 0"]
    assert again.rows_of([A]).num_rows == 0
    assert [c["requests"] for c in again.audit_counts()] == [2]
    assert again.audit_counts() == first.audit_counts()


def test_rows_staged_after_the_assembler_read_them_stay(tmp_path: Path) -> None:
    """The assembler reads a conversation, a piece of it arrives (received earlier than what
    it read, as a request stamped first and staged last is), then the assembler unstages:
    the new piece stays, in memory and after a restart."""
    log = tmp_path / "staging"
    staged = StagedPieces(log)
    staged.stage(rows(piece("a", "s1", 0, ended=1, received=5)))
    assert texts(staged.rows_of([A])) == ["a s1 0"]
    staged.stage(rows(piece("a", "s2", 0, ended=1, received=4)))
    assert staged.unstage([A], received_upto=T0 + timedelta(minutes=5)) == 1
    assert texts(staged.rows_of([A])) == ["a s2 0"]
    assert texts(StagedPieces(log).rows_of([A])) == ["a s2 0"]


def test_a_record_cut_short_by_a_crash_is_not_replayed(tmp_path: Path) -> None:
    log = tmp_path / "staging"
    staged = StagedPieces(log)
    staged.stage(rows(piece("a", "s1", 0, ended=1, received=2)), [count()])
    staged.stage(rows(piece("b", "s2", 0, ended=1, received=2)), [count()])
    (segment,) = sorted(log.glob("*.log"))
    data = segment.read_bytes()
    segment.write_bytes(data[:-7])  # the second record's sync never returned
    again = StagedPieces(log)
    assert again.stats()[:2] == (1, 1)
    assert texts(again.rows_of([A, B])) == ["a s1 0"]
    assert len(again.audit_counts()) == 1
    # Stages after the cut go to a new segment, and all of it replays.
    again.stage(rows(piece("c", "s3", 0, ended=1, received=2)))
    assert texts(StagedPieces(log).rows_of([A, B, C])) == ["a s1 0", "c s3 0"]


def test_used_segments_are_removed_and_live_rows_moved_forward(tmp_path: Path) -> None:
    """Segments that hold nothing live are removed; a conversation that goes on while the
    others end has its rows copied forward, and the old segments go."""
    log = tmp_path / "staging"
    staged = StagedPieces(log, segment_bytes=4096)
    staged.stage(rows(piece("open", "s0", 0, ended=1, received=1)))
    for i in range(40):
        staged.stage(rows(*(piece(f"c{i}", f"s{i}-{j}", 0, ended=1, received=2) for j in range(5))))
        staged.unstage([("care-bot", f"c{i}")], received_upto=LATER)
    assert len(list(log.glob("*.log"))) <= 3
    assert staged.log_bytes() < 3 * 4096 + 4096
    again = StagedPieces(log)
    assert again.stats()[:2] == (1, 1)
    assert texts(again.rows_of([("care-bot", "open")])) == ["open s0 0"]


def test_past_the_memory_budget_rows_are_read_back_from_the_log(tmp_path: Path) -> None:
    staged = StagedPieces(tmp_path / "staging", memory_bytes=1)
    for i in range(5):
        staged.stage(rows(piece("a", f"s{i}", 0, ended=1, received=2, text=f"turn {i}")))
    assert staged.memory < 5 * rows(piece("a", "s", 0, ended=1, received=2)).nbytes
    assert texts(staged.rows_of([A])) == [f"turn {i}" for i in range(5)]
    assert staged.unstage([A], received_upto=LATER) == 5
    assert staged.stats()[:2] == (0, 0)


def test_the_store_replays_its_staging_log_after_a_kill(tmp_path: Path) -> None:
    """What a killed store staged (rows and audit counts) is staged when it opens again;
    the store's file is not involved."""
    url = f"duckdb:///{tmp_path}/events.duckdb"
    store = open_event_store(url)
    audit = AuditCount("key:1", "http.post", "/v1/traces", None, None, 200, "/v1/traces")
    store.stage(rows(piece("a", "s1", 0, ended=1, received=2)), [audit])
    assert isinstance(store, DuckDBEventStore)
    store._con.close()  # as a kill leaves it: the staging log not closed
    with open_event_store(url) as again:
        assert again.staged_stats().rows == 1
        assert again.staged_audit()["requests"].to_pylist() == [1]
        assert again.staged_ended(ended_before=LATER, received_before=LATER, limit=5) == [A]


def test_a_crash_between_the_write_and_the_log_writes_the_conversation_again_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written to the store, killed before the log says the pieces were used: the next
    process stages them again and writes the same conversation again, counted once."""
    url = f"duckdb:///{tmp_path}/events.duckdb"
    store = open_event_store(url)
    store.stage(
        rows(piece("a", "s1", 0, ended=1, received=2), piece("a", "s2", 0, ended=2, received=3))
    )

    def killed(*args: Any, **kwargs: Any) -> int:
        raise KeyboardInterrupt  # stands for the kill: the process ends here

    monkeypatch.setattr(StagedPieces, "unstage", killed)
    with pytest.raises(KeyboardInterrupt):
        assemble_ended(store, now=LATER, idle=timedelta(0), settle=timedelta(0))
    monkeypatch.undo()
    assert store.count("interactions") == 1
    first = store.query("SELECT seq, text FROM turns ORDER BY seq").to_pylist()
    store.close()
    with open_event_store(url) as again:
        assert again.staged_stats().rows == 2
        done = assemble_ended(again, now=LATER, idle=timedelta(0), settle=timedelta(0))
        assert (done.conversations, done.inserted, done.replaced) == (1, 0, 1)
        assert again.count("interactions") == 1
        assert again.query("SELECT seq, text FROM turns ORDER BY seq").to_pylist() == first
        assert again.staged_stats().rows == 0


def test_a_duplicate_and_a_late_piece_after_a_restart(tmp_path: Path) -> None:
    """A batch sent again after a restart changes no count; a piece that arrives after its
    conversation was written lands in it."""
    url = f"duckdb:///{tmp_path}/events.duckdb"
    batch = rows(piece("a", "s1", 0, ended=1, received=2), piece("a", "s2", 0, ended=2, received=3))
    with open_event_store(url) as store:
        store.stage(batch)
        assert (
            assemble_ended(store, now=LATER, idle=timedelta(0), settle=timedelta(0)).inserted == 1
        )
    with open_event_store(url) as store:
        store.stage(batch)  # re-sent
        store.stage(rows(piece("a", "s3", 0, ended=3, received=40, text="late")))
        done = assemble_ended(store, now=LATER, idle=timedelta(0), settle=timedelta(0))
        assert (done.inserted, done.replaced) == (0, 1)
        assert store.count("interactions") == 1
        turns = store.query("SELECT text FROM turns ORDER BY seq")["text"].to_pylist()
        assert turns == ["a s1 0", "a s2 0", "late"]


def test_pieces_an_earlier_version_staged_in_tables_are_adopted(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/events.duckdb"
    with open_event_store(url) as store:
        assert isinstance(store, DuckDBEventStore)
        con = store._con
        con.register("_old", rows(piece("a", "s1", 0, ended=1, received=2)))
        con.execute("INSERT INTO staged_turns SELECT * FROM _old")
        con.execute(
            "INSERT INTO staged_audit VALUES (41, now(), 'key:1', 'http.post', '/v1/traces', "
            "NULL, NULL, 200, '/v1/traces', 3)"
        )
    with open_event_store(url) as store:
        assert store.staged_audit().select(["id", "requests"]).to_pylist() == [
            {"id": 41, "requests": 3}
        ]
        assert texts(store.staged_rows([A])) == ["a s1 0"]
        assert store.query("SELECT count(*) AS n FROM staged_turns")["n"].to_pylist() == [0]
    with open_event_store(url) as store:  # once
        assert store.staged_stats().rows == 1
        batch = assemble(store.staged_rows([A]), TraceRules())
        assert batch.n_records == 1


def test_a_record_that_failed_to_sync_is_not_replayed_and_the_next_ones_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk fails a stage (its request is refused, nothing of it kept); what is
    staged after it is replayed."""
    import os

    from daytwo.store.events import staged_log

    log = tmp_path / "staging"
    staged = StagedPieces(log)
    real = os.fsync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(staged_log.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        staged.stage(rows(piece("a", "s1", 0, ended=1, received=2)))
    monkeypatch.setattr(staged_log.os, "fsync", real)
    assert staged.stats()[:2] == (0, 0)
    staged.stage(rows(piece("b", "s2", 0, ended=1, received=2)))
    assert texts(StagedPieces(log).rows_of([A, B])) == ["b s2 0"]


def test_a_read_only_store_reads_the_log_and_stages_nothing(tmp_path: Path) -> None:
    from daytwo.errors import StoreError

    url = f"duckdb:///{tmp_path}/events.duckdb"
    with open_event_store(url) as store:
        store.stage(rows(piece("a", "s1", 0, ended=1, received=2)))
    log = tmp_path / "events.duckdb.staging"
    files = sorted(p.name for p in log.iterdir())
    reader = DuckDBEventStore(str(tmp_path / "events.duckdb"), read_only=True)
    try:
        assert reader.staged_stats().rows == 1
        with pytest.raises(StoreError, match="read-only"):
            reader.stage(rows(piece("b", "s2", 0, ended=1, received=2)))
    finally:
        reader.close()
    assert sorted(p.name for p in log.iterdir()) == files
