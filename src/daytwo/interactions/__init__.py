"""The canonical interaction schema: the wire format and its columnar (Arrow) form. No I/O."""

from daytwo.interactions.columns import (
    ASSIST_ACTIONS,
    ASSIST_EVENTS,
    INTERACTIONS,
    OUTCOMES,
    ROLES,
    TURNS,
    Batch,
    batch_from_wire,
    concat_batches,
)
from daytwo.interactions.validate import drop_records, validate_batch
from daytwo.interactions.wire import AssistEventIn, InteractionIn, TurnIn

__all__ = [
    "ASSIST_ACTIONS",
    "ASSIST_EVENTS",
    "INTERACTIONS",
    "OUTCOMES",
    "ROLES",
    "TURNS",
    "AssistEventIn",
    "Batch",
    "InteractionIn",
    "TurnIn",
    "batch_from_wire",
    "concat_batches",
    "drop_records",
    "validate_batch",
]
