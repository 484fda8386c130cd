"""Staged pieces of ended conversations to interactions, written through the events store.

A conversation has *ended* when its last span ended at least ``idle`` ago (event time) and no
span of it arrived in the last ``settle`` (server time): live traffic ends ``idle`` after its
last span, a backfill of old traces ``settle`` after it was sent. Its pieces are then merged
into one interaction:

* a piece sent twice is kept once (key ``span_id`` + ``part``, the later copy wins);
* a span that arrives after its conversation was written (late) is merged with the turns
  already stored, and the interaction is written again (replacing the earlier copy);
* turns are ordered by time (``ts``, then span start, span id and part) and numbered;
* a tool call seen both as a tool span and as a tool message in a later model call is one
  turn (the span's: it has the latency and the error); a system prompt repeated by every call
  is one turn; an agent or chain step's input and output become turns only in traces without
  model calls of their own (otherwise they repeat them);
* interaction facts come from the pieces: start and end from the spans' times, customer,
  channel, journey, segments and evaluation scores from the first piece that names them, the
  outcome from ``daytwo.outcome`` where a span says it, else ``escalated`` when a tool named
  like a hand-off to a person was called, else the rules' default (``contained``); the journey
  from ``daytwo.journey``, else the most frequent turn intent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.interactions.columns import (
    ASSIST_EVENTS,
    INTERACTIONS,
    OUTCOMES,
    SEGMENTS,
    TURNS,
    Batch,
    with_locators,
)
from daytwo.interactions.validate import validate_batch
from daytwo.store.events import EventStore
from daytwo.store.events.columns import column_us
from daytwo.store.events.staging import STAGED

DEFAULT_HANDOFF = r"(?i)(hand_?off|hand_?over|transfer|escalat|human|live_?agent|operator)"
# A missing time, as a number: before every real one.
NO_TIME = int(np.iinfo(np.int64).min)
_IDENTITY = ("otel.part", "otel.source", "otel.span_id", "otel.trace_id", "otel.input_index")


@dataclass(frozen=True, slots=True)
class TraceRules:
    """How a conversation's outcome is decided where no span states it."""

    handoff_tools: str = DEFAULT_HANDOFF
    default_outcome: str | None = "contained"

    def __post_init__(self) -> None:
        re.compile(self.handoff_tools)
        if self.default_outcome is not None and self.default_outcome not in OUTCOMES:
            raise ValueError(f"default_outcome must be one of {', '.join(OUTCOMES)}")


@dataclass(frozen=True, slots=True)
class Assembled:
    conversations: int
    turns: int
    inserted: int
    replaced: int
    unstaged: int
    # Whether the round took as many conversations as it may: more may have ended.
    more: bool = False


def assemble_ended(
    store: EventStore,
    *,
    now: datetime,
    idle: timedelta,
    settle: timedelta,
    rules: TraceRules | None = None,
    limit: int = 20_000,
) -> Assembled:
    """Write every conversation that has ended by ``now`` (up to ``limit``), then unstage it."""
    keys = store.staged_ended(ended_before=now - idle, received_before=now - settle, limit=limit)
    if not keys:
        return Assembled(0, 0, 0, 0, 0)
    staged = store.staged_rows(keys)
    received_upto = pc.max(staged["received_at"]).as_py()
    stored = stored_rows(store, keys)
    rows = pa.concat_tables([staged, stored.cast(staged.schema)]) if stored.num_rows else staged
    batch = assemble(rows, rules or TraceRules())
    errors = validate_batch(batch)
    if errors:  # pragma: no cover - every piece passed the same checks when it arrived
        raise AssertionError(f"assembled conversations break the rules: {errors[:3]}")
    written, unstaged = store.write_assembled(
        batch, source="otlp", batch_id=uuid.uuid4().hex, keys=keys, received_upto=received_upto
    )
    return Assembled(
        batch.n_records,
        written.turns,
        written.inserted,
        written.replaced,
        unstaged,
        more=len(keys) >= limit,
    )


