"""The adoption detectors' inputs, built from an analysis's Arrow tables (no database).

An analysis hands the detectors its interactions (with their facts and segment columns), the
turns they asked for and, for the adoption detectors, the assist events. This module turns
them into the per-agent shapes the estimators take: per agent and day, per agent, day and
feature, and the suggestion pairs the workaround signals read (a suggestion's text with what
the agent did and the message they sent next).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cells import segment_column
from daytwo.interactions.facts import flag_array

SUGGESTED_REPLY = "suggested_reply"
_EPOCH = date(1970, 1, 1)


def _num(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.cast(values, pa.float64()), 0.0), dtype=np.float64)


def days_of(ts: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The UTC date of each timestamp."""
    return pc.cast(pc.cast(ts, pa.timestamp("us", tz="UTC")), pa.date32())


def agent_days(interactions: pa.Table) -> pa.Table:
    """Per agent and day: where they sat (their latest conversation's segments) and their
    conversations, suggestions shown and used, and conversations with the AI used."""
    t = interactions.filter(pc.is_valid(interactions["agent_ref"]))
    t = t.sort_by([("started_at", "ascending")])
    shown = _num(t["n_assist_shown"])
    used = np.minimum(_num(t["n_assist_accepted"]) + _num(t["n_assist_edited"]), shown)
    ai = t["ai_used"]
    frame = pa.table(
        {
            "agent_ref": t["agent_ref"],
            "day": days_of(t["started_at"]),
            "site": segment_column(t, "site"),
            "team": segment_column(t, "team"),
            "tenure": segment_column(t, "tenure"),
            "cohort": segment_column(t, "cohort"),
            "conversations": pa.array(np.ones(t.num_rows)),
            "shown": pa.array(shown),
            "used": pa.array(used),
            "ai_used": pa.array(flag_array(ai).astype(np.float64)),
            "ai_known": pa.array(flag_array(pc.is_valid(ai)).astype(np.float64)),
        }
    )
    sums = ["conversations", "shown", "used", "ai_used", "ai_known"]
    grouped = frame.group_by(["agent_ref", "day"], use_threads=False).aggregate(
        [(c, "sum") for c in sums] + [(k, "last") for k in ("site", "team", "tenure", "cohort")]
    )
    return grouped.rename_columns(
        [n.removesuffix("_sum").removesuffix("_last") for n in grouped.column_names]
    )


