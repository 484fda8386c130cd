"""A per-conversation text table for fast search, kept exact like the metric rollups.

One row per conversation: its start and the lower-cased text of all its turns, ordered by time
so that a search over recent days reads only those days. Maintained as a derived table (see
:mod:`daytwo.store.events.derived`): recomputed for every day a write touches, before it is read.
"""

from __future__ import annotations

from daytwo.store.events.derived import REFRESH_DAYS, DerivedTable, register

CONVERSATION_TEXT = "conversation_text"
# Turns are joined with this separator; a search containing it reads the raw turns instead.
SEPARATOR = "\n"

TABLE = register(
    DerivedTable(
        CONVERSATION_TEXT,
        "deployment VARCHAR NOT NULL, day DATE NOT NULL, started_at TIMESTAMPTZ NOT NULL, "
        "interaction_id VARCHAR NOT NULL, text VARCHAR",
        "SELECT i.deployment, CAST(i.started_at AS DATE) AS day, i.started_at, "  # noqa: S608
        "i.interaction_id, lower(string_agg(t.text, chr(10) ORDER BY t.seq)) AS text "
        "FROM turns t JOIN interactions i ON i.deployment = t.deployment "
        f"AND i.interaction_id = t.interaction_id SEMI JOIN {REFRESH_DAYS} d "
        "ON i.deployment = d.deployment AND CAST(i.started_at AS DATE) = d.day "
        "WHERE t.text IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 3",
        raw_text=True,
    )
)
