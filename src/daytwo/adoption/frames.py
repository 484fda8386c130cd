"""The adoption detectors' inputs: per agent and day, per agent, day and feature, each agent's
first offer, and the suggestion pairs the workaround signals read (a suggestion's text with
what the agent did and the message they sent next).

An analysis hands the detectors its interactions (with their facts and segment columns) and
the turns they asked for. What comes from the assist events, a dozen rows per conversation, is
computed by the events engine (:class:`~daytwo.detect.data.EngineRead`: :data:`FEATURE_DAYS`,
:data:`FIRST_OFFERS`, :data:`SUGGESTION_EVENTS`), so the analysis never holds those raw rows;
each read has its twin over Arrow rows here (``*_from_rows``), which hand-built golden cases
use and the equality tests hold the engine's answers to.
"""

# SQL here is built from module constants, never from user input.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache, partial

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cells import segment_column
from daytwo.detect.data import INTERACTIONS_OF_SPAN, AnalysisData, EngineRead, Memo, day_runs
from daytwo.interactions.facts import flag_array
from daytwo.store.events.columns import column_us

SUGGESTED_REPLY = "suggested_reply"
# The days the workaround signals judge (the last of the analysis; its suggestion events
# read covers them).
SUGGESTION_DAYS = 14
_USED = ("accepted", "edited")
_ACTED = ("dismissed", "accepted", "edited")


def _sql_in(values: tuple[str, ...]) -> str:
    """Constant words as an SQL list, ``('a', 'b')``: a tuple's own text would read ``('a',)``
    for one word, which no SQL accepts."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


_EPOCH = date(1970, 1, 1)


def _num(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.cast(values, pa.float64()), 0.0), dtype=np.float64)


def days_of(ts: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The UTC date of each timestamp."""
    return pc.cast(pc.cast(ts, pa.timestamp("us", tz="UTC")), pa.date32())


def agent_days(interactions: pa.Table, memo: Memo | None = None) -> pa.Table:
    """Per agent and day: where they sat (their latest conversation's segments) and their
    conversations, suggestions shown and used, and conversations with the AI used.

    With ``memo`` (the look was cut out of a read of several looks), each day's rows are
    computed once for every look that holds the same rows of that day: the rows of one day
    are grouped on their own, in the same order, so each row is the same to the bit (the
    rows' order is the grouping's either way, which promises none: readers sort or sum)."""
    t = interactions.filter(pc.is_valid(interactions["agent_ref"]))
    t = t.sort_by([("started_at", "ascending")])
    if memo is None or not t.num_rows:
        return _agent_days(t)
    started = column_us(t["started_at"])
    parts = []
    for day, a, n in day_runs(started):
        rows = t.slice(a, n)
        # A look holds the read's rows of a span of time, so its rows of a day are those of
        # the read that started from the first of them to the last: those two starts name
        # them (and the count, for good measure).
        key = ("adoption.agent_days", day, int(started[a]), int(started[a + n - 1]), n)
        parts.append(memo.get(key, partial(_agent_days, rows)))
    return pa.concat_tables(parts).combine_chunks()


def _agent_days(t: pa.Table) -> pa.Table:
    """:func:`agent_days` of rows ordered by their start, each with an agent."""
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


def feature_days(read: pa.Table) -> pa.Table:
    """Per agent, day (of the conversation) and feature: suggestions shown and used, from
    :data:`FEATURE_DAYS` (the events without an agent or a feature left out)."""
    return read.filter(pc.and_(pc.is_valid(read["agent_ref"]), pc.is_valid(read["feature"])))


def _feature_days_from_rows(data: AnalysisData) -> pa.Table:
    interactions, assist = data.interactions, data.assist_events
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
            "used": pa.array(flag_array(pc.is_in(action, pa.array(_USED))).astype(np.float64)),
        }
    )
    grouped = frame.group_by(["agent_ref", "day", "feature"], use_threads=False).aggregate(
        [("shown", "sum"), ("used", "sum")]
    )
    return grouped.rename_columns([n.removesuffix("_sum") for n in grouped.column_names])