def _rows_of(interactions: pa.Table, ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """For each id, its row in ``interactions`` (-1 where it is not there)."""
    found = pc.index_in(ids, value_set=interactions["interaction_id"].combine_chunks())
    return np.asarray(pc.fill_null(found, -1), dtype=np.int64)


def feature_days(interactions: pa.Table, assist: pa.Table) -> pa.Table:
    """Per agent, day (of the conversation) and feature: suggestions shown and used."""
    rows = _rows_of(interactions, assist["interaction_id"])
    keep = rows >= 0
    rows = rows[keep]
    a = assist.filter(pa.array(keep))
    agent = pc.coalesce(a["agent_ref"], interactions["agent_ref"].take(pa.array(rows)))
    action = a["action"]
    frame = pa.table(
        {
            "agent_ref": agent,
            "day": days_of(interactions["started_at"].take(pa.array(rows))),
            "feature": a["feature"],
            "shown": pa.array(flag_array(pc.equal(action, "shown")).astype(np.float64)),
            "used": pa.array(
                flag_array(pc.is_in(action, pa.array(["accepted", "edited"]))).astype(np.float64)
            ),
        }
    ).filter(pc.and_(pc.is_valid(agent), pc.is_valid(a["feature"])))
    grouped = frame.group_by(["agent_ref", "day", "feature"], use_threads=False).aggregate(
        [("shown", "sum"), ("used", "sum")]
    )
    return grouped.rename_columns([n.removesuffix("_sum") for n in grouped.column_names])


@dataclass(frozen=True, slots=True)
class Suggestions:
    """Suggestions acted on, each with the suggestion's text and the agent's next message."""

    interaction_id: np.ndarray  # object
    agent_ref: np.ndarray  # object
    action: np.ndarray  # object: dismissed | accepted | edited
    suggestion: list[str | None]
    next_message: list[str | None]


@lru_cache(maxsize=1 << 16)
def _suggestion_text(attributes: str | None) -> str | None:
    """The ``text`` attribute of an event's attributes (JSON), remembered: every look of an
    analysis reads the same events again."""
    if not attributes:
        return None
    try:
        value = orjson.loads(attributes).get("text")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def suggestions(
    interactions: pa.Table,
    assist: pa.Table,
    turns: pa.Table,
    start: datetime,
    end: datetime,
    feature: str = SUGGESTED_REPLY,
) -> Suggestions:
    """The ``feature`` suggestions dismissed, accepted or edited in conversations started in
    ``[start, end)``, with their text (from the ``text`` attribute of the event or of the
    ``shown`` event before it) and the next message the agent sent in that conversation at or
    after the action."""
    rows = _rows_of(interactions, assist["interaction_id"])
    started = interactions["started_at"].take(pa.array(np.maximum(rows, 0)))
    in_window = (
        (rows >= 0)
        & flag_array(pc.greater_equal(started, pa.scalar(start)))
        & flag_array(pc.less(started, pa.scalar(end)))
        & flag_array(pc.equal(assist["feature"], feature))
    )
    a = assist.filter(pa.array(in_window)).sort_by(
        [("interaction_id", "ascending"), ("seq", "ascending")]
    )
    ids = a["interaction_id"].to_numpy(zero_copy_only=False)
    actions = a["action"].to_numpy(zero_copy_only=False)
    attrs = a["attributes"].to_pylist()
    # The text of each event: its own, else the last shown event's before it in the conversation.
    text: list[str | None] = [None] * len(ids)
    last: str | None = None
    for i in range(len(ids)):
        if i == 0 or ids[i] != ids[i - 1]:
            last = None
        own = _suggestion_text(attrs[i]) if attrs[i] else None
        if actions[i] == "shown":
            last = own
        text[i] = own or last
    acted = np.flatnonzero(np.isin(actions, ["dismissed", "accepted", "edited"]))
    nxt = _next_agent_message(turns, ids[acted], a["ts"].take(pa.array(acted)))
    agent = a["agent_ref"].take(pa.array(acted))
    own_agent = interactions["agent_ref"].take(
        pa.array(_rows_of(interactions, a["interaction_id"].take(pa.array(acted))))
    )
    return Suggestions(
        interaction_id=ids[acted],
        agent_ref=pc.coalesce(agent, own_agent).to_numpy(zero_copy_only=False),
        action=actions[acted],
        suggestion=[text[i] for i in acted],
        next_message=nxt,
    )


def _next_agent_message(
    turns: pa.Table, ids: np.ndarray, at: pa.ChunkedArray | pa.Array
) -> list[str | None]:
    """For each (interaction, time), the first agent message of that interaction at or after
    that time; None where there is none (or the turns carry no text)."""
    if not len(ids) or "text" not in turns.column_names or "role" not in turns.column_names:
        return [None] * len(ids)
    agent = turns.filter(pc.equal(turns["role"], "agent"))
    t_ids = agent["interaction_id"].to_numpy(zero_copy_only=False)
    t_ts = np.asarray(pc.cast(agent["ts"], pa.int64()).fill_null(np.iinfo(np.int64).max))
    e_ts = np.asarray(pc.cast(at, pa.int64()).fill_null(np.iinfo(np.int64).max))
    # One key over (interaction, time): interactions numbered (in order of appearance: only
    # equal numbers matter), times ranked jointly.
    both = pa.concat_arrays([pa.array(t_ids, pa.string()), pa.array(ids, pa.string())])
    inv = np.asarray(pc.dictionary_encode(both).indices, dtype=np.int64)
    t_code, e_code = inv[: len(t_ids)], inv[len(t_ids) :]
    _, rank = np.unique(np.concatenate([t_ts, e_ts]), return_inverse=True)
    span = int(rank.max()) + 1 if len(rank) else 1
    t_key = t_code.astype(np.int64) * span + rank[: len(t_ts)]
    e_key = e_code.astype(np.int64) * span + rank[len(t_ts) :]
    order = np.argsort(t_key, kind="stable")
    pos = np.searchsorted(t_key[order], e_key, side="left")
    texts = agent["text"].to_pylist()
    out: list[str | None] = []
    for p, code in zip(pos, e_code, strict=True):
        if p < len(order) and t_code[order[p]] == code:
            out.append(texts[order[p]])
        else:
            out.append(None)
    return out


def first_offer(interactions: pa.Table, assist: pa.Table) -> dict[str, int]:
    """Each agent's first conversation start with a suggestion shown (µs since the epoch)."""
    shown = assist.filter(pc.equal(assist["action"], "shown"))
    rows = _rows_of(interactions, shown["interaction_id"])
    rows = rows[rows >= 0]
    t = interactions.take(pa.array(rows)).select(["agent_ref", "started_at"])
    t = t.filter(pc.is_valid(t["agent_ref"]))
    firsts = t.group_by("agent_ref").aggregate([("started_at", "min")])
    return {
        str(a): int(v)
        for a, v in zip(
            firsts["agent_ref"].to_pylist(),
            pc.cast(firsts["started_at_min"], pa.int64()).to_pylist(),
            strict=True,
        )
    }
