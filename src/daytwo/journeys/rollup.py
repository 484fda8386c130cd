"""Exact daily counts behind a journey's page, kept in the engine like the metric rollups.

A journey's page shows its outcome funnel, the turn positions where its conversations first
fell back or reached an agent, and the intents of its fallback answers. Counted from the raw
rows these read every conversation of the range (and, for the intents, join the turns with
their conversations): at ten million turns, seconds on ClickHouse. The engine keeps them as two
derived tables (see :mod:`daytwo.store.events.derived`), per deployment × day × journey ×
channel, recomputed for every day a write touches; a page sums a few hundred rows.

- ``journey_funnel``: conversations, answered by the AI, answered without a fallback, and the
  count of each outcome;
- ``journey_counts``: how many conversations first fell back / first reached an agent at each
  turn position (``kind`` the column), and how many fallback answers carried each intent
  (``kind`` ``intent``).
"""

# SQL here is built from module constants, never user input.
# ruff: noqa: S608

from __future__ import annotations

from daytwo.store.events.derived import REFRESH_DAYS, DerivedTable, register

FUNNEL = "journey_funnel"
COUNTS = "journey_counts"
OUTCOME_ORDER = ("contained", "resolved_by_agent", "escalated", "transferred", "abandoned")
POSITION_COLUMNS = ("first_fallback_seq", "first_agent_seq")
INTENT = "intent"

_DAYS = (
    f"SEMI JOIN {REFRESH_DAYS} d ON i.deployment = d.deployment "
    "AND CAST(i.started_at AS DATE) = d.day"
)
_KEYS = "i.deployment, CAST(i.started_at AS DATE) AS day, i.journey, i.channel"

FUNNEL_COLUMNS = (
    "conversations",
    "answered",
    "understood",
    *OUTCOME_ORDER,
    "unknown",
)

_funnel_select = (
    f"SELECT {_KEYS}, count(*), count_if(n_assistant_turns > 0), "
    "count_if(n_assistant_turns > 0 AND n_fallback_turns = 0), "
    + ", ".join(f"count_if(outcome = '{o}')" for o in OUTCOME_ORDER)
    + f", count_if(outcome IS NULL) FROM interactions i {_DAYS} GROUP BY 1, 2, 3, 4"
)

_counts_select = " UNION ALL ".join(
    [
        *(
            f"SELECT {_KEYS}, '{column}' AS kind, CAST({column} AS BIGINT) AS position, "
            f"CAST(NULL AS VARCHAR) AS intent, count(*) AS n FROM interactions i {_DAYS} "
            f"WHERE {column} IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7"
            for column in POSITION_COLUMNS
        ),
        f"SELECT {_KEYS}, '{INTENT}' AS kind, CAST(NULL AS BIGINT) AS position, "
        "coalesce(t.intent, '(none)') AS intent, count(*) AS n FROM turns t JOIN interactions i "
        f"ON i.deployment = t.deployment AND i.interaction_id = t.interaction_id {_DAYS} "
        "WHERE t.fallback AND t.role = 'assistant' GROUP BY 1, 2, 3, 4, 5, 6, 7",
    ]
)

_KEY_COLUMNS = "deployment VARCHAR NOT NULL, day DATE NOT NULL, journey VARCHAR, channel VARCHAR"

TABLES: tuple[DerivedTable, ...] = (
    register(
        DerivedTable(
            FUNNEL,
            f"{_KEY_COLUMNS}, " + ", ".join(f'"{c}" BIGINT' for c in FUNNEL_COLUMNS),
            _funnel_select,
        )
    ),
    register(
        DerivedTable(
            COUNTS,
            f"{_KEY_COLUMNS}, kind VARCHAR NOT NULL, position BIGINT, intent VARCHAR, n BIGINT",
            _counts_select,
        )
    ),
)
