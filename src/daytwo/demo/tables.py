"""Arrow columns from integer codes: how the demo builds batches without a Python loop per row.

Strings are never built one Python object per turn: each column is an integer code array taken
(``take``) from a small Arrow vocabulary, and nulls are codes below zero.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.demo.manifest import BOT, JOURNEY_NAMES, MODEL_AFTER, MODEL_BEFORE, N_AGENTS
from daytwo.demo.setting import FEATURES, SEGMENT_VALUES, Plan, lexicon
from daytwo.interactions.columns import (
    ASSIST_ACTIONS,
    INTERACTIONS,
    OUTCOMES,
    ROLES,
    SEGMENTS,
    TS,
    TURNS,
    Batch,
    with_locators,
)

ROLE = {r: i for i, r in enumerate(ROLES)}
OUTCOME = {o: i for i, o in enumerate(OUTCOMES)}
ACTION = {a: i for i, a in enumerate(ASSIST_ACTIONS)}
ROLE_VOCAB = pa.array(ROLES, type=pa.string())
OUTCOME_VOCAB = pa.array(OUTCOMES, type=pa.string())
ACTION_VOCAB = pa.array(ASSIST_ACTIONS, type=pa.string())
FEATURE_VOCAB = pa.array(FEATURES, type=pa.string())
JOURNEY_VOCAB = pa.array(JOURNEY_NAMES, type=pa.string())
CHANNEL_VOCAB = pa.array(["chat", "voice"], type=pa.string())
MODEL_VOCAB = pa.array([MODEL_BEFORE, MODEL_AFTER], type=pa.string())
ERROR_VOCAB = pa.array(["timeout", "upstream_error"], type=pa.string())
AGENT_IDS = pa.array([f"a-{i:04d}" for i in range(N_AGENTS)], type=pa.string())
NPS_VOCAB = pa.array([f'{{"nps": {v}}}' for v in range(11)], type=pa.string())
_SEGMENT_KEYS = pa.array(list(SEGMENT_VALUES), type=pa.string())
_SEGMENT_VOCAB = pa.array([v for vs in SEGMENT_VALUES.values() for v in vs], type=pa.string())
_SEGMENT_START = dict(
    zip(SEGMENT_VALUES, np.cumsum([0, *(len(v) for v in SEGMENT_VALUES.values())]), strict=False)
)


def _customer_refs(numbers: np.ndarray, seed: int) -> pa.Array:
    # A bijection of 0..10^7 (2654435761 is prime): pseudonymous ids that look random.
    scrambled = (numbers * 2_654_435_761 + seed * 7_919) % 10_000_000
    digits = pc.utf8_lpad(pc.cast(pa.array(scrambled), pa.string()), 7, "0")
    return pc.binary_join_element_wise("u-", digits, "")


def nullable_codes(codes: np.ndarray) -> pa.Array:
    """Integer codes for ``take``; negative codes become nulls."""
    codes = np.asarray(codes, dtype=np.int64)
    missing = codes < 0
    return pa.array(codes, mask=missing) if missing.any() else pa.array(codes)


def scatter(at: np.ndarray, codes: np.ndarray, n: int, vocab: pa.Array) -> pa.Array:
    """A string column of length ``n``: ``vocab[codes]`` at rows ``at``, null elsewhere."""
    full = np.full(n, -1, dtype=np.int64)
    full[at] = codes
    return vocab.take(nullable_codes(full))


def sparse_column(n: int, at: np.ndarray, values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    """A column of length ``n`` holding ``values`` at rows ``at``; null elsewhere and for NaN."""
    values = np.asarray(values)
    dense = np.zeros(n, dtype=values.dtype)
    dense[at] = values
    missing = np.ones(n, dtype=bool)
    missing[at] = False
    if values.dtype.kind == "f":
        missing |= np.isnan(dense)
    return pa.array(dense, mask=missing, type=dtype)


def segment_map(n: int, columns: dict[str, np.ndarray]) -> pa.Array:
    """A map column from per-key value codes (into ``SEGMENT_VALUES``); -1 leaves the key out."""
    keys = list(columns)
    codes = np.stack([np.asarray(columns[k], dtype=np.int64) for k in keys], axis=1)
    present = codes >= 0
    global_codes = codes + np.array([_SEGMENT_START[k] for k in keys], dtype=np.int64)
    key_codes = np.broadcast_to(
        np.array([list(SEGMENT_VALUES).index(k) for k in keys]), codes.shape
    )
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    return pa.MapArray.from_arrays(
        pa.array(offsets),
        _SEGMENT_KEYS.take(pa.array(key_codes[present])),
        _SEGMENT_VOCAB.take(pa.array(global_codes[present])),
    ).cast(SEGMENTS)


def interactions_table(
    deployment: str,
    plan: Plan,
    day: int,
    start: np.ndarray,
    *,
    ended: np.ndarray,
    voice: np.ndarray,
    journey: np.ndarray,
    customer: np.ndarray,
    agent: np.ndarray,
    segments: pa.Array,
    outcome: np.ndarray,
    csat: np.ndarray,
    handle: np.ndarray,
    cost: np.ndarray,
    ai_used: np.ndarray,
    n_turns: np.ndarray,
    attributes: pa.Array,
) -> pa.Table:
    """One deployment-day's interactions, ``_record`` being the row number.

    Ids (``cb-20260301-000123``) number the day's conversations before any is dropped, so an
    interaction keeps its id whatever the outage or the cut at "now" removes around it.
    """
    n = len(start)
    prefix = "cb" if deployment == BOT else "ca"
    stamp = (plan.start + timedelta(days=day)).strftime("%Y%m%d")
    number = pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), 6, "0")
    return pa.Table.from_arrays(
        [
            pc.binary_join_element_wise(f"{prefix}-{stamp}-", number, ""),
            pa.repeat(pa.scalar(deployment), n),
            pa.array(start, type=TS),
            pa.array(ended, type=TS),
            CHANNEL_VOCAB.take(pa.array(voice.astype(np.int64))),
            JOURNEY_VOCAB.take(pa.array(journey)),
            _customer_refs(customer, plan.seed),
            AGENT_IDS.take(nullable_codes(agent)),
            segments,
            OUTCOME_VOCAB.take(pa.array(outcome)),
            pa.array(csat, from_pandas=True),
            pa.array(handle, type=pa.float64()),
            pa.array(np.round(cost, 4), type=pa.float64()),
            pa.array(ai_used, type=pa.bool_()),
            attributes,
            pa.array(n_turns, type=pa.int32()),
            pa.array(np.arange(n), type=pa.int64()),
        ],
        schema=with_locators(INTERACTIONS, pos=False),
    )


def turns_table(
    deployment: str,
    ids: pa.ChunkedArray,
    rows: np.ndarray,
    pos: np.ndarray,
    ts: np.ndarray,
    role: np.ndarray,
    text: np.ndarray,
    *,
    intent: pa.Array,
    confidence: pa.Array,
    fallback: pa.Array,
    latency: pa.Array,
    error: pa.Array,
    model: pa.Array,
    tokens_in: pa.Array,
    tokens_out: pa.Array,
    cost: pa.Array,
) -> pa.Table:
    """The turns of one deployment-day: ``rows`` are their interactions' row numbers."""
    seq = pa.array(pos, type=pa.int32())
    return pa.Table.from_arrays(
        [
            ids.take(pa.array(rows)),
            pa.repeat(pa.scalar(deployment), len(rows)),
            seq,
            pa.array(ts, type=TS),
            ROLE_VOCAB.take(pa.array(role)),
            lexicon().texts.take(pa.array(text)),
            intent,
            confidence,
            fallback,
            latency,
            error,
            model,
            tokens_in,
            tokens_out,
            cost,
            pa.nulls(len(rows), pa.string()),
            pa.array(rows, type=pa.int64()),
            seq,
        ],
        schema=with_locators(TURNS, pos=True),
    )


