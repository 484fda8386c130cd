"""The columnar (Arrow) form of interactions, turns and assist events.

Every door turns its input into a :class:`Batch` of three Arrow tables with the canonical
schemas below; the shared validator and the event stores only ever see this form. Each table
also carries ``_record`` (the index of the source record: the request item, the JSONL line, the
CSV/Parquet row), and turns and assist events carry ``_pos`` (their position in the record), so
an error always names the record and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from daytwo.interactions.wire import InteractionIn

TS = pa.timestamp("us", tz="UTC")
SEGMENTS = pa.map_(pa.string(), pa.string())

OUTCOMES = ("contained", "escalated", "abandoned", "resolved_by_agent", "transferred")
ROLES = ("user", "assistant", "agent", "tool", "system")
ASSIST_ACTIONS = ("shown", "accepted", "edited", "dismissed")
ASSIST_ACTION_ALIASES = {"suggestion_shown": "shown"}

INTERACTIONS = pa.schema(
    [
        pa.field("interaction_id", pa.string(), nullable=False),
        pa.field("deployment", pa.string(), nullable=False),
        pa.field("started_at", TS, nullable=False),
        ("ended_at", TS),
        ("channel", pa.string()),
        ("journey", pa.string()),
        ("customer_ref", pa.string()),
        ("agent_ref", pa.string()),
        ("segments", SEGMENTS),
        ("outcome", pa.string()),
        ("csat", pa.float64()),
        ("handle_time_s", pa.float64()),
        ("cost", pa.float64()),
        ("ai_used", pa.bool_()),
        ("attributes", pa.string()),
        ("n_turns", pa.int32()),
    ]
)

TURNS = pa.schema(
    [
        pa.field("interaction_id", pa.string(), nullable=False),
        pa.field("deployment", pa.string(), nullable=False),
        pa.field("seq", pa.int32(), nullable=False),
        ("ts", TS),
        ("role", pa.string()),
        ("text", pa.string()),
        ("intent", pa.string()),
        ("confidence", pa.float64()),
        ("fallback", pa.bool_()),
        ("latency_ms", pa.float64()),
        ("error", pa.string()),
        ("model", pa.string()),
        ("tokens_in", pa.int64()),
        ("tokens_out", pa.int64()),
        ("cost", pa.float64()),
        ("attributes", pa.string()),
    ]
)

ASSIST_EVENTS = pa.schema(
    [
        pa.field("interaction_id", pa.string(), nullable=False),
        pa.field("deployment", pa.string(), nullable=False),
        pa.field("seq", pa.int32(), nullable=False),
        ("ts", TS),
        ("agent_ref", pa.string()),
        ("feature", pa.string()),
        ("action", pa.string()),
        ("attributes", pa.string()),
    ]
)

RECORD = pa.field("_record", pa.int64(), nullable=False)
POS = pa.field("_pos", pa.int32(), nullable=False)


def with_locators(schema: pa.Schema, *, pos: bool) -> pa.Schema:
    """The schema plus the locator columns that tie each row to its source record."""
    schema = schema.append(RECORD)
    return schema.append(POS) if pos else schema


@dataclass(frozen=True, slots=True)
class Batch:
    """Interactions, turns and assist events of one unit of ingest, in canonical columns."""

    interactions: pa.Table
    turns: pa.Table
    assist_events: pa.Table

    @property
    def n_records(self) -> int:
        return int(self.interactions.num_rows)

    def without_locators(self) -> Batch:
        return Batch(
            interactions=_drop(self.interactions, ("_record",)),
            turns=_drop(self.turns, ("_record", "_pos")),
            assist_events=_drop(self.assist_events, ("_record", "_pos")),
        )

    @staticmethod
    def empty() -> Batch:
        return Batch(
            interactions=with_locators(INTERACTIONS, pos=False).empty_table(),
            turns=with_locators(TURNS, pos=True).empty_table(),
            assist_events=with_locators(ASSIST_EVENTS, pos=True).empty_table(),
        )


def _drop(table: pa.Table, names: Sequence[str]) -> pa.Table:
    present = [n for n in names if n in table.column_names]
    return table.drop_columns(present) if present else table


def _attributes(extra: dict[str, Any] | None) -> str | None:
    if not extra:
        return None
    return orjson.dumps(extra, default=str).decode()


def batch_from_wire(records: Iterable[tuple[int, InteractionIn]]) -> Batch:
    """Transpose validated wire models into a columnar :class:`Batch`.

    ``records`` pairs each model with its source index (request item or file line).
    """
    i_cols: dict[str, list[Any]] = {name: [] for name in INTERACTIONS.names}
    i_cols["_record"] = []
    t_cols: dict[str, list[Any]] = {name: [] for name in TURNS.names}
    t_cols["_record"] = []
    t_cols["_pos"] = []
    a_cols: dict[str, list[Any]] = {name: [] for name in ASSIST_EVENTS.names}
    a_cols["_record"] = []
    a_cols["_pos"] = []

    t_append = {name: t_cols[name].append for name in t_cols}
    for index, rec in records:
        iid, dep = rec.id, rec.deployment
        i_cols["interaction_id"].append(iid)
        i_cols["deployment"].append(dep)
        i_cols["started_at"].append(rec.started_at)
        i_cols["ended_at"].append(rec.ended_at)
        i_cols["channel"].append(rec.channel)
        i_cols["journey"].append(rec.journey)
        i_cols["customer_ref"].append(rec.customer_ref)
        i_cols["agent_ref"].append(rec.agent_ref)
        i_cols["segments"].append(
            [(k, v) for k, v in rec.segments.items()] if rec.segments else None
        )
        i_cols["outcome"].append(rec.outcome)
        i_cols["csat"].append(rec.csat)
        i_cols["handle_time_s"].append(rec.handle_time_s)
        i_cols["cost"].append(rec.cost)
        i_cols["ai_used"].append(rec.ai_used)
        i_cols["attributes"].append(_attributes(rec.model_extra))
        i_cols["n_turns"].append(len(rec.turns))
        i_cols["_record"].append(index)
        for pos, turn in enumerate(rec.turns):
            t_append["interaction_id"](iid)
            t_append["deployment"](dep)
            t_append["seq"](turn.seq)
            t_append["ts"](turn.ts)
            t_append["role"](turn.role)
            t_append["text"](turn.text)
            t_append["intent"](turn.intent)
            t_append["confidence"](turn.confidence)
            t_append["fallback"](turn.fallback)
            t_append["latency_ms"](turn.latency_ms)
            t_append["error"](turn.error)
            t_append["model"](turn.model)
            t_append["tokens_in"](turn.tokens_in)
            t_append["tokens_out"](turn.tokens_out)
            t_append["cost"](turn.cost)
            t_append["attributes"](_attributes(turn.model_extra))
            t_append["_record"](index)
            t_append["_pos"](pos)
        for pos, ev in enumerate(rec.assist_events):
            a_cols["interaction_id"].append(iid)
            a_cols["deployment"].append(dep)
            a_cols["seq"].append(pos)
            a_cols["ts"].append(ev.ts)
            a_cols["agent_ref"].append(ev.agent_ref)
            a_cols["feature"].append(ev.feature)
            a_cols["action"].append(ASSIST_ACTION_ALIASES.get(ev.action, ev.action))
            a_cols["attributes"].append(_attributes(ev.model_extra))
            a_cols["_record"].append(index)
            a_cols["_pos"].append(pos)

    return Batch(
        interactions=_table(i_cols, with_locators(INTERACTIONS, pos=False)),
        turns=_table(t_cols, with_locators(TURNS, pos=True)),
        assist_events=_table(a_cols, with_locators(ASSIST_EVENTS, pos=True)),
    )


def _table(cols: dict[str, list[Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pydict({name: cols[name] for name in schema.names}, schema=schema)


def concat_batches(batches: Sequence[Batch]) -> Batch:
    if not batches:
        return Batch.empty()
    return Batch(
        interactions=pa.concat_tables([b.interactions for b in batches]),
        turns=pa.concat_tables([b.turns for b in batches]),
        assist_events=pa.concat_tables([b.assist_events for b in batches]),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