def stored_rows(store: EventStore, keys: Sequence[tuple[str, str]]) -> pa.Table:
    """Staged-shaped rows of the conversations of ``keys`` already written (late spans).

    Built column by column: the stored columns a staged row has too are taken as they are;
    only the JSON attributes are read in Python (a turn's identity lives there), one value
    per row, not a dict per row.
    """
    by_deployment: dict[str, list[str]] = {}
    for deployment, conversation in sorted(store.stored_keys(list(keys))):
        by_deployment.setdefault(deployment, []).append(conversation)
    found = [
        (deployment, _table_of(store, _STORED_INTERACTIONS, deployment, ids))
        for deployment, ids in by_deployment.items()
    ]
    found = [(d, t) for d, t in found if t.num_rows]
    if not found:
        return STAGED.empty_table()
    interactions = pa.concat_tables([t for _, t in found])
    turns = pa.concat_tables(
        [
            _table_of(store, "SELECT * FROM turns", d, t["interaction_id"].to_pylist())
            for d, t in found
        ]
    )
    turn_attrs = [orjson.loads(a) if a else {} for a in turns["attributes"].to_pylist()]
    return pa.concat_tables(
        [_stored_meta(interactions, turns, turn_attrs), _stored_turns(turns, turn_attrs)]
    )


def _stored_meta(found: pa.Table, turns: pa.Table, turn_attrs: list[dict[str, Any]]) -> pa.Table:
    """A stored conversation's own row (its trace id empty): its facts, and how many of its
    traces made no turn."""
    # The traces each stored conversation's turns came from: its count of traces may hold
    # more (traces that made no turn), carried in its own row so a rewrite keeps them.
    turn_traces: dict[tuple[str, str], set[str]] = {}
    for deployment, conversation, attrs in zip(
        turns["deployment"].to_pylist(),
        turns["interaction_id"].to_pylist(),
        turn_attrs,
        strict=True,
    ):
        trace_id = attrs.get("otel.trace_id")
        if trace_id:
            turn_traces.setdefault((deployment, conversation), set()).add(trace_id)
    outcomes: list[Any] = []
    segments: list[str | None] = []
    scores: list[str | None] = []
    turnless_json: list[str | None] = []
    for deployment, conversation, raw, segs in zip(
        found["deployment"].to_pylist(),
        found["interaction_id"].to_pylist(),
        found["attributes"].to_pylist(),
        found["segments"].to_pylist(),
        strict=True,
    ):
        attrs = orjson.loads(raw) if raw else {}
        seen = len(turn_traces.get((deployment, conversation), ()))
        turnless = max(0, int(attrs.get("otel.traces") or 0) - seen)
        outcomes.append(attrs.get("otel.outcome"))
        segments.append(orjson.dumps(dict(segs)).decode() if segs else None)
        scores.append(orjson.dumps(attrs["scores"]).decode() if attrs.get("scores") else None)
        turnless_json.append(orjson.dumps({_TURNLESS: turnless}).decode() if turnless else None)
    n = found.num_rows
    started = found["started_at"]
    columns: dict[str, Any] = {
        "deployment": found["deployment"],
        "conversation": found["interaction_id"],
        "keyed": [True] * n,
        "trace_id": [""] * n,
        "span_id": [""] * n,
        "part": [-1] * n,
        "source": ["meta"] * n,
        "span_start": started,
        "span_end": pc.coalesce(found["ended_at"], started),
        "received_at": started,
        "customer_ref": found["customer_ref"],
        "channel": found["channel"],
        "journey": found["journey"],
        "outcome": outcomes,
        "segments": segments,
        "scores": scores,
        "attributes": turnless_json,
    }
    return _staged(columns, n)


def _stored_turns(turns: pa.Table, turn_attrs: list[dict[str, Any]]) -> pa.Table:
    """A stored turn as a staged piece, its identity (span, part, source…) read back from its
    attributes."""
    trace_ids: list[Any] = []
    span_ids: list[Any] = []
    parts: list[Any] = []
    sources: list[Any] = []
    attributes: list[str | None] = []
    call_ids: list[Any] = []
    input_indexes: list[Any] = []
    tool_names: list[Any] = []
    for attrs, seq in zip(turn_attrs, turns["seq"].to_pylist(), strict=True):
        identity = {k: attrs.pop(k, None) for k in _IDENTITY}
        trace_ids.append(identity["otel.trace_id"] or "")
        span_ids.append(identity["otel.span_id"] or f"stored-{seq}")
        parts.append(identity["otel.part"] if identity["otel.part"] is not None else 0)
        sources.append(identity["otel.source"] or "llm")
        attributes.append(orjson.dumps(attrs).decode() if attrs else None)
        call_ids.append(attrs.get("tool.call_id"))
        input_indexes.append(identity["otel.input_index"])
        tool_names.append(attrs.get("tool.name"))
    n = turns.num_rows
    ts = turns["ts"]
    columns: dict[str, Any] = {
        name: turns[name]
        for name in (
            "deployment",
            "ts",
            "role",
            "text",
            "intent",
            "confidence",
            "fallback",
            "latency_ms",
            "error",
            "model",
            "tokens_in",
            "tokens_out",
            "cost",
        )
    }
    columns.update(
        {
            "conversation": turns["interaction_id"],
            "keyed": [True] * n,
            "trace_id": trace_ids,
            "span_id": span_ids,
            "part": parts,
            "source": sources,
            "span_start": ts,
            "span_end": ts,
            # Older than anything staged: a re-sent piece replaces its stored copy.
            "received_at": ts,
            "attributes": attributes,
            "call_id": call_ids,
            "input_index": input_indexes,
            "tool_name": tool_names,
        }
    )
    return _staged(columns, n)


