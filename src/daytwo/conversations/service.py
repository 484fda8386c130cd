"""Conversation search and transcripts over the events store."""

from __future__ import annotations

from typing import Any

import orjson

from daytwo.conversations.schemas import (
    AssistEvent,
    ConversationPage,
    ConversationRow,
    Transcript,
    Turn,
)
from daytwo.errors import InputError, NotFoundError
from daytwo.metrics.catalog import get_metric
from daytwo.metrics.query import Slice, dimension_sql
from daytwo.store.events import EventStore

MAX_LIMIT = 500
_ROW_COLUMNS = (
    "interaction_id, deployment, started_at, channel, journey, outcome, csat, handle_time_s, "
    "agent_ref, n_turns, n_fallback_turns, n_error_turns, segments"
)


def _where(s: Slice, metric: str | None, text: str | None) -> tuple[str, list[Any], str | None]:
    sql = "deployment = ? AND started_at >= ? AND started_at < ?"
    params: list[Any] = [s.deployment, s.start, s.end]
    for dim, values in s.filters:
        sql += f" AND {dimension_sql(dim)} IN ({', '.join('?' for _ in values)})"
        params.extend(values)
    drill = None
    if metric:
        m = get_metric(metric)
        drill = m.drill
        if drill:
            sql += f" AND ({drill})"
    if text:
        if len(text) > 200:
            raise InputError("The search text is longer than 200 characters.")
        # Case-insensitive substring over every turn of the conversation.
        sql += (
            " AND EXISTS (SELECT 1 FROM turns t WHERE t.deployment = interactions.deployment "
            "AND t.interaction_id = interactions.interaction_id AND t.text ILIKE ? ESCAPE '\\')"
        )
        params.append(f"%{_escape_like(text)}%")
    return sql, params, drill


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(
    events: EventStore,
    s: Slice,
    *,
    metric: str | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ConversationPage:
    """Conversations of the slice (newest first), optionally those behind a metric's number."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_LIMIT}.")
    if offset < 0:
        raise InputError("offset must not be negative.")
    where, params, drill = _where(s, metric, text)
    total = events.query(f"SELECT count(*) AS n FROM interactions WHERE {where}", params)  # noqa: S608
    rows = events.query(
        f"SELECT {_ROW_COLUMNS} FROM interactions WHERE {where} "  # noqa: S608
        "ORDER BY started_at DESC, interaction_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).to_pylist()
    items = [ConversationRow(**{**r, "segments": dict(r["segments"] or [])}) for r in rows]
    return ConversationPage(
        items=items, total=int(total["n"][0].as_py()), limit=limit, offset=offset, drill=drill
    )


def transcript(events: EventStore, deployment: str, interaction_id: str) -> Transcript:
    """One conversation with every turn and assist event, in order."""
    inter = events.query(
        "SELECT * FROM interactions WHERE deployment = ? AND interaction_id = ?",
        [deployment, interaction_id],
    ).to_pylist()
    if not inter:
        raise NotFoundError(f"No conversation {interaction_id!r} in deployment {deployment!r}.")
    row = inter[0]
    row["segments"] = dict(row["segments"] or [])
    row["attributes"] = orjson.loads(row["attributes"]) if row["attributes"] else None
    turns = events.query(
        "SELECT * EXCLUDE (deployment, interaction_id) FROM turns "
        "WHERE deployment = ? AND interaction_id = ? ORDER BY seq",
        [deployment, interaction_id],
    ).to_pylist()
    for t in turns:
        t["attributes"] = orjson.loads(t["attributes"]) if t["attributes"] else None
    assist = events.query(
        "SELECT seq, ts, agent_ref, feature, action FROM assist_events "
        "WHERE deployment = ? AND interaction_id = ? ORDER BY seq",
        [deployment, interaction_id],
    ).to_pylist()
    return Transcript(
        interaction=row,
        turns=[Turn(**t) for t in turns],
        assist_events=[AssistEvent(**a) for a in assist],
    )
