"""Conversation search and transcripts over the events store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

import orjson

from daytwo.conversations.schemas import (
    AssistEvent,
    ConversationPage,
    ConversationRow,
    Transcript,
    Turn,
)
from daytwo.conversations.text_index import CONVERSATION_TEXT, SEPARATOR
from daytwo.errors import InputError, NotFoundError
from daytwo.metrics.catalog import get_metric
from daytwo.metrics.query import Slice, dimension_sql
from daytwo.store.events import EventStore

MAX_LIMIT = 500
RECENT_WINDOWS = (1, 7, 30)  # days read first by a text search, newest first
_ROW_COLUMNS = (
    "interaction_id, deployment, started_at, channel, journey, outcome, csat, handle_time_s, "
    "agent_ref, n_turns, n_fallback_turns, n_error_turns, segments"
)


def _where(
    s: Slice, metric: str | None, text: str | None, *, indexed: bool = False
) -> tuple[str, list[Any], str | None]:
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
        if indexed:
            # The text table: the conversation's turns, lower-cased, in one string.
            # The days too: the table is sorted by them, so the engine reads only those.
            sql += (
                f" AND interaction_id IN (SELECT interaction_id FROM {CONVERSATION_TEXT} "  # noqa: S608
                "WHERE deployment = ? AND day >= ? AND day <= ? "
                "AND started_at >= ? AND started_at < ? AND contains(text, lower(?)))"
            )
            days = [s.start.astimezone(UTC).date(), s.end.astimezone(UTC).date()]
            params.extend([s.deployment, *days, s.start, s.end, text])
            return sql, params, drill
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
    exact_total: bool = False,
) -> ConversationPage:
    """Conversations of the slice (newest first), optionally those behind a metric's number
    or containing ``text``.

    A text search over the text table reads the most recent days first and stops when the page
    is full; its ``total`` is then the count in the days read (``total_exact`` False) unless
    ``exact_total`` asks to count every match.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_LIMIT}.")
    if offset < 0:
        raise InputError("offset must not be negative.")
    if text and SEPARATOR not in text and events.derived_ready(CONVERSATION_TEXT):
        return _search_recent_first(events, s, metric, text, limit, offset, exact_total)
    where, params, drill = _where(s, metric, text)
    total = events.query(f"SELECT count(*) AS n FROM interactions WHERE {where}", params)  # noqa: S608
    rows = events.query(
        f"SELECT {_ROW_COLUMNS} FROM interactions WHERE {where} "  # noqa: S608
        "ORDER BY started_at DESC, interaction_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).to_pylist()
    return ConversationPage(
        items=_rows(rows), total=int(total["n"][0].as_py()), limit=limit, offset=offset, drill=drill
    )


def _rows(rows: list[dict[str, Any]]) -> list[ConversationRow]:
    return [
        ConversationRow(
            **{k: v for k, v in r.items() if k != "total"} | {"segments": dict(r["segments"] or [])}
        )
        for r in rows
    ]


def _search_recent_first(
    events: EventStore,
    s: Slice,
    metric: str | None,
    text: str,
    limit: int,
    offset: int,
    exact_total: bool,
) -> ConversationPage:
    """Text search over the text table, newest days first: the first window (the last day,
    then the last week, month, and the whole range) that fills the page answers, with the
    matches in that window as a lower bound of the total unless the window is the whole range
    or ``exact_total`` asks for the full count."""
    wanted = offset + limit
    drill: str | None = None
    rows: list[dict[str, Any]] = []
    for days in (None,) if exact_total else (*RECENT_WINDOWS, None):
        start = s.start if days is None else max(s.start, s.end - timedelta(days=days))
        where, params, drill = _where(replace(s, start=start), metric, text, indexed=True)
        rows = events.query(
            f"SELECT {_ROW_COLUMNS}, count(*) OVER () AS total FROM interactions "  # noqa: S608
            f"WHERE {where} ORDER BY started_at DESC, interaction_id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).to_pylist()
        if rows:
            found = int(rows[0]["total"])
        else:  # past the last match (or none): count them alone
            n = events.query(f"SELECT count(*) AS n FROM interactions WHERE {where}", params)  # noqa: S608
            found = int(n["n"][0].as_py())
        whole = start == s.start
        if whole or found > wanted:
            return ConversationPage(
                items=_rows(rows),
                total=found,
                total_exact=whole,
                limit=limit,
                offset=offset,
                drill=drill,
            )
    raise AssertionError("the last window is the whole range")  # pragma: no cover


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