def _staged(columns: dict[str, Any], n: int) -> pa.Table:
    """``columns`` (Arrow columns or Python lists) as a table of STAGED, nulls where absent."""
    arrays = []
    for f in STAGED:
        value = columns.get(f.name)
        if value is None:
            arrays.append(pa.nulls(n, type=f.type))
        elif isinstance(value, list):
            arrays.append(pa.array(value, type=f.type))
        else:
            arrays.append(value.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=STAGED)


# In a stored conversation's own row (its trace id empty): how many of its traces made no turn.
_TURNLESS = "otel.turnless_traces"

_STORED_INTERACTIONS = (
    "SELECT interaction_id, deployment, started_at, ended_at, customer_ref, channel, journey, "
    "segments, attributes FROM interactions"
)


def _table_of(store: EventStore, select: str, deployment: str, ids: Sequence[str]) -> pa.Table:
    """``select`` (a constant) for the interactions ``ids`` of ``deployment``, 500 at a time."""
    out: list[pa.Table] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ", ".join("?" for _ in chunk)
        sql = f"{select} WHERE deployment = ? AND interaction_id IN ({marks})"
        out.append(store.query(sql, [deployment, *chunk]))
    return pa.concat_tables(out) if len(out) != 1 else out[0]


def assemble(rows: pa.Table, rules: TraceRules) -> Batch:
    """The interactions (with their turns) of every conversation in ``rows``."""
    rows, conv = _latest_copies(rows)
    role = rows["role"]
    source, sources = _coded(rows["source"])
    from_llm = source == sources.get("llm", -2)
    from_tool = source == sources.get("tool", -2)
    is_turn = np.asarray(pc.is_valid(role))
    keep = is_turn.copy()
    # A chain step repeats the model calls of its trace: its text turns only where there are
    # none.
    trace = _codes(rows["trace_id"])
    ts = column_us(rows["ts"], null=NO_TIME)
    llm_traces = np.unique(trace[is_turn & from_llm])
    keep &= ~((source == sources.get("chain", -2)) & np.isin(trace, llm_traces))
    role_code, roles = _coded(role)
    has_call = np.asarray(pc.is_valid(rows["call_id"]))
    # One turn per tool call: the tool span's where there is one, else the first message
    # that names it (in the rows' order).
    tools = np.flatnonzero(keep & (role_code == roles.get("tool", -2)) & has_call)
    if len(tools):
        call = _codes(rows["call_id"])
        key = conv[tools].astype(np.int64) * (int(call.max()) + 1) + call[tools]
        spanned = from_tool[tools]
        messages, named = tools[~spanned], key[~spanned]
        repeated = np.isin(named, key[spanned])
        keep[messages[repeated]] = False
        rest = messages[~repeated]
        _, first = np.unique(named[~repeated], return_index=True)
        later = np.ones(len(rest), dtype=bool)
        later[first] = False
        keep[rest[later]] = False
    # One system turn per distinct prompt.
    systems = np.flatnonzero(keep & (role_code == roles.get("system", -2)))
    if len(systems):
        text = _codes(rows["text"].take(pa.array(systems, type=pa.int64())))
        keep[systems[_repeats(conv[systems], ts[systems], text)]] = False

    # A message given again to a later call (a retry after a failure) is the same turn:
    # same role, text and position in the call's input.
    again = np.flatnonzero(
        keep
        & from_llm
        & (role_code != roles.get("system", -2))
        & ~has_call
        & np.asarray(pc.is_valid(rows["input_index"]))
    )
    if len(again):
        position = rows["input_index"].take(pa.array(again)).to_numpy(zero_copy_only=False)
        keep[
            again[
                _repeats(
                    conv[again],
                    ts[again],
                    role_code[again],
                    _codes(rows["text"].take(pa.array(again, type=pa.int64()))),
                    position.astype(np.int64),
                )
            ]
        ] = False

    idx = np.flatnonzero(keep)
    order = np.lexsort(
        (
            rows["part"].to_numpy()[idx],
            _codes(rows["span_id"])[idx],
            column_us(rows["span_start"], null=NO_TIME)[idx],
            ts[idx],
            conv[idx],
        )
    )
    idx = idx[order]
    turn_rows = rows.take(pa.array(idx, type=pa.int64()))
    turn_conv = conv[idx]
    starts = np.r_[0, np.flatnonzero(np.diff(turn_conv)) + 1]
    seq = np.arange(len(idx)) - np.repeat(starts, np.diff(np.r_[starts, len(idx)]))

    interactions, record_of = _interactions(rows, conv, trace, turn_rows, turn_conv, rules)
    turns = _turns(turn_rows, seq, record_of[turn_conv])
    return Batch(interactions, turns, with_locators(ASSIST_EVENTS, pos=True).empty_table())