def keep_delivered(batch: Batch, delivered: np.ndarray) -> Batch:
    """The batch with only the delivered interactions (``_record`` is the row number here)."""
    if delivered.all():
        return batch
    return take_records(batch, np.flatnonzero(delivered))


def take_records(batch: Batch, records: np.ndarray) -> Batch:
    """The batch with only ``records``, each whole (interaction, turns and assist events)."""
    wanted = pa.array(records, type=pa.int64())

    def keep(table: pa.Table) -> pa.Table:
        return table.filter(pc.is_in(table["_record"], value_set=wanted))

    return Batch(keep(batch.interactions), keep(batch.turns), keep(batch.assist_events))


def concat(parts: list[Batch]) -> Batch:
    """The parts as one batch, ``_record`` shifted so it stays unique within it."""
    tables: dict[str, list[pa.Table]] = {"interactions": [], "turns": [], "assist_events": []}
    shift = 0
    for part in parts:
        if not part.n_records:
            continue
        for name in tables:
            table: pa.Table = getattr(part, name)
            i = table.schema.get_field_index("_record")
            moved = pc.add(table["_record"], pa.scalar(shift, pa.int64()))
            tables[name].append(table.set_column(i, table.schema.field(i), moved))
        shift += int(pc.max(part.interactions["_record"]).as_py()) + 1
    if not tables["interactions"]:
        return Batch.empty()
    return Batch(
        interactions=pa.concat_tables(tables["interactions"]),
        turns=pa.concat_tables(tables["turns"]),
        assist_events=pa.concat_tables(tables["assist_events"]),
    )