FEATURE_DAYS = EngineRead(
    "adoption_feature_days",
    "SELECT agent_ref, day, feature, CAST(sum(is_shown) AS DOUBLE) AS shown, "
    "CAST(sum(is_used) AS DOUBLE) AS used FROM (SELECT coalesce(a.agent_ref, i.agent_ref) "
    "AS agent_ref, CAST(i.started_at AS DATE) AS day, a.feature AS feature, "
    "CASE WHEN a.action = 'shown' THEN 1 ELSE 0 END AS is_shown, "
    f"CASE WHEN a.action IN {_sql_in(_USED)} THEN 1 ELSE 0 END AS is_used "
    f"FROM assist_events a JOIN {INTERACTIONS_OF_SPAN} i ON a.interaction_id = i.interaction_id "
    "WHERE a.deployment = ?) e GROUP BY agent_ref, day, feature",
    "day",
    _feature_days_from_rows,
)
"""Per agent (the event's, else the conversation's), UTC day of the conversation's start and
feature: suggestions shown and used, as floats; every assist event of the analysed
conversations counted, those without an agent or a feature under a null key."""


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
    read: pa.Table,
    start: datetime,
    end: datetime,
    memo: Memo | None = None,
) -> Suggestions:
    """The suggested replies dismissed, accepted or edited in conversations started in
    ``[start, end)`` (of :data:`SUGGESTION_EVENTS`), with their text (from the ``text``
    attribute of the event, else of the ``shown`` event before it) and the next message the
    agent sent in that conversation at or after the action (the read's ``next_message``).

    With ``memo`` (the look was cut out of a read of several looks), the suggestions of each
    day's conversations have their texts worked out once for every look that holds the same
    rows of that day. The days' rows are then ordered as the read alone orders them, so the
    answer is the same to the row."""
    started = read["started_at"]
    inside = pc.and_(pc.greater_equal(started, pa.scalar(start)), pc.less(started, pa.scalar(end)))
    if memo is None:
        return _as_suggestions(_suggestion_pairs(_by_event(read.filter(inside))))
    rows = np.flatnonzero(pc.fill_null(inside, False).to_numpy(zero_copy_only=False))
    if not len(rows):
        return _as_suggestions(_suggestion_pairs(_by_event(read.filter(inside))))
    # The rows inside, by their start; stable, so within a day they keep the read's order (as
    # Arrow's stable sort of the filtered read orders them). Only a day the memo does not
    # hold yet is taken out of the read (its text columns copied).
    at_all = column_us(started, null=0)
    order = rows[np.argsort(at_all[rows], kind="stable")]
    at = at_all[order]
    parts = []
    for day, first, n in day_runs(at):
        # A look holds the read's rows of a span of time: the first and last start of its
        # rows of a day name them (as in :func:`agent_days`).
        key = ("adoption.suggestions", day, int(at[first]), int(at[first + n - 1]), n)
        parts.append(memo.get(key, partial(_pairs_of_rows, read, order[first : first + n])))
    return _as_suggestions(_by_event(pa.concat_tables(parts)))


def _pairs_of_rows(read: pa.Table, rows: np.ndarray) -> pa.Table:
    """:func:`_suggestion_pairs` of the read's rows at ``rows`` (positions, in that order)."""
    return _suggestion_pairs(read.take(pa.array(rows)))


def _by_event(table: pa.Table) -> pa.Table:
    return table.sort_by([("interaction_id", "ascending"), ("seq", "ascending")])


def _suggestion_pairs(a: pa.Table) -> pa.Table:
    """Rows of :data:`SUGGESTION_EVENTS` as the suggestions' columns: each event's id, seq,
    agent and action with the suggestion's text and the agent's next message."""
    text = [
        _suggestion_text(own) or _suggestion_text(shown)
        for own, shown in zip(
            a["attributes"].to_pylist(), a["shown_attributes"].to_pylist(), strict=True
        )
    ]
    return pa.table(
        {
            "interaction_id": a["interaction_id"],
            "seq": a["seq"],
            "agent_ref": a["agent_ref"],
            "action": a["action"],
            "suggestion": pa.array(text, pa.string()),
            "next_message": pc.cast(a["next_message"], pa.string()),
        }
    )