def _latest_copies(rows: pa.Table) -> tuple[pa.Table, np.ndarray]:
    """One row per ``(deployment, conversation, span_id, part)``: the last received; and
    each kept row's conversation code (:func:`_conversation_codes`)."""
    conv = _conversation_codes(rows)
    span = _codes(rows["span_id"])
    part = rows["part"].to_numpy()
    order = np.lexsort((part, span, conv))
    same = (
        (conv[order][1:] == conv[order][:-1])
        & (span[order][1:] == span[order][:-1])
        & (part[order][1:] == part[order][:-1])
    )
    if not same.any():  # the usual case: no piece twice
        return rows, conv
    # The last received of each key (the first in the input among copies received at once).
    order = np.lexsort((-column_us(rows["received_at"], null=NO_TIME), part, span, conv))
    first = order[np.r_[True, ~same]]
    rows = rows.take(pa.array(np.sort(first), type=pa.int64()))
    return rows, _conversation_codes(rows)


def _conversation_codes(rows: pa.Table) -> np.ndarray:
    """A code per row for its ``(deployment, conversation)``, numbered by first appearance."""
    return _codes(pc.binary_join_element_wise(rows["deployment"], rows["conversation"], "\x1f"))


def _first_per_conversation(
    values: pa.ChunkedArray, conv: np.ndarray, by_conv: np.ndarray
) -> list[tuple[int, Any]]:
    """For each conversation with a non-null value, its first value in ``by_conv`` (row
    numbers grouped by conversation, in the order that decides within each)."""
    valid = np.asarray(pc.is_valid(values))[by_conv]
    ranked = by_conv[valid]
    if not len(ranked):
        return []
    convs = conv[ranked]
    first = np.r_[True, convs[1:] != convs[:-1]]
    picked = values.take(pa.array(ranked[first], type=pa.int64())).to_pylist()
    return list(zip(convs[first].tolist(), picked, strict=True))


def _codes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False))


def _coded(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, dict[Any, int]]:
    """:func:`_codes` of ``values``, and each distinct value's code."""
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False))
    return codes, {v: i for i, v in enumerate(encoded.dictionary.to_pylist())}


