"""Staged turns: pieces of conversations that arrive over many requests, kept until they end.

A door whose records are fragments of a conversation (OpenTelemetry spans: one model call, one
tool call) cannot write an interaction when a fragment arrives: the rest of the conversation
comes later, in other requests, out of order, sometimes twice. It stages each fragment's turns
here instead, already checked and PII-redacted, in the same durable store as the events; when
the conversation has ended, the door assembles every staged piece into one interaction and
writes it through :meth:`EventStore.write`, then removes the pieces it used.

Each staged row is one turn (or, with ``role`` null, one fragment's facts about its
conversation, such as the customer or the outcome), keyed by ``(deployment, conversation,
span_id, part)``: a piece sent twice is the same key, so the assembler keeps one copy.
"""

# The table name in SQL here is a module constant, never input.
# ruff: noqa: S608

from __future__ import annotations

import pyarrow as pa

from daytwo.interactions.columns import TS, TURNS

STAGED_TURNS = "staged_turns"
# The audit counts of accepted trace requests, written in the transaction that stages their
# rows and folded into the ledger's audit log afterwards (see daytwo.governance.audit.fold):
# an acknowledged request needs no ledger write of its own before its answer.
STAGED_AUDIT = "staged_audit"
STAGED_AUDIT_IDS = "staged_audit_ids"

STAGED_AUDIT_SCHEMA = pa.schema(
    [
        # Increasing across the store's life, and past any earlier store's (a sequence that
        # starts at the store's creation time in microseconds): the ledger records the last
        # id it folded, so a fold interrupted after the ledger's commit is not folded twice.
        pa.field("id", pa.int64(), nullable=False),
        pa.field("staged_at", TS, nullable=False),
        pa.field("actor", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        ("deployment", pa.string()),
        ("ip", pa.string()),
        pa.field("status", pa.int32(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("requests", pa.int64(), nullable=False),
    ]
)

STAGED = pa.schema(
    [
        pa.field("deployment", pa.string(), nullable=False),
        pa.field("conversation", pa.string(), nullable=False),
        # Whether the conversation key was sent (a conversation or session id) or is the
        # trace id it fell back to.
        pa.field("keyed", pa.bool_(), nullable=False),
        pa.field("trace_id", pa.string(), nullable=False),
        pa.field("span_id", pa.string(), nullable=False),
        pa.field("part", pa.int32(), nullable=False),
        # llm | tool | chain | meta: which kind of span the row came from.
        pa.field("source", pa.string(), nullable=False),
        pa.field("span_start", TS, nullable=False),
        pa.field("span_end", TS, nullable=False),
        pa.field("received_at", TS, nullable=False),
        # The turn, in the canonical turn columns.
        *(TURNS.field(name) for name in TURNS.names[3:]),
        # A tool call's id: the same call seen as a tool span and as a tool message is one turn.
        ("call_id", pa.string()),
        # For a message a model call was given: its position in the call's input. A call that
        # is retried (or followed by another) after a failure repeats the messages that got no
        # answer at the same positions; they are one turn.
        ("input_index", pa.int32()),
        ("tool_name", pa.string()),
        # Facts about the conversation that any of its fragments may carry.
        ("customer_ref", pa.string()),
        ("channel", pa.string()),
        ("journey", pa.string()),
        ("outcome", pa.string()),
        ("segments", pa.string()),  # JSON object
        ("scores", pa.string()),  # JSON object: evaluation name -> score
    ]
)

# The conversations whose last piece ended before ``?`` (event time) and arrived before ``?``
# (server time): ended, by the door's idle rule.
ENDED_SQL = f"""
SELECT deployment, conversation
FROM {STAGED_TURNS}
GROUP BY deployment, conversation
HAVING max(span_end) <= ? AND max(received_at) <= ?
ORDER BY min(received_at)
LIMIT ?
"""

STATS_SQL = f"""
SELECT count(*) AS rows, count(DISTINCT (deployment, conversation)) AS conversations,
       min(received_at) AS oldest
FROM {STAGED_TURNS}
"""