def _as_suggestions(t: pa.Table) -> Suggestions:
    return Suggestions(
        interaction_id=t["interaction_id"].to_numpy(zero_copy_only=False),
        agent_ref=t["agent_ref"].to_numpy(zero_copy_only=False),
        action=t["action"].to_numpy(zero_copy_only=False),
        suggestion=t["suggestion"].to_pylist(),
        next_message=t["next_message"].to_pylist(),
    )


def _suggestion_events_from_rows(data: AnalysisData) -> pa.Table:
    interactions, assist = data.interactions, data.assist_events
    end = data.window.current_end
    rows = _rows_of(interactions, assist["interaction_id"])
    started = interactions["started_at"].take(pa.array(np.maximum(rows, 0)))
    in_span = (
        (rows >= 0)
        & flag_array(pc.greater_equal(started, pa.scalar(end - timedelta(SUGGESTION_DAYS))))
        & flag_array(pc.less(started, pa.scalar(end)))
        & flag_array(pc.equal(assist["feature"], SUGGESTED_REPLY))
    )
    a = assist.filter(pa.array(in_span)).sort_by(
        [("interaction_id", "ascending"), ("seq", "ascending")]
    )
    ids = a["interaction_id"].to_numpy(zero_copy_only=False)
    actions = a["action"].to_numpy(zero_copy_only=False)
    attrs = a["attributes"].to_pylist()
    # The attributes of the last shown event before each event in its conversation.
    shown: list[str | None] = [None] * len(ids)
    last: str | None = None
    for i in range(len(ids)):
        if i == 0 or ids[i] != ids[i - 1]:
            last = None
        shown[i] = last
        if actions[i] == "shown":
            last = attrs[i] or ""
    acted = np.flatnonzero(np.isin(actions, _ACTED))
    take = pa.array(acted, pa.int64())
    rows_acted = pa.array(_rows_of(interactions, a["interaction_id"].take(take)))
    acted_ids = ids[acted]
    next_message = _next_agent_message(data.turns, acted_ids, a["ts"].take(take))
    return pa.table(
        {
            "interaction_id": a["interaction_id"].take(take),
            "seq": a["seq"].take(take),
            "ts": a["ts"].take(take),
            "agent_ref": pc.coalesce(
                a["agent_ref"].take(take), interactions["agent_ref"].take(rows_acted)
            ),
            "action": a["action"].take(take),
            "attributes": a["attributes"].take(take),
            "shown_attributes": pa.array([shown[i] for i in acted], pa.string()),
            "started_at": interactions["started_at"].take(rows_acted),
            "next_message": pa.array(next_message, pa.string()),
        }
    )


# The suggested replies acted on (dismissed, accepted, edited) of the span's conversations,
# each with the attributes of the last ``shown`` event before it.
_ACTED_EVENTS = (
    "SELECT interaction_id, seq, ts, agent_ref, action, attributes, shown_attributes, "
    "started_at FROM (SELECT a.interaction_id AS interaction_id, a.seq AS seq, a.ts AS ts, "
    "coalesce(a.agent_ref, i.agent_ref) AS agent_ref, a.action AS action, "
    "a.attributes AS attributes, last_value(CASE WHEN a.action = 'shown' THEN "
    "coalesce(a.attributes, '') END IGNORE NULLS) OVER (PARTITION BY a.interaction_id "
    "ORDER BY a.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS shown_attributes, "
    f"i.started_at AS started_at FROM assist_events a JOIN {INTERACTIONS_OF_SPAN} i "
    "ON a.interaction_id = i.interaction_id WHERE a.deployment = ? "
    f"AND a.feature = '{SUGGESTED_REPLY}') e WHERE action IN {_sql_in(_ACTED)}"
)
# Each such event's next message: the first agent turn of its conversation at or after it (a
# turn or an event without a time counts as after every time, as in
# :func:`_next_agent_message`), the earliest, then the lowest ``seq``; its text, null or not.
_NEXT_MESSAGES = (
    "SELECT interaction_id, seq, text FROM (SELECT e.interaction_id AS interaction_id, "
    "e.seq AS seq, t.text AS text, row_number() OVER (PARTITION BY e.interaction_id, e.seq "
    "ORDER BY CASE WHEN t.ts IS NULL THEN 1 ELSE 0 END, t.ts, t.seq) AS r "
    "FROM e JOIN turns t ON t.interaction_id = e.interaction_id "
    "WHERE t.deployment = ? AND t.role = 'agent' AND ((e.ts IS NULL AND t.ts IS NULL) "
    "OR (e.ts IS NOT NULL AND (t.ts IS NULL OR t.ts >= e.ts)))) x WHERE r = 1"
)