def _repeats(conv: np.ndarray, ts: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Which rows repeat an earlier one of their conversation (same ``keys``), earlier by
    time (``ts``), then by position."""
    order = np.lexsort((ts, conv))
    columns = [conv[order], *(k[order] for k in keys)]
    # Grouped by key, stably: each group's first row is its earliest.
    grouped = np.lexsort(columns[::-1])
    repeat = np.ones(len(order), dtype=bool)
    if len(grouped):
        same = np.ones(len(grouped) - 1, dtype=bool)
        for column in columns:
            ranked = column[grouped]
            same &= ranked[1:] == ranked[:-1]
        repeat[grouped[np.r_[True, ~same]]] = False
    out = np.zeros(len(order), dtype=bool)
    out[order] = repeat
    return out


def _interactions(
    rows: pa.Table,
    conv: np.ndarray,
    trace: np.ndarray,
    turn_rows: pa.Table,
    turn_conv: np.ndarray,
    rules: TraceRules,
) -> tuple[pa.Table, np.ndarray]:
    n_conv = int(conv.max()) + 1 if len(conv) else 0
    starts = column_us(rows["span_start"], null=NO_TIME)
    ends = column_us(rows["span_end"], null=NO_TIME)
    started = np.full(n_conv, np.iinfo(np.int64).max)
    ended = np.full(n_conv, np.iinfo(np.int64).min)
    np.minimum.at(started, conv, starts)
    np.maximum.at(ended, conv, ends)

    # Facts named by the pieces, first one wins (in order of arrival, then time).
    order = np.lexsort((starts, column_us(rows["received_at"], null=NO_TIME)))
    # The same order, grouped by conversation (stably): a conversation's first valid row in
    # it is its first valid row in ``order``.
    by_conv = order[np.argsort(conv[order], kind="stable")]
    facts: list[dict[str, Any]] = [{} for _ in range(n_conv)]
    for name in ("deployment", "conversation", "customer_ref", "channel", "journey", "outcome"):
        for c, value in _first_per_conversation(rows[name], conv, by_conv):
            facts[c][name] = value
    for name in ("segments", "scores"):
        # Rare: merged in Python, earlier pieces winning.
        values = rows[name]
        present = np.flatnonzero(np.asarray(pc.is_valid(values)))
        for i in present[np.argsort(np.argsort(order)[present])][::-1]:
            merged = facts[conv[i]].setdefault(name, {})
            merged.update(orjson.loads(values[int(i)].as_py()))
    # The distinct traces of each conversation's pieces; a stored conversation's own row
    # (late spans, see stored_rows: its trace id is empty) is none, and adds the traces of
    # the stored copy that made no turn.
    stored = np.asarray(pc.equal(rows["trace_id"], ""))
    traces = trace.astype(np.int64)
    width = int(traces.max()) + 1 if len(traces) else 1
    pairs = np.unique(conv[~stored].astype(np.int64) * width + traces[~stored])
    n_traces = np.bincount(pairs // width, minlength=n_conv)
    for i in np.flatnonzero(stored & np.asarray(pc.is_valid(rows["attributes"]))):
        n_traces[conv[i]] += int(orjson.loads(rows["attributes"][int(i)].as_py()).get(_TURNLESS, 0))

    # The hand-off rule, from the tools called: each distinct name tested once; the answers
    # that name tool calls (their attributes hold them) read one by one.
    handoff = re.compile(rules.handoff_tools)
    escalated = np.zeros(n_conv, dtype=bool)
    name_code, names = _coded(turn_rows["tool_name"])
    handed = np.array([bool(n) and handoff.search(n) is not None for n in names], dtype=bool)
    by_name = np.append(handed, False)[name_code]  # a null name (-1) is the appended False
    escalated[turn_conv[by_name]] = True
    attrs = turn_rows["attributes"]
    asked = np.flatnonzero(
        ~by_name & np.asarray(pc.fill_null(pc.match_substring(attrs, '"tool_calls"'), False))
    )
    for i, text in zip(
        asked, attrs.take(pa.array(asked, type=pa.int64())).to_pylist(), strict=True
    ):
        calls = orjson.loads(text).get("tool_calls") or []
        if any(handoff.search(str(call)) for call in calls):
            escalated[turn_conv[i]] = True
    top = _top_intents(turn_rows["intent"], turn_conv, n_conv)

    # Built a column at a time: only the outcome, journey and attributes need each
    # conversation's facts in Python.
    outcomes: list[str | None] = []
    journeys: list[str | None] = []
    attributes: list[str] = []
    segments: list[list[tuple[str, str]] | None] = []
    n_traces_of = n_traces.tolist()
    escalated_of = escalated.tolist()
    for c, f in enumerate(facts):
        outcome = f.get("outcome")
        rule = "attribute"
        if outcome not in OUTCOMES:
            outcome, rule = (
                ("escalated", "handoff") if escalated_of[c] else (rules.default_outcome, "default")
            )
        outcomes.append(outcome)
        journeys.append(f.get("journey") or top[c])
        kept: dict[str, Any] = {"otel.traces": n_traces_of[c], "otel.outcome_rule": rule}
        if rule == "attribute":
            kept["otel.outcome"] = outcome
        if f.get("scores"):
            kept["scores"] = f["scores"]
        attributes.append(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS).decode())
        segs = f.get("segments")
        segments.append(sorted(segs.items()) if segs else None)
    columns: dict[str, pa.Array] = {
        "interaction_id": pa.array([f["conversation"] for f in facts], type=pa.string()),
        "deployment": pa.array([f["deployment"] for f in facts], type=pa.string()),
        "started_at": pa.array(started, type=pa.int64()),
        "ended_at": pa.array(ended, type=pa.int64()),
        "channel": pa.array([f.get("channel") for f in facts], type=pa.string()),
        "journey": pa.array(journeys, type=pa.string()),
        "customer_ref": pa.array([f.get("customer_ref") for f in facts], type=pa.string()),
        "segments": pa.array(segments, type=SEGMENTS),
        "outcome": pa.array(outcomes, type=pa.string()),
        "handle_time_s": pa.array((ended - started) / 1e6, type=pa.float64()),
        "ai_used": pa.array(np.ones(n_conv, dtype=bool)),
        "attributes": pa.array(attributes, type=pa.string()),
        "n_turns": pa.array(np.bincount(turn_conv, minlength=n_conv).astype(np.int32)),
    }
    arrays = {}
    for fld in INTERACTIONS:
        if fld.name not in columns:
            arrays[fld.name] = pa.nulls(n_conv, type=fld.type)
        elif fld.name in ("started_at", "ended_at"):
            arrays[fld.name] = columns[fld.name].cast(fld.type)
        else:
            arrays[fld.name] = columns[fld.name]
    arrays["_record"] = pa.array(np.arange(n_conv), type=pa.int64())
    table = pa.table(arrays, schema=with_locators(INTERACTIONS, pos=False))
    return table, np.arange(n_conv)


def _top_intents(intent: pa.ChunkedArray, conv: np.ndarray, n_conv: int) -> list[str | None]:
    """Each conversation's most frequent turn intent (the first seen among equals), or None."""
    code, values = _coded(intent)
    text = list(values)
    named = np.flatnonzero(code >= 0)
    named = named[[bool(text[c]) for c in code[named]]]  # an empty intent names none
    top: list[str | None] = [None] * n_conv
    if not len(named):
        return top
    pair = conv[named].astype(np.int64) * len(text) + code[named]
    pairs, first, counts = np.unique(pair, return_index=True, return_counts=True)
    of = pairs // len(text)
    ranked = np.lexsort((first, -counts, of))
    best = ranked[np.r_[True, of[ranked][1:] != of[ranked][:-1]]]
    for c, i in zip(of[best].tolist(), (pairs[best] % len(text)).tolist(), strict=True):
        top[c] = text[i]
    return top


def _turns(turn_rows: pa.Table, seq: np.ndarray, records: np.ndarray) -> pa.Table:
    # The span identity goes into the stored attributes (after redaction ran on them), so a
    # late span of an ended conversation can be merged with what is stored.
    identity = pc.binary_join_element_wise(
        '{"otel.part":',
        pc.cast(turn_rows["part"], pa.string()),
        ',"otel.source":"',
        turn_rows["source"],
        '","otel.span_id":"',
        turn_rows["span_id"],
        '","otel.trace_id":"',
        turn_rows["trace_id"],
        '"',
        "",
    )
    position = turn_rows["input_index"]
    identity = pc.if_else(
        pc.is_valid(position),
        pc.binary_join_element_wise(
            identity, ',"otel.input_index":', pc.cast(position, pa.string()), ""
        ),
        identity,
    )
    rest = turn_rows["attributes"]
    has_rest = pc.fill_null(pc.greater(pc.utf8_length(rest), 2), False)
    tail = pc.if_else(
        has_rest, pc.binary_join_element_wise(",", pc.utf8_slice_codeunits(rest, 1), ""), "}"
    )
    attributes = pc.binary_join_element_wise(identity, tail, "")
    columns: dict[str, Any] = {
        "interaction_id": turn_rows["conversation"],
        "seq": pa.array(seq, type=pa.int32()),
        "attributes": attributes,
        "_record": pa.array(records, type=pa.int64()),
        "_pos": pa.array(seq, type=pa.int32()),
    }
    schema = with_locators(TURNS, pos=True)
    arrays = [columns[f.name] if f.name in columns else turn_rows[f.name] for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)
