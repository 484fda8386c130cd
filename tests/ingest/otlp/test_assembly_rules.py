"""The assembly's rules on small staged tables: the column-wise steps against the plain
per-row reading of each rule."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from daytwo.ingest.otlp.assemble import (
    TraceRules,
    _latest_copies,
    _repeats,
    _top_intents,
    assemble,
    stored_rows,
)
from daytwo.interactions.columns import Batch
from daytwo.store.events import open_event_store
from daytwo.store.events.staging import STAGED


def _row(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "deployment": "care-bot",
        "conversation": "c1",
        "keyed": True,
        "trace_id": "t1",
        "span_id": "s1",
        "part": 0,
        "source": "llm",
        "span_start": 1_000_000,
        "span_end": 2_000_000,
        "ts": 1_000_000,
        "received_at": 0,
        "role": "user",
        "text": "hello",
    }
    return {**base, **values}


def _assembled(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    batch = assemble(pa.Table.from_pylist(rows, schema=STAGED), TraceRules())
    return batch.interactions.to_pylist(), batch.turns.to_pylist()


def test_one_turn_per_tool_call_system_prompt_and_retried_message() -> None:
    rows = [
        _row(span_id="a", part=0, role="system", text="be brief", input_index=-1),
        _row(span_id="a", part=1, role="user", text="book it", input_index=1),
        _row(span_id="a", part=2, role="assistant", text="booking", ts=2_000_000),
        # the tool span, and the same call as a tool message of the next model call
        _row(span_id="b", source="tool", role="tool", text="ok", call_id="k1", ts=3_000_000),
        _row(span_id="c", part=0, role="tool", text="ok", call_id="k1", ts=4_000_000),
        # the next call repeats the system prompt; a retry gives the question again
        _row(span_id="c", part=1, role="system", text="be brief", ts=4_000_000),
        _row(span_id="d", part=0, role="user", text="book it", input_index=1, ts=5_000_000),
        _row(span_id="d", part=1, role="assistant", text="done", ts=6_000_000, intent="book"),
    ]
    interactions, turns = _assembled(rows)
    assert [(t["role"], t["text"]) for t in turns] == [
        ("system", "be brief"),
        ("user", "book it"),
        ("assistant", "booking"),
        ("tool", "ok"),
        ("assistant", "done"),
    ]
    assert '"otel.source":"tool"' in turns[3]["attributes"]  # the span's copy, not the message
    assert interactions[0]["journey"] == "book"
    assert interactions[0]["outcome"] == "contained"


def test_a_hand_off_by_tool_name_or_by_a_named_tool_call() -> None:
    by_name = [_row(source="tool", role="tool", text="ok", tool_name="transfer_to_human")]
    by_call = [
        _row(
            role="assistant",
            text="one moment",
            attributes='{"tool_calls":["escalate_to_agent"]}',
            conversation="c2",
        )
    ]
    neither = [_row(source="tool", role="tool", tool_name="lookup", conversation="c3")]
    interactions, _ = _assembled(by_name + by_call + neither)
    outcome = {i["interaction_id"]: i["outcome"] for i in interactions}
    assert outcome == {"c1": "escalated", "c2": "escalated", "c3": "contained"}


def _repeats_by_rows(conv: list[int], ts: list[int], keys: list[list[int]]) -> list[bool]:
    order = sorted(range(len(conv)), key=lambda i: (conv[i], ts[i], i))
    seen: set[tuple[int, ...]] = set()
    out = [False] * len(conv)
    for i in order:
        key = (conv[i], *(k[i] for k in keys))
        out[i] = key in seen
        seen.add(key)
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(*(st.integers(0, 2) for _ in range(5))), max_size=30))
def test_latest_copies_keep_the_last_received_copy_of_each_piece(
    pieces: list[tuple[int, int, int, int, int]],
) -> None:
    """(deployment, conversation, span, part, received): per piece the last received copy,
    the first of those received at once, in the input's order; conversations numbered by
    first appearance among the rows kept."""
    table = pa.table(
        {
            "deployment": pa.array([f"d{p[0]}" for p in pieces], type=pa.string()),
            "conversation": pa.array([f"c{p[1]}" for p in pieces], type=pa.string()),
            "span_id": pa.array([f"s{p[2]}" for p in pieces], type=pa.string()),
            "part": pa.array([p[3] for p in pieces], type=pa.int32()),
            "received_at": pa.array([p[4] for p in pieces], type=pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "row": list(range(len(pieces))),
        }
    )
    best: dict[tuple[int, ...], int] = {}
    for i, p in enumerate(pieces):
        key = p[:4]
        if key not in best or p[4] > pieces[best[key]][4]:
            best[key] = i
    kept, conv = _latest_copies(table)
    assert kept["row"].to_pylist() == sorted(best.values())
    names: dict[tuple[str, str], int] = {}
    for d, c in zip(kept["deployment"].to_pylist(), kept["conversation"].to_pylist(), strict=True):
        names.setdefault((d, c), len(names))
    expected = [
        names[(d, c)]
        for d, c in zip(
            kept["deployment"].to_pylist(), kept["conversation"].to_pylist(), strict=True
        )
    ]
    assert conv.tolist() == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(*(st.integers(0, 3) for _ in range(4))), max_size=30))
def test_repeats_are_the_later_rows_of_a_key_in_time_order(
    rows: list[tuple[int, int, int, int]],
) -> None:
    conv, ts, a, b = ([r[i] for r in rows] for i in range(4))
    got = _repeats(*(np.array(x, dtype=np.int64) for x in (conv, ts, a, b)))
    assert got.tolist() == _repeats_by_rows(conv, ts, [a, b])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.sampled_from([None, "", "a", "b", "c"])), max_size=30)
)
def test_top_intent_is_the_most_frequent_first_seen_among_equals(
    turns: list[tuple[int, str | None]],
) -> None:
    conv = np.array([c for c, _ in turns], dtype=np.int64)
    intents = pa.chunked_array([pa.array([i for _, i in turns], type=pa.string())])
    counters: list[Counter[str]] = [Counter() for _ in range(4)]
    for c, intent in turns:
        if intent:
            counters[c][intent] += 1
    expected = [c.most_common(1)[0][0] if c else None for c in counters]
    assert _top_intents(intents, conv, 4) == expected


def test_a_rewritten_conversation_counts_its_traces_once(tmp_path: Path) -> None:
    """A late span rewrites its stored conversation: the stored copy's own row is no trace,
    and the traces it held that made no turn are still counted."""
    facts_only = {"source": "meta", "role": None, "text": None, "channel": "chat"}
    first = [
        _row(trace_id="t1", span_id="s1", role="user", text="hi"),
        _row(trace_id="t1", span_id="s2", role="assistant", text="hello", ts=1_500_000),
        # Two traces that make no turn (spans with facts only).
        _row(trace_id="t2", span_id="s3", **facts_only),
        _row(trace_id="t5", span_id="s5", **facts_only),
        _row(conversation="c2", trace_id="t4", span_id="s6", role="user", text="hey"),
    ]
    late = [
        _row(trace_id="t3", span_id="s4", role="user", text="again", ts=9_000_000),
        _row(conversation="c2", trace_id="t6", span_id="s7", role="user", text="yo", ts=9_000_000),
    ]

    def traces(batch: Batch) -> dict[str, int]:
        return {
            i["interaction_id"]: orjson.loads(i["attributes"])["otel.traces"]
            for i in batch.interactions.to_pylist()
        }

    with open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}") as store:
        batch = assemble(pa.Table.from_pylist(first, schema=STAGED), TraceRules())
        assert traces(batch) == {"c1": 3, "c2": 1}
        store.write(batch, source="otlp", batch_id="b1")
        stored = stored_rows(store, [("care-bot", "c1"), ("care-bot", "c2")])
        again = assemble(
            pa.concat_tables([stored, pa.Table.from_pylist(late, schema=STAGED)]), TraceRules()
        )
    assert traces(again) == {"c1": 4, "c2": 2}
    texts = [(t["interaction_id"], t["text"]) for t in again.turns.to_pylist()]
    assert sorted(texts) == [
        ("c1", "again"),
        ("c1", "hello"),
        ("c1", "hi"),
        ("c2", "hey"),
        ("c2", "yo"),
    ]


def _stored_rows_per_row(store: Any, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """stored_rows read the plain way, a dict per stored row (the reference)."""
    identity = ("otel.part", "otel.source", "otel.span_id", "otel.trace_id", "otel.input_index")
    out: list[dict[str, Any]] = []
    found = store.query(
        "SELECT * FROM interactions ORDER BY deployment, interaction_id"
    ).to_pylist()
    found = [f for f in found if (f["deployment"], f["interaction_id"]) in set(keys)]
    turns = [
        t
        for t in store.query("SELECT * FROM turns").to_pylist()
        if (t["deployment"], t["interaction_id"]) in set(keys)
    ]
    for f in found:
        attrs = orjson.loads(f["attributes"]) if f["attributes"] else {}
        seen = {
            orjson.loads(t["attributes"]).get("otel.trace_id")
            for t in turns
            if t["attributes"]
            and (t["deployment"], t["interaction_id"]) == (f["deployment"], f["interaction_id"])
        } - {None}
        turnless = max(0, int(attrs.get("otel.traces") or 0) - len(seen))
        out.append(
            {
                "deployment": f["deployment"],
                "conversation": f["interaction_id"],
                "keyed": True,
                "trace_id": "",
                "span_id": "",
                "part": -1,
                "source": "meta",
                "span_start": f["started_at"],
                "span_end": f["ended_at"] or f["started_at"],
                "received_at": f["started_at"],
                "customer_ref": f["customer_ref"],
                "channel": f["channel"],
                "journey": f["journey"],
                "outcome": attrs.get("otel.outcome"),
                "segments": orjson.dumps(dict(f["segments"])).decode() if f["segments"] else None,
                "scores": orjson.dumps(attrs["scores"]).decode() if attrs.get("scores") else None,
                "attributes": (
                    orjson.dumps({"otel.turnless_traces": turnless}).decode() if turnless else None
                ),
            }
        )
    for t in turns:
        attrs = orjson.loads(t["attributes"]) if t["attributes"] else {}
        ident = {k: attrs.pop(k, None) for k in identity}
        same = ("deployment", "ts", "role", "text", "intent", "confidence", "fallback")
        more = ("latency_ms", "error", "model", "tokens_in", "tokens_out", "cost")
        out.append(
            {
                **{k: t[k] for k in same + more},
                "conversation": t["interaction_id"],
                "keyed": True,
                "trace_id": ident["otel.trace_id"] or "",
                "span_id": ident["otel.span_id"] or f"stored-{t['seq']}",
                "part": ident["otel.part"] if ident["otel.part"] is not None else 0,
                "source": ident["otel.source"] or "llm",
                "span_start": t["ts"],
                "span_end": t["ts"],
                "received_at": t["ts"],
                "attributes": orjson.dumps(attrs).decode() if attrs else None,
                "call_id": attrs.get("tool.call_id"),
                "input_index": ident["otel.input_index"],
                "tool_name": attrs.get("tool.name"),
            }
        )
    return out


def test_stored_rows_read_back_every_fact_a_rewrite_needs(tmp_path: Path) -> None:
    """The stored conversations as staged pieces, column by column, equal the plain per-row
    reading: facts, segments, scores, outcome, turnless traces, and each turn's identity."""
    facts = {
        "customer_ref": "cust-1",
        "channel": "chat",
        "journey": "refund",
        "outcome": "resolved",
        "segments": '{"tier":"gold"}',
        "scores": '{"helpful":0.5}',
    }
    rows = [
        _row(trace_id="t1", span_id="s1", role="user", text="hi", **facts),
        _row(
            trace_id="t1",
            span_id="s2",
            part=1,
            role="assistant",
            text="hello",
            ts=1_500_000,
            model="m-1",
            tokens_in=12,
            tokens_out=3,
            cost=0.25,
            latency_ms=40.0,
            intent="refund",
            confidence=0.75,
            fallback=False,
            attributes='{"finish_reason":"stop"}',
        ),
        _row(
            trace_id="t1",
            span_id="s3",
            source="tool",
            role="tool",
            text="ok",
            call_id="k1",
            tool_name="lookup",
            ts=1_700_000,
            error="boom",
            attributes='{"tool.call_id":"k1","tool.name":"lookup"}',
        ),
        _row(trace_id="t2", span_id="s4", source="meta", role=None, text=None),
        _row(deployment="shop", conversation="c9", trace_id="t9", span_id="s9", input_index=1),
    ]
    keys = [("care-bot", "c1"), ("shop", "c9"), ("care-bot", "never-written")]
    with open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}") as store:
        store.write(
            assemble(pa.Table.from_pylist(rows, schema=STAGED), TraceRules()),
            source="otlp",
            batch_id="b1",
        )
        stored = stored_rows(store, keys)
        expected = pa.Table.from_pylist(_stored_rows_per_row(store, keys), schema=STAGED)
    assert stored.schema == STAGED
    assert stored.num_rows == 6  # two conversations' own rows and their four turns

    def ordered(t: pa.Table) -> list[dict[str, Any]]:
        return sorted(t.to_pylist(), key=lambda r: (r["deployment"], r["span_id"], r["part"]))

    assert ordered(stored) == ordered(expected)
    own = {r["conversation"]: r for r in stored.to_pylist() if r["source"] == "meta"}
    assert own["c1"]["attributes"] == '{"otel.turnless_traces":1}'
    assert own["c1"]["segments"] == '{"tier":"gold"}'
    tool = [r for r in stored.to_pylist() if r["role"] == "tool"]
    assert [(r["call_id"], r["tool_name"], r["span_id"]) for r in tool] == [("k1", "lookup", "s3")]


def test_stored_rows_of_nothing_stored_are_empty(tmp_path: Path) -> None:
    with open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}") as store:
        stored = stored_rows(store, [("care-bot", "c1")])
    assert stored.num_rows == 0
    assert stored.schema == STAGED