SUGGESTION_EVENTS = EngineRead(
    "adoption_suggestion_events",
    f"WITH e AS MATERIALIZED ({_ACTED_EVENTS}), n AS MATERIALIZED ({_NEXT_MESSAGES}) "
    "SELECT e.interaction_id AS interaction_id, e.seq AS seq, e.ts AS ts, "
    "e.agent_ref AS agent_ref, e.action AS action, e.attributes AS attributes, "
    "e.shown_attributes AS shown_attributes, e.started_at AS started_at, "
    "n.text AS next_message FROM e LEFT JOIN n ON n.interaction_id = e.interaction_id "
    "AND n.seq = e.seq ORDER BY interaction_id, seq",
    "started_at",
    _suggestion_events_from_rows,
    days=SUGGESTION_DAYS,
)
"""The suggested replies dismissed, accepted or edited in the conversations of the last
:data:`SUGGESTION_DAYS` days: the event (its agent, else the conversation's), its attributes,
those of the last ``shown`` event before it in the conversation ('' where that one had
none; null where none was shown), the conversation's start, and the agent's next message
(the text of the first agent turn of the conversation at or after the event): the engine
pairs each suggestion with its message, so the analysis reads no turn for them."""


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
    found = pos < len(order)
    found[found] = t_code[order[pos[found]]] == e_code[found]
    # Only the messages found are taken out of Arrow, not every agent turn's text.
    rows = np.full(len(pos), -1, dtype=np.int64)
    rows[found] = order[pos[found]]
    taken = agent["text"].take(pa.array(rows, mask=~found)).to_pylist()
    return [text if hit else None for text, hit in zip(taken, found.tolist(), strict=True)]


def first_offer(read: pa.Table) -> dict[str, int]:
    """Each agent's first conversation start with a suggestion shown (µs since the epoch),
    from :data:`FIRST_OFFERS`."""
    out: dict[str, int] = {}
    at = pc.cast(pc.cast(read["first_at"], pa.timestamp("us", tz="UTC")), pa.int64())
    # The earliest per agent grouped in Arrow (the read has a row per agent and day), then
    # keyed by the agent's text (a null agent's is "None").
    firsts = (
        pa.table({"agent_ref": read["agent_ref"], "at": at})
        .group_by("agent_ref", use_threads=False)
        .aggregate([("at", "min")])
    )
    for a, v in zip(firsts["agent_ref"].to_pylist(), firsts["at_min"].to_pylist(), strict=True):
        out[str(a)] = min(int(v), out.get(str(a), int(v)))
    return out


def _first_offers_from_rows(data: AnalysisData) -> pa.Table:
    interactions, assist = data.interactions, data.assist_events
    shown = assist.filter(pc.equal(assist["action"], "shown"))
    rows = _rows_of(interactions, shown["interaction_id"])
    rows = rows[rows >= 0]
    t = interactions.take(pa.array(rows, pa.int64())).select(["agent_ref", "started_at"])
    t = t.filter(pc.is_valid(t["agent_ref"]))
    t = t.append_column("day", days_of(t["started_at"]))
    firsts = t.group_by(["agent_ref", "day"], use_threads=False).aggregate([("started_at", "min")])
    return firsts.rename_columns(
        ["first_at" if n == "started_at_min" else n for n in firsts.column_names]
    )


FIRST_OFFERS = EngineRead(
    "adoption_first_offers",
    "SELECT agent_ref, day, min(started_at) AS first_at FROM (SELECT i.agent_ref AS agent_ref, "
    "CAST(i.started_at AS DATE) AS day, i.started_at AS started_at FROM assist_events a "
    f"JOIN {INTERACTIONS_OF_SPAN} i ON a.interaction_id = i.interaction_id "
    "WHERE a.deployment = ? AND a.action = 'shown' AND i.agent_ref IS NOT NULL) s "
    "GROUP BY agent_ref, day",
    "day",
    _first_offers_from_rows,
)
"""Per agent (the conversation's) and UTC day: the first start of a conversation with a
suggestion shown."""
