"""The OTLP bench's digest of the stored rows: equal rows, equal digests, whatever order they
were written in; any changed value, another digest."""

from __future__ import annotations

from pathlib import Path

import duckdb
from bench.otlp import stored_digest


def _store(data: Path, turns: list[tuple[str, str, int, str | None]]) -> None:
    data.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(data / "events.duckdb")) as con:
        con.execute("CREATE TABLE interactions (deployment TEXT, interaction_id TEXT, n INT)")
        con.execute("CREATE TABLE turns (deployment TEXT, interaction_id TEXT, seq INT, text TEXT)")
        for deployment, interaction in sorted({(d, i) for d, i, _, _ in turns}, reverse=True):
            n = sum(1 for d, i, _, _ in turns if (d, i) == (deployment, interaction))
            con.execute("INSERT INTO interactions VALUES (?, ?, ?)", [deployment, interaction, n])
        con.executemany("INSERT INTO turns VALUES (?, ?, ?, ?)", turns)


TURNS = [("bot", "c1", 0, "hi"), ("bot", "c1", 1, None), ("bot", "c2", 0, "hello")]


def test_the_same_rows_in_another_order_give_the_same_digest(tmp_path: Path) -> None:
    _store(tmp_path / "a", TURNS)
    _store(tmp_path / "b", TURNS[::-1])
    assert stored_digest(tmp_path / "a") == stored_digest(tmp_path / "b")


def test_a_changed_value_or_a_null_gives_another_digest(tmp_path: Path) -> None:
    _store(tmp_path / "a", TURNS)
    _store(tmp_path / "b", [*TURNS[:2], ("bot", "c2", 0, "hello!")])
    _store(tmp_path / "c", [TURNS[0], ("bot", "c1", 1, ""), TURNS[2]])
    digests = {stored_digest(tmp_path / d) for d in "abc"}
    assert len(digests) == 3
